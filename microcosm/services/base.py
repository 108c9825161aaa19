"""What every microcosm service shares: `create_service(name, config)`, a Flask app that already has

- `GET /health` and `GET /metrics` (request counts and latency by route: metrics.py);
- an `X-Request-ID` on every request (taken from the caller or made here), passed on by `call(...)` (calls.py),
  and a hop record of every request it answers, sent to Redis off the request's path (traffic/hops.py);
- JSON errors for every 4xx and 5xx, never an HTML page or a traceback (errors.py);
- a body size limit (413), and `read_json(...)` that checks content type (415), JSON syntax and each
  field's type (400 naming the field) (inputs.py);
- `/_chaos`, to make a service slow or failing on purpose, for holders of the launch secret (chaos.py).

A service imports all it needs from here: `from microcosm.services.base import create_service, read_json, Int`.
This module holds the app factory; each idea it puts together lives in the module named above.
"""
from __future__ import annotations

import logging
import time
import traceback

from flask import Blueprint, Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from ..traffic.hops import HopRecorder, new_hop_id
from .calls import (CALLER, CALLER_INSTANCE, DEFAULT_TIMEOUT, PARENT_HOP, REQUEST_ID, call, record_failed_call,
                    request_id_from)
from .chaos import Chaos, chaos_routes, require_admin
from .errors import ApiError, InvalidInput, UpstreamError, error_body, error_response, found
from .inputs import Bool, Field, Int, Number, Obj, Str, query_int, read_json, whole_number
from .metrics import KNOWN_METHODS, Metrics, method_label
from .redaction import redact_access_log

_record_failed_call = record_failed_call  # the gateway's old name for it; import record_failed_call instead

__all__ = [
    "create_service", "config_of", "INFRA_ROUTES", "DEFAULT_MAX_BODY",
    "ApiError", "InvalidInput", "UpstreamError", "error_body", "error_response", "found",
    "Field", "Int", "Number", "Str", "Bool", "Obj", "read_json", "whole_number", "query_int",
    "call", "record_failed_call", "request_id_from", "REQUEST_ID", "CALLER", "CALLER_INSTANCE", "PARENT_HOP", "DEFAULT_TIMEOUT",
    "Metrics", "method_label", "KNOWN_METHODS", "Chaos", "require_admin",
]

INFRA_ROUTES = ("/health", "/metrics", "/_chaos")  # not traffic: no chaos applied, no hop recorded
DEFAULT_MAX_BODY = 64 * 1024
log = logging.getLogger("microcosm")
access_log = logging.getLogger("microcosm.access")


class _JSON(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deeply for the parser (`[[[[...]]]]`, 30,000 levels) is invalid
    JSON like any other (a 400), not a RecursionError (a 500)."""

    sort_keys = False

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


class _Int(IntegerConverter):
    """Flask's <int:...>, bounded to what SQLite can store (a 64-bit signed integer)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def create_service(name: str, config: dict | None = None) -> Flask:
    """A Flask app with everything a microcosm service shares. Add your routes to it."""
    config = dict(config or {})
    app = Flask(name)
    app.json = _JSON(app)
    app.url_map.converters["int"] = _Int  # /products/99999999999999999999 is a 404, not SQLite's OverflowError
    app.config.update(
        SERVICE_NAME=name,
        SERVICE_CONFIG=config,
        MAX_CONTENT_LENGTH=int(config.get("max_body", DEFAULT_MAX_BODY)),
        UPSTREAM_TIMEOUT=float(config.get("upstream_timeout", DEFAULT_TIMEOUT)),
        ACCESS_LOG=bool(config.get("access_log", True)),
        INSTANCE=str(config.get("name", name)),
    )
    redact_access_log()  # a password or token put in a URL by mistake never reaches the log
    app.extensions["hops"] = HopRecorder(config["traffic_redis"]) if config.get("traffic_redis") else None
    if config.get("registry_url") and config.get("url"):
        from ..discovery import Registration  # only a service that registers itself loads the registry client

        app.extensions["registration"] = Registration(
            config["registry_url"], name, app.config["INSTANCE"], config["url"],
            ttl=float(config.get("registry_ttl", 3.0)), metadata=config.get("metadata") or {})
    app.extensions["metrics"] = metrics = Metrics()
    app.extensions["chaos"] = chaos = Chaos()
    app.register_blueprint(_infra_routes(name, metrics))
    app.register_blueprint(chaos_routes(chaos))

    @app.before_request
    def start_request():
        g.request_id = request_id_from(request.headers.get(REQUEST_ID))
        g.hop = new_hop_id()
        g.started = time.perf_counter()
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(413, f"the body is {request.content_length} bytes; the limit is {limit}")
        if request.path not in INFRA_ROUTES:
            chaos.apply()

    @app.after_request
    def finish_request(response):
        response.headers[REQUEST_ID] = g.get("request_id", "")
        route = request.url_rule.rule if request.url_rule else "(no route)"
        ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        metrics.record(f"{request.method} {route}", response.status_code, ms)
        if request.path in INFRA_ROUTES:
            return response
        caller = request.headers.get(CALLER, "client")
        if app.extensions["hops"] is not None and not g.get("not_a_hop"):
            app.extensions["hops"].record(
                request_id=g.get("request_id"), hop=g.get("hop"), parent=request.headers.get(PARENT_HOP, ""),
                caller=caller, caller_instance=request.headers.get(CALLER_INSTANCE, caller), callee=name,
                instance=app.config["INSTANCE"], method=method_label(request.method), path=request.path,
                status=response.status_code, ms=round(ms, 3), error="")
        if app.config.get("ACCESS_LOG", True):
            access_log.info("%s %s %s -> %s %.1f ms [request %s, from %s]", name, method_label(request.method),
                            request.full_path.rstrip("?"), response.status_code, ms, g.get("request_id"), caller)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if isinstance(exc, NotFound) and not isinstance(exc, ApiError):
            message = f"{name} has no route {request.path}"
        elif isinstance(exc, MethodNotAllowed):
            message = f"{name} does not accept {request.method} on {request.path} (allowed: {', '.join(sorted(set(exc.valid_methods or []) - {'HEAD', 'OPTIONS'}))})"
        response = error_response(exc.code or 500, message, **getattr(exc, "details", {}))
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
        return error_response(500, "internal error: the service logged the details")

    return app


def _infra_routes(name: str, metrics: Metrics) -> Blueprint:
    bp = Blueprint("microcosm_infra", __name__)

    @bp.get("/health")
    def health():
        return {"status": "ok", "service": name}

    @bp.get("/metrics")
    def get_metrics():
        return {"service": name, **metrics.snapshot()}

    return bp


def config_of(app: Flask | None = None) -> dict:
    """The config dict the service was created with (`create_app(config)`), from inside a request."""
    return (app or current_app).config["SERVICE_CONFIG"]
