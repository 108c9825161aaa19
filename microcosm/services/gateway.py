"""gateway: the single front door for clients (component 4).

Every public request goes through these steps, in this order:

1. **route**: the routing table maps a public path prefix (`/api/orders`) to a service (`orders`) and the
   path it has there (`/orders`). Instances come from the registry (one `Discovery` per service, picked in
   turn), or from static URLs in config `upstreams={"orders": "http://..."}`. A public path maps to exactly
   one upstream path (`paths.py`): it is read as the client sent it, dot segments, encoded slashes, double
   encoding and the like are refused (400), every segment is encoded again, and a segment starting with `_`
   (`/_chaos`, `/_balancer`: admin routes) is never forwarded.
2. **authenticate**: each route says, per method, whether a token is needed and which scopes it must carry
   (`None`: public; `[]`: any valid token; `["orders:write"]`). Tokens are checked here, at the edge, with
   `microcosm.tokens.verify` against the identity provider's JWKS (cached, refetched on an unknown key id):
   RS256 only, `exp`, `nbf`, `iss`, `aud`, scopes. 401 (with `WWW-Authenticate`) or 403 otherwise.
3. **rate limit**: a token bucket per user (and per OAuth client; per address when anonymous) in Redis,
   one atomic Lua script per request; 429 with `Retry-After` and `RateLimit-*` headers.
   `rate_limiter="file.py:Name"` loads your own (chapter 05's lab).
4. **forward**: only an allow-list of the client's headers goes on; the caller's identity is added as
   `X-User`, `X-Scopes`, `X-Client`, with `X-Identity-Proof` (an HMAC of the three under the launch secret,
   `microcosm.trust`) when the gateway was launched with one. Whatever identity headers, proof or admin
   secret the client sent are dropped: a service behind trusts identity headers only as far as it trusts
   the network that carries them (chapter 05 says what that rests on).

Besides plain routing: `/api/product-page/<id>` composes catalog and stock in parallel (a partial answer,
marked, when stock is down); `/api/stock/<sku>` translates JSON to the legacy stock service's XML and form
data; CORS for a web client (`cors_origins=[...]`); `/openapi.json` describes the public API, generated
from the routing table; `/_gateway` shows the table, the instances and the keys it knows.
"""
from __future__ import annotations

import itertools
import logging
import math
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

import redis as redis_lib
import urllib3
from flask import Response, g, request

from .. import tokens, trust
from . import paths
from .base import (CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, ApiError, Int, UpstreamError, _record_failed_call,
                   call, create_service, error_response, read_json, require_admin)
from .redaction import SECRET_PARAMS, redact_access_log
from .loader import load_object

log = logging.getLogger("microcosm.gateway")

PUBLIC = None  # a method open to anyone; a list of scopes (maybe empty) means "a valid token with these"


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
FORWARDED_HEADERS = ("Content-Type", "Accept", "Accept-Language", "If-None-Match", "If-Modified-Since",
                     "If-Match", "Idempotency-Key", "User-Agent")  # all other client headers stay here
IDENTITY_HEADERS = trust.IDENTITY_HEADERS  # X-User, X-Scopes, X-Client: set by the gateway only (+ the proof)
RETURNED_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified", "Cache-Control", "Retry-After")
ID_MAX = 2**62  # the largest id every service behind accepts (SQLite's INTEGER, legacy stock's sku): beyond it, 404
EXPOSED_HEADERS = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-ID, WWW-Authenticate"


# --- rate limiting ---------------------------------------------------------------------------------------------
TOKEN_BUCKET_LUA = """
-- KEYS[1]: the bucket; ARGV: capacity, refill per second, now (s), cost. Runs atomically inside Redis.
local capacity, rate, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]) or capacity, tonumber(state[2]) or now
if now > ts then tokens = math.min(capacity, tokens + (now - ts) * rate); ts = now end
local allowed, retry = 0, 0
if tokens >= cost then allowed = 1; tokens = tokens - cost else retry = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(retry)}
"""


