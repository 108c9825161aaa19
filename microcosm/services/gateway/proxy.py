"""Step 4, forward: a plain route's request goes on to one instance of its service, and the answer comes back.

For a request under a route's prefix (`/api/orders/7`), `proxy`:

1. takes the path's segments after the prefix as edge.py read them from the raw request line (`["7"]`), not
   Flask's decoded `<path:rest>`, where `%2F` and `/` look alike (paths.py says why that matters);
2. refuses a segment starting with `_` (404): `/_chaos`, `/_balancer` are admin routes of the services,
   never reachable through the gateway;
3. admits the request (authenticate, check the owner, rate limit: app.py's `Gateway.admit`), which gives the
   headers to send on;
4. builds the upstream target, `/orders/7` and the query string, every segment encoded again, and sends it
   to the next instance of the service (`forward`), on a pooled keep-alive connection (upstream.py);
5. passes back the status, the body and an allow-list of headers (`RETURNED_HEADERS`), with a `Location` in
   the service's own paths turned into the public one (`/orders/8` -> `/api/orders/8`).

A service that refuses the connection is a 503, one that does not answer within the gateway's
`upstream_timeout` a 504; the gateway records that hop itself, as the callee could not.

The gateway's asyncio front (front/plain.py) takes these same steps, with these same functions, on its event
loop; the view below is how the Flask app takes them (with `front=False`, or for a request the front hands it).
"""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g, request

from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, ApiError, UpstreamError, record_failed_call
from . import paths
from .routing import Route, RouteTable
from .upstream import Broken, ConnectFailed, Pool, Timeout

RETURNED_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified", "Cache-Control", "Retry-After",
                    "Idempotent-Replayed")  # orders: this answer is the stored one of an earlier request (same key)


def failure(kind: str, upstream: str, timeout: float) -> UpstreamError:
    """A service that could not answer: "refused" (503), "timeout" (504), "broken" (503)."""
    if kind == "refused":
        return UpstreamError(upstream, f"{upstream} is unreachable (connection refused)", 503)
    if kind == "timeout":
        return UpstreamError(upstream, f"{upstream} did not answer within {timeout:g} s", 504)
    return UpstreamError(upstream, f"{upstream} is unreachable (connection refused or reset)", 503)


def forward(pool: Pool, method: str, base_url: str, target: str, upstream: str, headers: dict, body: bytes | None):
    """One call to a service, like base.call but on the gateway's own pool (upstream.py says why): the ids of
    this hop are added to `headers`, which go on as they are."""
    timeout = current_app.config["UPSTREAM_TIMEOUT"]
    headers.update({REQUEST_ID: g.request_id, CALLER: current_app.name, CALLER_INSTANCE: current_app.config["INSTANCE"],
                    PARENT_HOP: g.hop})
    started = time.perf_counter()
    try:
        return pool.request(method, base_url, target, headers, body, timeout)
    except ConnectFailed:
        error = failure("refused", upstream, timeout)
    except Timeout:
        error = failure("timeout", upstream, timeout)
    except Broken:
        error = failure("broken", upstream, timeout)
    record_failed_call(method, base_url + target, upstream, error, started)
    raise error


def rest_of(route: Route, segments: list[str]) -> tuple[list[str], str | None]:
    """The segments after the route's prefix, and the owner segment (owner=True routes); 404 for an internal
    segment (one starting with `_`) or an owner route that names no resource."""
    rest = segments[len(route.prefix.strip("/").split("/")):]
    internal = next((s for s in rest if s.startswith("_")), None)
    if internal is not None:
        raise ApiError(404, f"'{internal}' names an internal route (a segment starting with '_'): "
                            "those are never reachable through the gateway", reason="internal_route")
    owner = rest[0] if route.owner and rest else None
    if route.owner and owner is None:
        raise ApiError(404, f"name the resource: {route.prefix}/<your username>")
    return rest, owner


def target_of(route: Route, rest: list[str], query: bytes) -> str:
    """The upstream target: the route's path and the segments, each encoded again, and the query string."""
    target = paths.upstream_path(route.path, rest)
    return target + "?" + paths.upstream_query(query) if query else target


def returned_headers(route: Route, answer) -> dict:
    """The allow-listed headers of the service's answer, a Location in its own paths made the public one."""
    out = {}
    for name in RETURNED_HEADERS:
        value = answer.headers.get(name.lower())
        if value is not None:
            out[name] = value
    location = out.get("Location", "")
    if location.startswith(route.path):  # the service's own path -> the public one
        out["Location"] = route.prefix + location[len(route.path):]
    return out


def proxy(gateway, pool, route: Route):
    """Forward to the route's service. The path is not Flask's `<path:rest>` (decoded, so `%2F` and `/` look
    alike) but the segments edge_checks read from the raw request line, each one exactly one segment."""
    rest, owner = rest_of(route, g.segments)
    claims, headers = gateway.admit(route.methods, owner)
    if route.forward_token and claims is not None:  # the service checks the token itself (zero trust)
        headers["Authorization"] = request.headers["Authorization"]
    target = target_of(route, rest, request.query_string)
    answer = forward(pool, request.method, gateway.upstreams.pick(route.service), target, route.service, headers,
                     request.get_data() or None)
    response = Response(answer.data, status=answer.status)
    response.headers.update(returned_headers(route, answer))
    return response


def routes(gateway) -> Blueprint:
    """A URL rule for each route of the table: its prefix, and everything below it."""
    bp = Blueprint("gateway_routes", __name__)
    pool = Pool(keep=16)  # one for every route: idle connections to each service, reused

    def view_of(route: Route):
        def view(rest: str = ""):  # Flask's decoded `rest` is not what is forwarded: see proxy
            return proxy(gateway, pool, route)
        return view

    for rule, endpoint, route in RouteTable(gateway.routes).url_rules():
        bp.add_url_rule(rule, endpoint, view_of(route), methods=list(route.methods))
    return bp
