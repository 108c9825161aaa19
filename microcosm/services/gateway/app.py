"""The gateway put together: `create_app(config)` reads the config once, builds the parts, and gives each
group of routes what it needs.

The parts a request meets, in order: the edge checks (edge.py), then a route; a plain one (proxy.py) finds
its service and instance (routing.py), and every route admits the request with `Gateway.admit` below:

    the method allowed by the route?   else 405 with Allow
    a token needed?                    authenticate it (edge_auth.py): 401 / 403
    the caller's own resource?         (owner=True routes) else 403
    within the caller's rate?          take a token from their buckets (rate_limit.py): 429
    -> the caller's claims (or None), and the headers to send on (edge_auth.identity_headers)

Config (every key optional): `routes`, `replace_routes`, `upstreams`, `registry_url` (routing.py);
`identity_url`, `jwks_url`, `issuer`, `audience`, `token_verifier` (edge_auth.py); `rate_limit`,
`rate_limiter`, `rate_limit_prefix`, `redis_url` (rate_limit.py); `composition_timeouts` (composition.py);
`bff_timeouts` (bff.py, the mobile screen `/api/mobile/home`);
`cors_origins`, `cors_credentials`, `cors_max_age` (cors.py); `max_header_bytes` (edge.py); `front` (False: served
by waitress alone, without the asyncio front of front/), `fast_path` (False: the front reads every request with
aiohttp's parser, none straight from the bytes: front/fast.py); and what every service takes (`upstream_timeout`, ...).
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ..base import ApiError, create_service, error_response, require_admin
from . import bff, composition, edge, openapi, proxy, translation
from .cors import Cors
from .edge_auth import EdgeAuth, check_owner, identity_headers, sent_headers
from .rate_limit import RateLimits
from .routing import PUBLIC, Route, Upstreams, routes_from_config


class Gateway:
    """What the routes share: the routing table, where the services are, the token check, the rate limits."""

    def __init__(self, routes: list[Route], upstreams: Upstreams, auth: EdgeAuth, limits: RateLimits):
        self.routes, self.upstreams, self.auth, self.limits = routes, upstreams, auth, limits

    def admit(self, methods: dict, owner_segment: str | None = None) -> tuple[dict | None, dict]:
        """Steps 2 and 3 (authenticate, rate limit) for this request: (claims or None, headers to send on).
        (The asyncio front, front/plain.py, takes the same steps on its event loop.)"""
        scopes = self.scopes_for(request.method, request.path, methods)
        claims = self.auth.authenticate(scopes, request.headers.get("Authorization"),
                                        f"{request.method} {request.path}") if scopes is not PUBLIC else None
        check_owner(owner_segment, claims, request.path)
        try:
            g.rate = self.limits.check(claims, request.remote_addr)
        except ApiError as refused:
            g.rate = getattr(refused, "rate", None)
            raise
        environ = request.environ
        return claims, identity_headers(claims, sent_headers(environ), request.remote_addr, request.scheme,
                                        request.host, environ.get("HTTP_X_FORWARDED_FOR"))

    @staticmethod
    def scopes_for(method: str, path: str, methods: dict):
        """The scopes the route asks of this method (HEAD: GET's), or a 405 with Allow."""
        rule = "GET" if method == "HEAD" and "GET" in methods else method
        if rule not in methods:
            error = ApiError(405, f"{path} does not accept {method} (allowed: {', '.join(methods)})")
            error.headers = {"Allow": ", ".join(methods)}
            raise error
        return methods[rule]


def create_app(config: dict):
    app = create_service("gateway", config)  # its access log already blanks a token put in a URL by mistake
    routes = routes_from_config(config)
    auth = EdgeAuth(config)
    limits = RateLimits(config)
    cors = Cors.from_config(config)  # a bad origin in the list stops the launch here, with what is wrong
    edge_checks = edge.routes(int(config.get("max_header_bytes", 8192)))
    upstreams = Upstreams(config, {r.service for r in routes} | {"catalog", "stock"})
    gateway = Gateway(routes, upstreams, auth, limits)
    app.extensions["gateway"] = {"routes": routes, "upstreams": upstreams, "jwks": auth.jwks, "limiter": limits.limiter}
    app.extensions["gateway.parts"] = gateway  # what the asyncio front (front/) answers plain routes with

    app.register_blueprint(proxy.routes(gateway))
    app.register_blueprint(translation.routes(gateway))
    app.register_blueprint(composition.routes(gateway, config))
    app.register_blueprint(bff.routes(gateway, config))  # /api/mobile/home: one phone screen in one answer
    app.register_blueprint(edge_checks)
    app.register_blueprint(cors.routes())  # after the edge checks: a preflight's path is checked like any other
    app.register_error_handler(ApiError, answer_error)
    app.register_blueprint(openapi.routes(gateway))
    app.register_blueprint(status_route(gateway, cors))
    return app


def answer_error(exc: ApiError):
    """An ApiError as a JSON error, with the headers it carries (WWW-Authenticate, Retry-After, Allow)."""
    response = error_response(exc.code, exc.description, **exc.details)
    for name, value in getattr(exc, "headers", {}).items():
        response.headers[name] = value
    return response


def status_route(gateway: Gateway, cors: Cors) -> Blueprint:
    """/_gateway: the routing table, the instances, the keys it knows (for the operator: the launch secret)."""
    bp = Blueprint("gateway_status", __name__)

    @bp.get("/_gateway")
    def status():
        require_admin()  # the routing table and the upstreams' addresses are for the operator, not for clients
        return {
            "routes": [{"prefix": r.prefix, "service": r.service, "path": r.path, "methods": r.methods,
                        "owner": r.owner} for r in gateway.routes],
            "upstreams": gateway.upstreams.state(),
            "identity": gateway.auth.state(),
            "rate_limiter": type(gateway.limits.limiter).__name__ if gateway.limits.limiter is not None else None,
            "cors_origins": cors.state()["origins"],
            "cors": cors.state(),
            "front": current_app.extensions.get("gateway.front"),  # answered on its loop (read from bytes) / by this app
        }

    return bp
