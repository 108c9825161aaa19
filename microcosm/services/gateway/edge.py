"""What the gateway checks on every request before any route sees it, and adds to every answer.

Before (`edge_checks`, in this order):

- **headers too large**: more than `max_header_bytes` (default 8192) of headers is a 431;
- **one path, read once**: the path as the client sent it is split into decoded segments by paths.py, and
  a path that could mean more than one thing (`..`, `%2F`, `//`, double encoding ...) is a 400; the routes
  forward these segments (`g.segments`), never a path decoded a second time;
- **no secrets in URLs**: a query parameter named like a secret (`access_token`, `password`, ...) is a 400,
  since URLs end up in logs, browser histories and proxies (the access log blanks them too);
- **CORS preflight**: a browser asks `OPTIONS` with `Origin` and `Access-Control-Request-Method` before a
  cross-origin call; for an origin in `cors_origins` the gateway answers 204 with the methods and headers
  allowed (else 403), and the request never reaches a route.

After (`edge_headers`): for an allowed `Origin`, `Access-Control-Allow-Origin` and the headers a page's
script may read (`Access-Control-Expose-Headers`); and the `RateLimit-*` headers of the rate limit step.
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, current_app, g, request

from ..base import error_response
from ..redaction import SECRET_PARAMS
from . import paths
from .rate_limit import add_rate_limit_headers

EXPOSED_HEADERS = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-ID, WWW-Authenticate"


def routes(cors_origins: set[str], max_header_bytes: int) -> Blueprint:
    """The checks and headers above, for every request (config `cors_origins`: the origins allowed, "*" for any)."""
    bp = Blueprint("gateway_edge", __name__)

    def origin_allowed(origin: str) -> bool:
        return "*" in cors_origins or origin in cors_origins

    @bp.before_app_request
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
            return preflight_answer()
        return None

    @bp.after_app_request
    def edge_headers(response):
        origin = request.headers.get("Origin")
        if origin and origin_allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers.add("Vary", "Origin")
        add_rate_limit_headers(response)
        return response

    return bp


def preflight_answer() -> Response:
    """204 to a CORS preflight: the methods this path accepts, the headers a page may send, for 10 minutes."""
    response = Response(status=204)
    adapter = current_app.url_map.bind("")
    try:
        allowed = adapter.allowed_methods(request.path)
    except Exception:
        allowed = []
    response.headers["Access-Control-Allow-Methods"] = ", ".join(m for m in allowed if m not in ("HEAD", "OPTIONS")) or "GET"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
    response.headers["Access-Control-Max-Age"] = "600"
    return response