class TokenBucket:
    """A bucket of `capacity` requests per key, refilled at `refill_per_s`. The interface a limiter offers:

        allow(redis, key, now) -> (allowed: bool, remaining: int, retry_after: float seconds)

    plus `limit` (the most requests in a burst) for the RateLimit-Limit header.
    """

    def __init__(self, capacity: float = 200, refill_per_s: float = 100):
        self.limit, self.rate = capacity, refill_per_s
        self._scripts: dict = {}

    def allow(self, redis, key: str, now: float):
        script = self._scripts.get(id(redis))
        if script is None:
            script = self._scripts[id(redis)] = redis.register_script(TOKEN_BUCKET_LUA)
        allowed, tokens, retry = script(keys=[key], args=[self.limit, self.rate, now, 1])
        return bool(allowed), int(float(tokens)), float(retry)


def load_limiter(config: dict):
    settings = config.get("rate_limit", {})
    if settings is False or settings is None:
        return None
    settings = {"capacity": 200, "refill_per_s": 100, **(settings if isinstance(settings, dict) else {})}
    spec = config.get("rate_limiter")
    if not spec:
        return TokenBucket(settings["capacity"], settings["refill_per_s"])
    found = load_object(spec)
    if isinstance(found, type):  # a class: build it with the configured numbers
        return found(capacity=settings["capacity"], refill_per_s=settings["refill_per_s"])
    if callable(found) and not hasattr(found, "allow"):  # a bare allow(redis, key, now) function

        class Wrapped:
            limit, rate, allow = settings["capacity"], settings["refill_per_s"], staticmethod(found)

        return Wrapped()
    return found


# --- the app ----------------------------------------------------------------------------------------------------
def _routes(config: dict) -> list[Route]:
    routes = [] if config.get("replace_routes") else list(DEFAULT_ROUTES)
    for r in config.get("routes") or []:  # extra routes from config: {"prefix", "service", "path", "methods"}
        routes = [x for x in routes if x.prefix != r["prefix"]]
        routes.append(Route(r["prefix"], r["service"], r.get("path", "/"), dict(r["methods"]),
                            bool(r.get("owner", False)), r.get("summary", ""), bool(r.get("forward_token", False))))
    return routes


