"""What every microcosm service shares, in one place.

`create_service(name, config)` gives a Flask app that already has:

- `GET /health` and `GET /metrics` (request counts and latency by route);
- an `X-Request-ID` on every request (taken from the caller or made here) and passed on by `call(...)`;
- JSON errors for every 4xx and 5xx, never an HTML page or a traceback;
- a body size limit (413), and `read_json(...)` that checks content type (415), JSON syntax and each
  field's type (400 naming the field);
- `call(...)` for outbound HTTP with a timeout, turning a dead or slow upstream into a 503 or 504;
- `/_chaos`, to make a service slow or failing on purpose (for the fault-injection cells and the graders).
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time
import traceback
import uuid
from collections import defaultdict, deque
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Flask, current_app, g, has_request_context, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from .. import trust
from ..traffic.hops import HopRecorder, new_hop_id
from .redaction import redact_access_log

REQUEST_ID = "X-Request-ID"
CALLER = "X-Caller"  # the calling service
CALLER_INSTANCE = "X-Caller-Instance"  # and which instance of it
PARENT_HOP = "X-Parent-Hop"  # the caller's hop id: a request's hops form a tree
INFRA_ROUTES = ("/health", "/metrics", "/_chaos")
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_TIMEOUT = 2.0
log = logging.getLogger("microcosm")
access_log = logging.getLogger("microcosm.access")


# --- errors ----------------------------------------------------------------------------------------
class ApiError(HTTPException):
    """An error answer with a status and a message; extra keyword arguments go into the JSON body."""

    def __init__(self, status: int, message: str, **details):
        self.code = status
        super().__init__(description=message)
        self.details = details


class InvalidInput(ApiError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(400, message, **({"field": field} if field else {}))


class UpstreamError(ApiError):
    """An upstream service could not be reached (503) or did not answer in time (504)."""

    def __init__(self, upstream: str, message: str, status: int = 503):
        super().__init__(status, message, upstream=upstream)
        self.upstream = upstream


def error_body(status: int, message: str, **details) -> dict:
    body = {"error": _error_name(status), "message": message, "status": status}
    body.update(details)
    if has_request_context() and "request_id" in g:
        body["request_id"] = g.request_id
    return body


def error_response(status: int, message: str, **details):
    """A JSON error answer, for handlers that turn an exception into one."""
    response = jsonify(error_body(status, message, **details))
    response.status_code = status
    return response


def _error_name(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_").replace("-", "_")


def require_admin() -> None:
    """Refuse this request (401/403) unless it carries the launch secret (see microcosm/trust.py)."""
    refusal = trust.admin_refusal(request.headers.get(trust.ADMIN_HEADER))
    if refusal is not None:
        raise ApiError(*refusal, reason="admin_only")


# --- reading input ---------------------------------------------------------------------------------
class Field:
    """One expected JSON field: its type, whether it is required, its limits."""

    kind = "value"
    types: tuple = (object,)

    def __init__(self, required: bool = True, default=None, **limits):
        self.required, self.default, self.limits = required, default, limits

    def check(self, name: str, value):
        if not isinstance(value, self.types) or isinstance(value, bool) and bool not in self.types:
            raise InvalidInput(f"field '{name}' must be {self.kind}, got {_json_type(value)}", name)
        low, high = self.limits.get("min"), self.limits.get("max")
        size = len(value) if isinstance(value, str) else value
        what = "length" if isinstance(value, str) else "value"
        if low is not None and size < low:
            raise InvalidInput(f"field '{name}' {what} must be at least {low}", name)
        if high is not None and size > high:
            raise InvalidInput(f"field '{name}' {what} must be at most {high}", name)
        return value


class Int(Field):
    kind, types = "an integer", (int,)


class Number(Field):
    kind, types = "a number", (int, float)


class Str(Field):
    kind, types = "a string", (str,)


class Bool(Field):
    kind, types = "true or false", (bool,)


class Obj(Field):
    kind, types = "an object", (dict,)


def _json_type(value) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def read_json(**fields: Field) -> dict:
    """The request's JSON object, checked against `fields`; a 4xx that says what is wrong otherwise."""
    if not request.mimetype == "application/json":
        raise ApiError(415, f"send JSON with 'Content-Type: application/json' (got '{request.mimetype or 'none'}')")
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput("the body is not valid JSON")
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object, got {_json_type(body)}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}' (expected: {', '.join(fields)})", unknown[0])
    out = {}
    for name, field in fields.items():
        if name not in body:
            if field.required:
                raise InvalidInput(f"field '{name}' is required", name)
            out[name] = field.default
        else:
            out[name] = field.check(name, body[name])
    return out


