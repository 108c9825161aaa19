"""gateway: the single front door for clients (component 4).

    gateway = microcosm.launch("gateway")                      # finds the registry, Redis and identity itself
    gateway.get("/api/products/2")                             # -> catalog's /products/2
    gateway.post("/api/orders", json={...}, headers=ada)       # needs a token with orders:write
    gateway.get("/openapi.json")                               # the public API, from the routing table

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

Where each part lives, one idea a module:

    routing.py       the routing table (Route, DEFAULT_ROUTES, routes from the config) and Upstreams
    paths.py         a public path to exactly one upstream path: raw segments, refused, encoded again
    edge_auth.py     tokens checked at the edge (401/403), the owner check, the identity headers sent on
    rate_limit.py    the token bucket in Redis (one Lua script), loading your own limiter, whose bucket
    proxy.py         a plain route: the request forwarded to one instance, the answer passed back
    upstream.py      the pooled keep-alive HTTP/1.1 client a plain route forwards with
    translation.py   JSON outside, the legacy stock service's XML and forms inside
    composition.py   the product page: catalog and stock in parallel, a partial answer when stock is down
    edge.py          on every request: header size, one path, no secrets in URLs
    cors.py          which web pages may call from a browser: preflights, Access-Control-* headers
    openapi.py       the public API's OpenAPI document, generated from the routing table
    app.py           create_app(config): the parts put together, and the order a request meets them
    front/           the port served by an asyncio front: plain routes on its event loop, the rest by the app
"""
from __future__ import annotations

import importlib

_WHERE = {  # name -> the module that defines it: imported on first use (PEP 562), so a service that needs one
    # module (the web origin splits paths with paths.py) does not load the gateway's token and rate-limit code
    "Gateway": "app", "create_app": "app", "EXPOSED_HEADERS": "cors", "Cors": "cors",
    "FORWARDED_HEADERS": "edge_auth", "IDENTITY_HEADERS": "edge_auth", "EdgeAuth": "edge_auth",
    "openapi_document": "openapi", "RETURNED_HEADERS": "proxy", "TOKEN_BUCKET_LUA": "rate_limit",
    "RateLimits": "rate_limit", "TokenBucket": "rate_limit", "caller_keys": "rate_limit", "load_limiter": "rate_limit",
    "DEFAULT_ROUTES": "routing", "ID_MAX": "routing", "PUBLIC": "routing", "Route": "routing", "Upstreams": "routing",
    "routes_from_config": "routing", "serve_front": "front",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)  # a module of the package: paths, cors ...
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


__all__ = ["Cors", "DEFAULT_ROUTES", "EXPOSED_HEADERS", "EdgeAuth", "FORWARDED_HEADERS", "Gateway", "ID_MAX",
           "IDENTITY_HEADERS", "PUBLIC", "RETURNED_HEADERS", "RateLimits", "Route", "TOKEN_BUCKET_LUA", "TokenBucket",
           "Upstreams", "caller_keys", "create_app", "load_limiter", "openapi_document", "paths", "routes_from_config"]
