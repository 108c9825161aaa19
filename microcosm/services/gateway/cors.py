"""CORS: which web pages, served from another origin, may call the gateway from a browser's script.

A browser lets a page's script read answers from the page's own origin only (scheme, host and port: the web
shop at http://127.0.0.1:8001 is one origin, the gateway at http://127.0.0.1:8002 another). To read the
gateway's answers, the page needs the gateway's consent, given in headers:

- **a preflight** first, for any call that is not "simple" (a JSON body, an `Authorization` header, PUT or
  DELETE): the browser asks `OPTIONS /api/orders` with `Origin`, `Access-Control-Request-Method: POST` and
  `Access-Control-Request-Headers: authorization, content-type, idempotency-key`. For an origin on the
  allow-list (config `cors_origins`), asking for a method the path accepts and headers from `ALLOWED_HEADERS`,
  the gateway answers 204 with `Access-Control-Allow-Origin`, `-Methods`, `-Headers` and `-Max-Age` (how long
  the browser may remember it). Anything else gets a JSON 403 (404 for a path with no route) that says why:
  a refusal the operator can read in the log, which the browser turns into a "CORS error" for the page.
  A preflight never reaches a route: no token check, no rate limit, no upstream call.
- **then the call**, whose answer carries `Access-Control-Allow-Origin: <the page's origin>` and
  `Access-Control-Expose-Headers` (which headers the script may read besides the basic ones: `Retry-After`,
  the `RateLimit-*` trio, `X-Request-ID`). Errors too: a page must be able to read a 401 or a 429 to tell its
  user why. An origin not on the list gets no CORS header at all, so the browser hides the answer from it.

With origins listed, every answer says `Vary: Origin`, since its CORS headers depend on who asked: a cache in
front (chapter 10's CDN) must not hand one origin's answer to another.

What CORS is not: access control. The gateway still answers a request from a page it does not allow (the
browser then hides the answer from that page's script), and anything that is not a browser ignores CORS
altogether. Tokens protect the API; CORS protects the user's browser from pages that would read, with the
browser's own cookies, what the user may see. The shop keeps its token in memory and sends it in
`Authorization`, which another origin's page cannot do for it, so it needs no cookies: credentials (cookies,
HTTP authentication) are off unless `cors_credentials=True`, which adds `Access-Control-Allow-Credentials:
true` for listed origins and is refused at launch with `"*"`: "any page may read, with the user's cookies"
is exactly what the browser's rule forbids (browsers ignore `*` with credentials).

Config: `cors_origins` (a list of origins `scheme://host[:port]`, or `["*"]` for any page, without
credentials), `cors_credentials` (default False), `cors_max_age` (seconds, default 600). An origin that is not
`scheme://host[:port]` (a path, a trailing slash, `null`) is refused at launch: the browser never sends such
an `Origin`, so the entry could only be a mistake, and `null` (sandboxed frames, `file://` pages) is an origin
anyone can make.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, request

from ..base import error_response

# what the shop's script sends besides the CORS-safelisted headers (Accept, Accept-Language, Content-Language)
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
SAFELISTED = ("accept", "accept-language", "content-language")
# what a page's script may read in an answer, besides the CORS-safelisted ones (Content-Type, Cache-Control ...)
EXPOSED_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Request-ID",
                   "WWW-Authenticate", "Location", "ETag")
ORIGIN = re.compile(r"^(https?)://([a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(:(\d{1,5}))?$")
DEFAULT_PORTS = {"http": "80", "https": "443"}
HTTP_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110 5.6.2): a method, a header name


def normalise_origin(origin) -> str:
    """'HTTP://Shop.Example:80' -> 'http://shop.example' (as a browser sends it); ValueError for anything else."""
    if not isinstance(origin, str):
        raise ValueError(f"cors_origins: expected origins as strings, got {origin!r:.80}")
    found = ORIGIN.match(origin.strip().lower())
    if not found or (found.group(5) and not 0 < int(found.group(5)) < 65536):
        raise ValueError(f"cors_origins: {origin!r:.120} is not an origin: write scheme://host[:port], with no "
                         "path and no trailing slash (a browser's Origin header never has one), or '*' alone")
    scheme, host, port = found.group(1), found.group(2), found.group(5)
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


class Cors:
    """The allow-list and what it answers. `Cors(["http://127.0.0.1:8001"])`; `Cors(["*"])`: any page,
    never with credentials."""

    def __init__(self, origins=(), credentials: bool = False, max_age: int = 600):
        origins = [origins] if isinstance(origins, str) else list(origins or [])
        self.any = "*" in origins
        if self.any and len(origins) > 1:
            raise ValueError("cors_origins: '*' allows every origin; list it alone, or list origins without it")
        if self.any and credentials:
            raise ValueError("cors_origins=['*'] with cors_credentials=True: never both. Any page at all could "
                             "then read answers made with the user's cookies (browsers refuse '*' with "
                             "credentials for that reason); list the origins that may")
        self.origins = frozenset() if self.any else frozenset(normalise_origin(o) for o in origins)
        self.credentials = bool(credentials)
        if not isinstance(max_age, int) or isinstance(max_age, bool) or not 0 <= max_age <= 86400:
            raise ValueError(f"cors_max_age: whole seconds from 0 to 86400, got {max_age!r:.40}")
        self.max_age = max_age
        self.allowed_headers = {h.lower(): h for h in ALLOWED_HEADERS}

    @classmethod
    def from_config(cls, config: dict) -> "Cors":
        return cls(config.get("cors_origins") or [], bool(config.get("cors_credentials", False)),
                   config.get("cors_max_age", 600))

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and (self.any or origin in self.origins)

    def state(self) -> dict:
        return {"origins": ["*"] if self.any else sorted(self.origins), "credentials": self.credentials,
                "max_age": self.max_age}

    # --- the two halves: a preflight answered, an answer marked ----------------------------------------
    def preflight(self) -> Response | None:
        """The answer to a CORS preflight (None when this request is not one: it goes on to its route)."""
        origin = request.headers.get("Origin")
        asked = request.headers.get("Access-Control-Request-Method")
        if request.method != "OPTIONS" or not origin or asked is None:
            return None
        if not self.allows(origin):
            return error_response(403, f"origin {origin[:200]!r} may not call this gateway from a browser "
                                       "(it is not in the gateway's cors_origins)", reason="cors_origin")
        if not HTTP_TOKEN.match(asked):
            return error_response(400, "Access-Control-Request-Method must name one method", reason="cors_method")
        methods = route_methods(request.path)
        if not methods:
            return error_response(404, f"no route {request.path} here", reason="cors_no_route")
        if asked not in methods:  # methods are case-sensitive; a browser sends the standard ones upper-case
            return error_response(403, f"{request.path} does not accept {asked[:40]} (allowed: "
                                       f"{', '.join(methods)})", reason="cors_method")
        wanted = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
        refused = [h for h in wanted if h and h not in self.allowed_headers and h not in SAFELISTED]
        if refused:
            return error_response(403, f"a page may not send the header(s) {', '.join(refused)[:200]} "
                                       f"(allowed: {', '.join(ALLOWED_HEADERS)})", reason="cors_headers")
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        response.headers["Access-Control-Allow-Headers"] = ", ".join(ALLOWED_HEADERS)
        response.headers["Access-Control-Max-Age"] = str(self.max_age)
        return response  # the origin headers are added by `mark`, like on every answer

    def mark(self, response: Response) -> Response:
        """Add the CORS headers to an answer for an allowed origin (and `Vary: Origin` when origins are listed)."""
        if self.origins:  # the answer depends on who asks (not with no list, nor with '*')
            response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if not self.allows(origin):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if self.any else origin
        response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
        if self.credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
        if request.method == "OPTIONS" and response.status_code == 204:
            response.vary.update(("Access-Control-Request-Method", "Access-Control-Request-Headers"))
        return response

    def routes(self) -> Blueprint:
        """Preflights answered before any route, and every answer marked."""
        bp = Blueprint("gateway_cors", __name__)
        bp.before_app_request(self.preflight)
        bp.after_app_request(self.mark)
        return bp


def route_methods(path: str) -> list[str]:
    """The methods some route of this app accepts on `path` (without HEAD and OPTIONS), [] for no route."""
    allowed = current_app.url_map.bind("").allowed_methods(path)  # [] when nothing matches
    return [m for m in sorted(allowed) if m not in ("HEAD", "OPTIONS")]