_WHOLE = re.compile(r"-?[0-9]{1,18}")


def whole_number(text, low: int, high: int) -> int | None:
    """`text` as an integer if it is a plain decimal one ("42", "-3") from low to high, else None.
    ("²".isdigit() is True and "1_0", " 7", "0x10" are all things int() accepts: none is a number here.)"""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def query_int(name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name` as an integer from low to high (default when absent), or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise InvalidInput(f"query parameter '{name}' must be an integer from {low} to {high}", name)
    return value


# --- calling other services ------------------------------------------------------------------------
_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_sessions, "s"):
        _sessions.s = requests.Session()
    return _sessions.s


def call(method: str, url: str, *, upstream: str = "upstream", timeout: float | None = None,
         **kwargs) -> requests.Response:
    """One HTTP call to another service, with a timeout and this request's id.

    A refused connection raises UpstreamError (503), a timeout UpstreamError (504): both become JSON errors
    if not caught. Any HTTP answer, 4xx and 5xx included, is returned for the caller to judge.
    """
    if timeout is None:
        timeout = current_app.config.get("UPSTREAM_TIMEOUT", DEFAULT_TIMEOUT) if has_request_context() else DEFAULT_TIMEOUT
    headers = dict(kwargs.pop("headers", None) or {})
    if has_request_context():
        headers.setdefault(REQUEST_ID, g.get("request_id", ""))
        headers.setdefault(CALLER, current_app.name)
        headers.setdefault(CALLER_INSTANCE, current_app.config["INSTANCE"])
        headers.setdefault(PARENT_HOP, g.get("hop", ""))
    started = time.perf_counter()
    try:
        return _session().request(method, url, headers=headers, timeout=(min(timeout, 1.0), timeout), **kwargs)
    except requests.Timeout:
        error = UpstreamError(upstream, f"{upstream} did not answer within {timeout:g} s", 504)
    except requests.ConnectionError:
        error = UpstreamError(upstream, f"{upstream} is unreachable (connection refused or reset)", 503)
    _record_failed_call(method, url, upstream, error, started)
    raise error


def _record_failed_call(method: str, url: str, upstream: str, error: "UpstreamError", started: float) -> None:
    """The callee could not record this hop (it is dead or stuck), so the caller records it as an error."""
    if not has_request_context() or current_app.extensions.get("hops") is None:
        return
    path = urlsplit(url).path or "/"
    current_app.extensions["hops"].record(
        request_id=g.get("request_id", ""), hop=new_hop_id(), parent=g.get("hop", ""),
        caller=current_app.name, caller_instance=current_app.config["INSTANCE"], callee=upstream, instance="",
        method=method, path=path, status=error.code, ms=round((time.perf_counter() - started) * 1000, 3),
        error=error.description)


# --- metrics ---------------------------------------------------------------------------------------
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})


def method_label(method: str) -> str:
    """The method as metrics and hop records name it: any method not in the HTTP standard is "OTHER", so a
    client inventing methods cannot add a new entry (and memory) per request."""
    return method if method in KNOWN_METHODS else "OTHER"


class Metrics:
    """Request counts and latencies by route ("METHOD /route"), kept in this process."""

    def __init__(self, window: int = 1000):
        self.lock = threading.Lock()
        self.started = time.time()
        self.routes: dict = defaultdict(lambda: {"count": 0, "errors": 0, "statuses": defaultdict(int),
                                                 "latencies": deque(maxlen=window)})

    def record(self, route: str, status: int, ms: float) -> None:
        method, _, rest = route.partition(" ")
        route = f"{method_label(method)} {rest}"
        with self.lock:
            r = self.routes[route]
            r["count"] += 1
            r["errors"] += status >= 500
            r["statuses"][str(status)] += 1
            r["latencies"].append(ms)

    def snapshot(self) -> dict:
        with self.lock:
            routes = {}
            for route, r in sorted(self.routes.items()):
                lat = sorted(r["latencies"])
                routes[route] = {
                    "count": r["count"], "errors": r["errors"], "statuses": dict(r["statuses"]),
                    "latency_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "p99": _pct(lat, 99),
                                   "max": round(lat[-1], 3) if lat else None},
                }
            return {"uptime_s": round(time.time() - self.started, 3), "routes": routes}


def _pct(sorted_values: list, p: float):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return round(sorted_values[i], 3)


# --- chaos -----------------------------------------------------------------------------------------
class Chaos:
    """Faults on purpose: a delay on every request, the next N failing, or a share of them failing."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.delay_ms, self.fail_next, self.fail_rate, self.fail_status = 0, 0, 0.0, 503

    def state(self) -> dict:
        return {"delay_ms": self.delay_ms, "fail_next": self.fail_next, "fail_rate": self.fail_rate,
                "fail_status": self.fail_status}

    def apply(self):
        with self.lock:
            delay, fail = self.delay_ms, False
            if self.fail_next > 0:
                self.fail_next -= 1
                fail = True
            elif self.fail_rate and random.random() < self.fail_rate:
                fail = True
            status = self.fail_status
        if delay:
            time.sleep(delay / 1000)
        if fail:
            raise ApiError(status, "failure injected by /_chaos")


# --- the app ---------------------------------------------------------------------------------------
class _JSON(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deeply for the parser (`[[[[...]]]]`, 30,000 levels) is invalid
    JSON like any other (a 400), not a RecursionError (a 500)."""

    sort_keys = False

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def create_service(name: str, config: dict | None = None) -> Flask:
    """A Flask app with everything a microcosm service shares. Add your routes to it."""
    config = dict(config or {})
    app = Flask(name)
    app.json = _JSON(app)
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
        from ..discovery import Registration

        app.extensions["registration"] = Registration(
            config["registry_url"], name, app.config["INSTANCE"], config["url"],
            ttl=float(config.get("registry_ttl", 3.0)), metadata=config.get("metadata") or {})
    app.extensions["metrics"] = metrics = Metrics()
    app.extensions["chaos"] = chaos = Chaos()
    app.register_blueprint(_infra_routes(name, metrics, chaos))

    @app.before_request
    def start_request():
        g.request_id = request.headers.get(REQUEST_ID) or uuid.uuid4().hex
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


def _infra_routes(name: str, metrics: Metrics, chaos: Chaos) -> Blueprint:
    bp = Blueprint("microcosm_infra", __name__)

    @bp.get("/health")
    def health():
        return {"status": "ok", "service": name}

    @bp.get("/metrics")
    def get_metrics():
        return {"service": name, **metrics.snapshot()}

    @bp.route("/_chaos", methods=["GET", "PUT", "DELETE"])
    def set_chaos():
        require_admin()
        if request.method == "PUT":
            body = read_json(delay_ms=Int(required=False, min=0, max=60000),
                             fail_next=Int(required=False, min=0, max=1_000_000),
                             fail_rate=Number(required=False, min=0, max=1),
                             fail_status=Int(required=False, min=400, max=599))
            with chaos.lock:
                for key, value in body.items():
                    if value is not None:
                        setattr(chaos, key, value)
        elif request.method == "DELETE":
            with chaos.lock:
                chaos.reset()
        return chaos.state()

    return bp


def config_of(app: Flask | None = None) -> dict:
    return (app or current_app).config["SERVICE_CONFIG"]