def create_app(config: dict):
    app = create_service("gateway", config)
    redact_access_log()  # a token put in a URL by mistake is blanked before the access log line is written
    routes = _routes(config)
    identity_url = (config.get("identity_url") or "").rstrip("/")
    issuer = config.get("issuer") or identity_url
    audience = config.get("audience", "microcosm")
    jwks = tokens.JWKSCache(config.get("jwks_url") or f"{identity_url}/.well-known/jwks.json") if identity_url else None
    verify = load_object(config["token_verifier"]) if config.get("token_verifier") else tokens.verify
    limiter = load_limiter(config)
    store = redis_lib.Redis.from_url(config["redis_url"], socket_timeout=0.5, socket_connect_timeout=0.5) \
        if limiter is not None and config.get("redis_url") else None
    if limiter is not None and store is None:
        raise ValueError("rate limiting needs redis_url (or turn it off with rate_limit=False)")
    bucket_prefix = str(config.get("rate_limit_prefix", "gateway:ratelimit:"))  # shared by every gateway instance
    cors_origins = set(config.get("cors_origins") or [])
    max_header_bytes = int(config.get("max_header_bytes", 8192))
    part_timeouts = {"product": 1.0, "stock": 0.5, **(config.get("composition_timeouts") or {})}
    workers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="gateway-compose")
    upstreams = Upstreams(config, {r.service for r in routes} | {"catalog", "stock"})
    app.extensions["gateway"] = {"routes": routes, "upstreams": upstreams, "jwks": jwks, "limiter": limiter}

    # --- the steps ---------------------------------------------------------------------------------------------
    def authenticate(scopes: list[str]) -> dict:
        """The caller's verified claims, or a 401/403 ApiError with WWW-Authenticate."""
        if jwks is None:
            raise ApiError(503, "this route needs a token, but the gateway has no identity provider (identity_url)")
        try:
            claims = verify(tokens.bearer_token(request.headers.get("Authorization")), jwks, issuer, audience, scopes)
            return tokens.check_identity(claims)  # whatever the verifier, what goes on in headers is plain text
        except tokens.TokenError as exc:
            log.info("token refused on %s %s: %s", request.method, request.path, exc.reason)  # never the token
            if exc.reason == "missing_token":
                challenge = 'Bearer realm="microcosm"'
            elif exc.status == 403:
                challenge = f'Bearer realm="microcosm", error="insufficient_scope", scope="{" ".join(scopes)}"'
            else:
                challenge = f'Bearer realm="microcosm", error="invalid_token", error_description="{exc.reason}"'
            error = ApiError(exc.status, exc.message, reason=exc.reason)
            error.headers = {"WWW-Authenticate": challenge}
            raise error from None

    def rate_limit(claims: dict | None) -> None:
        if limiter is None:
            return
        if claims is None:
            keys = [f"address:{request.remote_addr}"]
        elif claims.get("client_id") and claims["sub"] == f"client:{claims['client_id']}":
            keys = [f"client:{claims['client_id']}"]
        else:
            keys = [f"user:{claims['sub']}"] + ([f"client:{claims['client_id']}"] if claims.get("client_id") else [])
        now = time.time()
        for key in keys:
            try:
                allowed, remaining, retry_after = limiter.allow(store, f"{bucket_prefix}{key}", now)
            except Exception as exc:  # Redis down, or a limiter's bug: let traffic through, say so in the log
                log.warning("rate limiter unavailable, request let through: %s: %s", type(exc).__name__, exc)
                return
            g.rate = (getattr(limiter, "limit", 0), max(0, int(remaining)), retry_after, getattr(limiter, "rate", None))
            if not allowed:
                wait = max(1, math.ceil(retry_after))
                error = ApiError(429, f"rate limit exceeded for {key.split(':')[0]}: try again in {wait} s",
                                 retry_after=wait)
                error.headers = {"Retry-After": str(wait)}
                raise error

    def identity_headers(claims: dict | None) -> dict:
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        forwarded_for = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded_for}, {request.remote_addr}" if forwarded_for else request.remote_addr
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        if claims is not None:
            user, scopes, client = claims["sub"], claims.get("scope", ""), claims.get("client_id") or ""
            headers["X-User"], headers["X-Scopes"] = user, scopes
            if client:
                headers["X-Client"] = client
            proof = trust.identity_proof(user, scopes, client)  # None when launched without a launch secret
            if proof:
                headers[trust.PROOF_HEADER] = proof
        return headers

    def admit(methods: dict, owner_segment: str | None = None) -> tuple[dict | None, dict]:
        """Steps 2 and 3 for this request: (claims or None, headers to send on)."""
        method = "GET" if request.method == "HEAD" and "GET" in methods else request.method  # HEAD: GET's rules
        if method not in methods:
            error = ApiError(405, f"{request.path} does not accept {request.method} (allowed: {', '.join(methods)})")
            error.headers = {"Allow": ", ".join(methods)}
            raise error
        scopes = methods[method]
        claims = authenticate(scopes) if scopes is not PUBLIC else None
        if owner_segment is not None and claims is not None and owner_segment != claims["sub"]:
            raise ApiError(403, f"you may only reach your own resource ({request.path.split('/')[2]}/{claims['sub']})",
                           reason="not_owner")
        rate_limit(claims)
        return claims, identity_headers(claims)

    # --- plain routes ---------------------------------------------------------------------------------------------
    pool = urllib3.PoolManager(maxsize=16, retries=False)

    def forward(method: str, base_url: str, target: str, upstream: str, headers: dict, body: bytes | None):
        """One call to a service, like base.call but on a urllib3 pool: requests costs ~0.4 ms more CPU per call
        (measured in bench/gateway_overhead.py), and on the gateway every request pays it. `target` (path and
        query, already encoded by paths.py) goes into the request line as it is: given a whole URL, urllib3
        would remove dot segments from it."""
        timeout = app.config["UPSTREAM_TIMEOUT"]
        headers = {REQUEST_ID: g.request_id, CALLER: app.name, CALLER_INSTANCE: app.config["INSTANCE"],
                   PARENT_HOP: g.hop, **headers}
        url = base_url + target
        base = urlsplit(base_url)  # an upstream URL may have a path of its own (http://host:port/prefix)
        started = time.perf_counter()
        try:
            return pool.connection_from_url(base_url).urlopen(
                method, base.path.rstrip("/") + target, body=body, headers=headers, redirect=False, retries=False,
                timeout=urllib3.Timeout(connect=min(timeout, 1.0), read=timeout))
        except urllib3.exceptions.NewConnectionError:  # refused (a subclass of the timeout error, so first)
            error = UpstreamError(upstream, f"{upstream} is unreachable (connection refused)", 503)
        except urllib3.exceptions.TimeoutError:
            error = UpstreamError(upstream, f"{upstream} did not answer within {timeout:g} s", 504)
        except urllib3.exceptions.HTTPError:
            error = UpstreamError(upstream, f"{upstream} is unreachable (connection refused or reset)", 503)
        _record_failed_call(method, url, upstream, error, started)
        raise error

    def proxy(route: Route):
        """Forward to the route's service. The path is not Flask's `<path:rest>` (decoded, so `%2F` and `/` look
        alike) but the segments edge_checks read from the raw request line, each one exactly one segment."""
        depth = len(route.prefix.strip("/").split("/"))
        rest = g.segments[depth:]
        internal = next((s for s in rest if s.startswith("_")), None)
        if internal is not None:
            raise ApiError(404, f"'{internal}' names an internal route (a segment starting with '_'): "
                                "those are never reachable through the gateway", reason="internal_route")
        owner = rest[0] if route.owner and rest else None
        if route.owner and owner is None:
            raise ApiError(404, f"name the resource: {route.prefix}/<your username>")
        claims, headers = admit(route.methods, owner)
        if route.forward_token and claims is not None:  # the service checks the token itself (zero trust)
            headers["Authorization"] = request.headers["Authorization"]
        target = paths.upstream_path(route.path, rest)
        if request.query_string:
            target += "?" + paths.upstream_query(request.query_string)
        answer = forward(request.method, upstreams.pick(route.service), target, route.service, headers,
                         request.get_data() or None)
        response = Response(answer.data, status=answer.status)
        for name in RETURNED_HEADERS:
            if name in answer.headers:
                response.headers[name] = answer.headers[name]
        location = response.headers.get("Location", "")
        if location.startswith(route.path):  # the service's own path -> the public one
            response.headers["Location"] = route.prefix + location[len(route.path):]
        return response

    for i, route in enumerate(routes):
        methods = list(route.methods)
        app.add_url_rule(route.prefix, f"route_{i}", (lambda r: lambda: proxy(r))(route), methods=methods)
        app.add_url_rule(f"{route.prefix}/<path:rest>", f"route_{i}_rest",
                         (lambda r: lambda rest: proxy(r))(route), methods=methods)

    # --- protocol translation: JSON outside, XML and forms inside ---------------------------------------------
    def stock_from_xml(answer) -> dict:
        try:
            doc = ET.fromstring(answer.content)
        except ET.ParseError:
            raise ApiError(502, "the stock service answered something that is not XML") from None
        fields = {child.tag: child.text or "" for child in doc}
        if doc.tag == "error" or answer.status_code >= 400:
            status = answer.status_code if 400 <= answer.status_code < 500 else 502
            raise ApiError(status, fields.get("message", "the stock service refused"), upstream_code=fields.get("code"))
        return {"sku": int(fields["sku"]), "quantity": int(fields["quantity"]), "warehouse": fields["warehouse"],
                "in_stock": int(fields["quantity"]) > 0}

    @app.route(f"/api/stock/<int(max={ID_MAX}):sku>", methods=["GET", "POST"])
    def stock(sku: int):
        _, headers = admit({"GET": PUBLIC, "POST": ["stock:write"]})
        base_url = upstreams.pick("stock")
        headers["Accept"] = "application/xml"
        if request.method == "GET":
            answer = call("GET", f"{base_url}/stock", upstream="stock", headers=headers, params={"sku": sku})
        else:
            body = read_json(delta=Int(min=-1_000_000, max=1_000_000))
            headers.pop("Content-Type", None)  # requests sets the form's own
            answer = call("POST", f"{base_url}/stock", upstream="stock", headers=headers,
                          data={"sku": str(sku), "delta": str(body["delta"])})
        return stock_from_xml(answer)

    # --- composition: one page from several services, in parallel ---------------------------------------------
    @app.get(f"/api/product-page/<int(max={ID_MAX}):product_id>")
    def product_page(product_id: int):
        _, headers = admit({"GET": PUBLIC})
        headers.update({REQUEST_ID: g.request_id, CALLER: "gateway", CALLER_INSTANCE: app.config["INSTANCE"],
                        PARENT_HOP: g.hop})

        def product():
            answer = call("GET", f"{upstreams.pick('catalog')}/products/{product_id}", upstream="catalog",
                          headers=headers, timeout=part_timeouts["product"])
            if answer.status_code == 404:
                raise ApiError(404, f"no product with id {product_id}")
            if answer.status_code != 200:
                raise UpstreamError("catalog", f"catalog answered {answer.status_code}", 502)
            return answer.json()

        def stock_level():
            answer = call("GET", f"{upstreams.pick('stock')}/stock", upstream="stock", headers=headers,
                          params={"sku": product_id}, timeout=part_timeouts["stock"])
            return stock_from_xml(answer)

        parts = {"product": workers.submit(product), "stock": workers.submit(stock_level)}
        page, missing = {}, []
        for name, future in parts.items():
            try:
                page[name] = future.result()
            except ApiError as exc:
                if name == "product":  # no product, no page
                    raise
                if exc.code == 404:
                    page[name] = None  # no record is an answer, not a failure
                else:
                    missing.append(name)
                    page[name] = None
                    log.info("product page %s without %s: %s", product_id, name, exc.description)
        page["partial"], page["missing"] = bool(missing), missing
        return page

    # --- CORS, oversized headers, secrets in URLs --------------------------------------------------------------
    @app.before_request
    def edge_checks():
        size = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        if size > max_header_bytes:
            return error_response(431, f"the request's headers are {size} bytes; the limit is {max_header_bytes}")
        try:
            g.segments = paths.segments(paths.raw_path(request.environ))
        except paths.UnsafePath as exc:
            return error_response(400, str(exc), reason="unsafe_path")
        if "/" + "/".join(g.segments) != request.path:  # cannot happen with waitress or gunicorn: a safety net
            return error_response(400, "the path reads differently raw and decoded; send it plainly",
                                  reason="unsafe_path")
        query = request.query_string
        found = SECRET_PARAMS.search(query.decode("latin-1")) or \
            SECRET_PARAMS.search(unquote_to_bytes(query.replace(b"+", b" ")).decode("latin-1"))
        if found:
            return error_response(400, f"'{found.group(1)}' must never be sent in the URL (URLs end up in logs); "
                                       "send tokens in the Authorization header")
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin and request.headers.get("Access-Control-Request-Method"):
            if not origin_allowed(origin):
                return error_response(403, f"origin {origin} is not allowed (config cors_origins)")
            response = Response(status=204)
            adapter = app.url_map.bind("")
            try:
                allowed = adapter.allowed_methods(request.path)
            except Exception:
                allowed = []
            response.headers["Access-Control-Allow-Methods"] = ", ".join(m for m in allowed if m not in ("HEAD", "OPTIONS")) or "GET"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
            response.headers["Access-Control-Max-Age"] = "600"
            return response
        return None

    def origin_allowed(origin: str) -> bool:
        return "*" in cors_origins or origin in cors_origins

    @app.after_request
    def edge_headers(response):
        origin = request.headers.get("Origin")
        if origin and origin_allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers.add("Vary", "Origin")
        rate = g.get("rate")
        if rate:
            limit, remaining, retry_after, refill = rate
            reset = retry_after if response.status_code == 429 else ((limit - remaining) / refill if refill else 0)
            response.headers["RateLimit-Limit"] = str(int(limit))
            response.headers["RateLimit-Remaining"] = str(remaining)
            response.headers["RateLimit-Reset"] = str(math.ceil(reset))
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = error_response(exc.code, exc.description, **exc.details)
        for name, value in getattr(exc, "headers", {}).items():
            response.headers[name] = value
        return response

    # --- what the gateway knows ---------------------------------------------------------------------------------
    @app.get("/openapi.json")
    def openapi():
        return openapi_document(routes, request.host_url.rstrip("/"))

    @app.get("/_gateway")
    def status():
        require_admin()  # the routing table and the upstreams' addresses are for the operator, not for clients
        return {
            "routes": [{"prefix": r.prefix, "service": r.service, "path": r.path, "methods": r.methods,
                        "owner": r.owner} for r in routes],
            "upstreams": upstreams.state(),
            "identity": {"issuer": issuer, "audience": audience, "jwks_url": jwks.url if jwks else None,
                         "known_keys": sorted(jwks.keys) if jwks else [], "jwks_fetches": jwks.fetches if jwks else 0},
            "rate_limiter": type(limiter).__name__ if limiter is not None else None,
            "cors_origins": sorted(cors_origins),
        }

    return app


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
            from ..discovery import Discovery

            for name in sorted(services - set(self.static)):
                self.discovery[name] = Discovery(self.registry_url, name)

    def urls(self, service: str) -> list[str]:
        if service in self.static:
            return self.static[service]
        found = self.discovery.get(service)
        if found is None:
            return []
        if found.last_refresh is None and not found.urls():  # just started: ask once rather than wait for the poll
            try:
                found.refresh(0)
            except Exception:
                pass
        return found.urls()

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


