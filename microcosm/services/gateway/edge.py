"""What the gateway checks on every request before any route sees it, and adds to every answer.

Before (`edge_checks`, in this order):

- **headers too large**: more than `max_header_bytes` (default 8192) of headers is a 431;
- **one path, read once**: the path as the client sent it is split into decoded segments by paths.py, and
  a path that could mean more than one thing (`..`, `%2F`, `//`, double encoding ...) is a 400; the routes
  forward these segments (`g.segments`), never a path decoded a second time;
- **no secrets in URLs**: a query parameter named like a secret (`access_token`, `password`, ...) is a 400,
  since URLs end up in logs, browser histories and proxies (the access log blanks them too);

After (`edge_headers`): the `RateLimit-*` headers of the rate limit step. (CORS, the browser's preflights and
the `Access-Control-*` headers, is cors.py's.)
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Blueprint, g, request

from ..base import ApiError, error_response
from ..redaction import SECRET_PARAMS
from . import paths
from .rate_limit import add_rate_limit_headers


def check(headers, raw_target: str, query: bytes, max_header_bytes: int, decoded_path: str | None = None) -> list[str]:
    """The checks above for one request (`headers`: its (name, value) pairs; `raw_target`: the request line's
    target as sent): the path's decoded segments, or an ApiError (431, 400). The Flask app runs it before every
    request; the asyncio front (front/plain.py) before it answers a plain route on its loop."""
    size = sum(len(k) + len(v) + 4 for k, v in headers)
    if size > max_header_bytes:
        raise ApiError(431, f"the request's headers are {size} bytes; the limit is {max_header_bytes}")
    try:
        segments = paths.segments(paths.raw_path({"REQUEST_URI": raw_target}))
    except paths.UnsafePath as exc:
        raise ApiError(400, str(exc), reason="unsafe_path") from None
    if decoded_path is not None and "/" + "/".join(segments) != decoded_path:  # never with waitress: a safety net
        raise ApiError(400, "the path reads differently raw and decoded; send it plainly", reason="unsafe_path")
    found = query and (SECRET_PARAMS.search(query.decode("latin-1")) or
                       SECRET_PARAMS.search(unquote_to_bytes(query.replace(b"+", b" ")).decode("latin-1")))
    if found:
        raise ApiError(400, f"'{found.group(1)}' must never be sent in the URL (URLs end up in logs); "
                            "send tokens in the Authorization header")
    return segments


def routes(max_header_bytes: int) -> Blueprint:
    """The checks and headers above, for every request."""
    bp = Blueprint("gateway_edge", __name__)

    @bp.before_app_request
    def edge_checks():
        environ = request.environ
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or paths.raw_path(environ)  # see paths.raw_path
        try:
            g.segments = check(request.headers.items(), raw, request.query_string, max_header_bytes, request.path)
        except ApiError as exc:
            return error_response(exc.code, exc.description, **exc.details)
        return None

    @bp.after_app_request
    def edge_headers(response):
        add_rate_limit_headers(response)
        return response

    return bp
