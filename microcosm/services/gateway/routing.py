"""Step 1, route: which service a public path belongs to, and where an instance of that service is.

The routing table maps a public path prefix to a service and the path it has there:

    Route("/api/orders", "orders", "/orders", {"GET": ["orders:read"], "POST": ["orders:write"]})

`/api/orders` and everything below it (`/api/orders/7`) go to the service `orders`, as `/orders` and
`/orders/7`. `methods` says, per method, who may call: `PUBLIC` (None) is anyone, a list of scopes needs a
valid token that carries them (`[]`: any valid token). A method not in the list is a 405. `owner=True` means
the first segment after the prefix must be the caller's own name (`/api/carts/ada/...` for ada only), and
`forward_token=True` passes the caller's token on too, for a service that verifies it itself.

The table is `DEFAULT_ROUTES` plus the routes in the config (`routes=[{"prefix", "service", "path",
"methods", ...}]`; a route with the prefix of a default one replaces it; `replace_routes=True` drops the
defaults). `/api/stock/<sku>` and `/api/product-page/<id>` are not plain routes: translation.py and
composition.py answer them.

Where a service is: `Upstreams` takes static URLs from the config (`upstreams={"orders": "http://..."}`),
else the service's instances in the registry (one `Discovery` per service, kept up to date by a long poll),
and hands them out in turn.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from ..base import UpstreamError

PUBLIC = None  # a method open to anyone; a list of scopes (maybe empty) means "a valid token with these"
ID_MAX = 2**62  # the largest id every service behind accepts (SQLite's INTEGER, legacy stock's sku): beyond it, 404


@dataclass
class Route:
    prefix: str  # the public path prefix, e.g. /api/orders (matches /api/orders and /api/orders/...)
    service: str  # the upstream's name in the registry (or in config upstreams)
    path: str  # what the prefix becomes at the upstream, e.g. /orders
    methods: dict  # method -> PUBLIC or [scopes]
    owner: bool = False  # the first path segment after the prefix must be the caller's own name (carts)
    summary: str = ""
    forward_token: bool = False  # also pass the caller's token on, for a service that verifies it itself


DEFAULT_ROUTES = [
    Route("/api/products", "catalog", "/products", {"GET": PUBLIC, "POST": ["catalog:write"]},
          summary="Products and prices (catalog). Anyone may read; adding one needs catalog:write."),
    Route("/api/orders", "orders", "/orders", {"GET": ["orders:read"], "POST": ["orders:write"]},
          summary="Orders. Reading needs orders:read, placing one orders:write."),
    Route("/api/carts", "carts", "/carts", {"GET": ["carts:read"], "PUT": ["carts:write"], "DELETE": ["carts:write"]},
          owner=True, summary="Shopping carts, each user only their own (/api/carts/<your username>/...)."),
]


def routes_from_config(config: dict) -> list[Route]:
    """The routing table: the default routes and the config's own, a config route replacing a default one."""
    routes = [] if config.get("replace_routes") else list(DEFAULT_ROUTES)
    for r in config.get("routes") or []:  # extra routes from config: {"prefix", "service", "path", "methods"}
        routes = [x for x in routes if x.prefix != r["prefix"]]
        routes.append(Route(r["prefix"], r["service"], r.get("path", "/"), dict(r["methods"]),
                            bool(r.get("owner", False)), r.get("summary", ""), bool(r.get("forward_token", False))))
    return routes


class RouteTable:
    """The routing table read by prefix: which route a path falls under, and the URL rule it falls under.

        table = RouteTable(routes)
        table.match(["api", "orders", "7"])   # -> (the /api/orders route, "/api/orders/<path:rest>")
        table.match(["api", "orders"])        # -> (the same route, "/api/orders")
        table.match(["api", "other"])         # -> None: not a plain route

    Each route gives the Flask app two URL rules (`url_rules`: its prefix, and everything below it, which
    proxy.py's views serve), and the asyncio front (front/plain.py) matches a path's segments here, a dict
    lookup per prefix length, rather than in the app's whole URL map. A prefix that is not a plain path
    (a trailing '/', an empty segment, a '<' or a '%') is left to the URL map (`plain` is False for it)."""

    def __init__(self, routes: list[Route]):
        self.routes = routes
        self.by_prefix: dict[tuple, Route] = {}
        for route in routes:
            parts = tuple(route.prefix.split("/")[1:])
            if route.prefix.startswith("/") and all(parts) and not any(c in route.prefix for c in "<%"):
                self.by_prefix[parts] = route
        self.lengths = sorted({len(parts) for parts in self.by_prefix}, reverse=True)  # the longest prefix first

    def url_rules(self):
        """(rule, endpoint, route) for each of the Flask app's URL rules of the table (proxy.routes adds them)."""
        for i, route in enumerate(self.routes):
            yield route.prefix, f"route_{i}", route
            yield f"{route.prefix}/<path:rest>", f"route_{i}_rest", route

    def plain(self, route: Route) -> bool:
        """Does `match` find this route's paths? (False: only the app's URL map does.)"""
        return self.by_prefix.get(tuple(route.prefix.split("/")[1:])) is route

    def match(self, segments: list[str]) -> tuple[Route, str] | None:
        """(route, URL rule) for a path's decoded segments under the longest prefix, or None."""
        for n in self.lengths:
            route = self.by_prefix.get(tuple(segments[:n])) if len(segments) >= n else None
            if route is not None:
                return route, route.prefix if len(segments) == n else route.prefix + "/<path:rest>"
        return None


class Upstreams:
    """Where each service is: static URLs from config, else its instances in the registry, taken in turn."""

    def __init__(self, config: dict, services: set[str]):
        self.static = {name: ([urls] if isinstance(urls, str) else list(urls))
                       for name, urls in (config.get("upstreams") or {}).items()}
        self.registry_url = config.get("registry_url")
        self.discovery: dict = {}
        self.turns: dict = {}
        self.lock = threading.Lock()
        if self.registry_url:
            from ...discovery import Discovery

            for name in sorted(services - set(self.static)):
                self.discovery[name] = Discovery(self.registry_url, name)

    def urls(self, service: str) -> list[str]:
        if service in self.static:
            return self.static[service]
        found = self.discovery.get(service)
        if found is None:
            return []
        if self.unasked(service):  # just started: ask once rather than wait for the poll
            self.ask(service)
        return found.urls()

    def unasked(self, service: str) -> bool:
        """Has the registry not been asked about `service` yet, and nothing known of it? (Then the first `pick`
        asks it, a blocking call: the asyncio front makes that call with `ask` in a thread first.)"""
        found = self.discovery.get(service)
        return found is not None and found.last_refresh is None and not found.urls()

    def ask(self, service: str) -> None:
        """Ask the registry once, now, where `service`'s instances are."""
        try:
            self.discovery[service].refresh(0)
        except Exception:
            pass

    def pick(self, service: str) -> str:
        urls = self.urls(service)
        if not urls:
            where = "the registry" if service in self.discovery else "config upstreams"
            raise UpstreamError(service, f"no instance of {service} is known ({where})", 503)
        with self.lock:
            turn = self.turns.setdefault(service, itertools.count())
            return urls[next(turn) % len(urls)].rstrip("/")

    def state(self) -> dict:
        return {name: {"source": "static" if name in self.static else "registry", "urls": self.urls(name)}
                for name in sorted(set(self.static) | set(self.discovery))}