# --- OpenAPI -----------------------------------------------------------------------------------------------------
def openapi_document(routes: list[Route], server: str) -> dict:
    error = {"$ref": "#/components/responses/Error"}

    def operation(summary: str, scopes, extra: dict | None = None) -> dict:
        op = {"summary": summary, "responses": {"200": {"description": "the service's answer"},
                                                "429": error, "503": error, "504": error}}
        if scopes is not PUBLIC:
            op["security"] = [{"bearer": list(scopes)}]
            op["responses"].update({"401": error, "403": error})
        else:
            op["security"] = []
        op.update(extra or {})
        return op

    paths: dict = {}
    for r in routes:
        for path in (r.prefix, r.prefix + "/{rest}"):
            item = {m.lower(): operation(f"{r.summary} ({m} {r.path} at {r.service})".strip(), s)
                    for m, s in r.methods.items()}
            if path.endswith("{rest}"):
                for op in item.values():
                    op["parameters"] = [{"name": "rest", "in": "path", "required": True,
                                         "schema": {"type": "string"}, "description": "the rest of the path"}]
            paths[path] = item
    sku = [{"name": "sku", "in": "path", "required": True, "schema": {"type": "integer"}}]
    paths["/api/stock/{sku}"] = {
        "get": operation("Stock of one product (JSON here; XML at the legacy stock service)", PUBLIC, {"parameters": sku}),
        "post": operation("Move stock in or out", ["stock:write"], {
            "parameters": sku, "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["delta"], "properties": {"delta": {"type": "integer"}}}}}}}),
    }
    paths["/api/product-page/{id}"] = {"get": operation(
        "A product with its stock, fetched in parallel; partial=true and missing=[...] when a part is down", PUBLIC,
        {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]})}
    return {
        "openapi": "3.0.3",
        "info": {"title": "microcosm public API", "version": "1.0",
                 "description": "Everything a client can call, through the gateway."},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {"Error": {"description": "a JSON error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error", "message", "status"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                               "status": {"type": "integer"}, "request_id": {"type": "string"},
                               "reason": {"type": "string"}}}}}}},
        },
    }
