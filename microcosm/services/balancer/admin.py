"""The balancer's own routes, and its JSON answer to a request it cannot even read.

    GET /health                   anyone: is the balancer itself up
    GET /metrics                  anyone: its request counts and latencies, and each backend's counts
    GET /_balancer/status         admin: every backend's state, the strategy, the settings
    GET|PUT /_balancer/strategy   admin: which strategy picks; switch it at run time
    GET|PUT /_balancer/backends   admin: the backends; replace them (not when they come from the registry)

Every other path is proxied (proxy.py). The `/_balancer/*` routes change what the balancer does (a strategy
can be loaded from a file), so they answer only a caller that sends the launch secret (`trust.ADMIN_HEADER`,
which the runtime gives the notebook's `Service` handles): anyone else on the machine gets a 401 or 403.
A PUT's body is a small JSON object whose every field is checked; what is wrong gets a 4xx that says so.

aiohttp answers a request it cannot parse (a bad method, header or length) before the balancer sees it, in
plain text; `_JSONErrors` makes that a JSON error too, like every microcosm service's.
"""
from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from ... import trust
from ..base import REQUEST_ID, request_id_from
from .backends import parse_backends
from .strategies import check_options, make_strategy, strategy_name

log = logging.getLogger("microcosm.balancer")
MAX_BODY = 64 * 1024  # an admin request's JSON body


class _BadInput(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class Admin:
    """The balancer's own API. The `Balancer` (server.py) mixes it in and sets what it uses: `name`, `service`,
    `source`, `strategy`, `backends`, `weights`, `metrics`, the settings, `set_backends`, `available`, `error`."""

    async def admin(self, request):
        path, method = request.path, request.method
        routes = {"/health": ("GET",), "/metrics": ("GET",), "/_balancer/status": ("GET",),
                  "/_balancer/strategy": ("GET", "PUT"), "/_balancer/backends": ("GET", "PUT")}
        request_id = request_id_from(request.headers.get(REQUEST_ID))
        if path not in routes:
            return self.error(404, f"the balancer has no route {path} (its own: {', '.join(routes)})", request_id)
        if method not in routes[path]:
            response = self.error(405, f"the balancer does not accept {method} on {path} "
                                       f"(allowed: {', '.join(routes[path])})", request_id)
            response.headers["Allow"] = ", ".join(routes[path])
            return response
        if path.startswith("/_balancer/"):  # its admin API: only for whoever holds the launch secret
            refusal = trust.admin_refusal(request.headers.get(trust.ADMIN_HEADER))
            if refusal is not None:
                return self.error(*refusal, request_id, reason="admin_only")
        json_response = web.json_response
        if path == "/health":
            return json_response({"status": "ok", "service": "balancer", "name": self.name})
        if path == "/metrics":
            return json_response({"service": "balancer", **self.metrics.snapshot(), "backends": {
                b.id: {"served": b.served, "failures": b.failures, "in_flight": b.in_flight, "state": b.state}
                for b in self.backends}})
        if path == "/_balancer/status":
            return json_response(self.status())
        if method == "GET" and path.endswith("/strategy"):
            return json_response({"strategy": strategy_name(self.strategy)})
        if method == "GET":
            return json_response({"backends": [b.as_dict() for b in self.backends]})
        try:
            body = await self._read_json(request)
            if path.endswith("/strategy"):
                return json_response(self._put_strategy(body))
            return json_response(self._put_backends(body))
        except _BadInput as bad:
            return self.error(bad.status, bad.message, request_id, **({"field": bad.field} if bad.field else {}))

    async def _read_json(self, request) -> dict:
        if request.content_type != "application/json":
            raise _BadInput(415, f"send JSON with 'Content-Type: application/json' "
                                 f"(got '{request.content_type or 'none'}')")
        if (request.content_length or 0) > MAX_BODY:
            raise _BadInput(413, "the body is over the 64 KiB limit")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise _BadInput(413, "the body is over the 64 KiB limit")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _BadInput(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            raise _BadInput(400, "the body must be a JSON object")
        return body

    def _put_strategy(self, body: dict) -> dict:
        unknown = sorted(set(body) - {"strategy", "options"})
        if unknown:
            raise _BadInput(400, f"unknown field '{unknown[0]}' (expected: strategy, options)", unknown[0])
        if not isinstance(body.get("strategy"), str) or not body["strategy"]:
            raise _BadInput(400, "field 'strategy' is required: a name such as 'round_robin' "
                                 "or 'file.py:ClassOrFunction'", "strategy")
        options = body.get("options") or {}
        try:
            options = check_options(options)
        except ValueError as exc:
            raise _BadInput(400, f"field 'options': {exc}", "options")
        try:
            self.strategy = make_strategy(body["strategy"], **options)
        except TypeError as exc:
            raise _BadInput(400, f"options do not fit strategy {body['strategy']!r}: {exc}", "options")
        except (ValueError, ImportError, AttributeError, FileNotFoundError, SyntaxError) as exc:
            raise _BadInput(400, str(exc), "strategy")
        log.info("%s: strategy is now %s", self.name, strategy_name(self.strategy))
        return {"strategy": strategy_name(self.strategy)}

    def _put_backends(self, body: dict) -> dict:
        if self.source == "registry":
            raise _BadInput(409, "this balancer takes its backends from the registry; register or stop "
                                 "instances there instead")
        unknown = sorted(set(body) - {"backends"})
        if unknown:
            raise _BadInput(400, f"unknown field '{unknown[0]}' (expected: backends)", unknown[0])
        if "backends" not in body:
            raise _BadInput(400, "field 'backends' is required: a list of URLs", "backends")
        try:
            self.set_backends(parse_backends(body["backends"], self.weights))
        except ValueError as exc:
            raise _BadInput(400, str(exc), "backends")
        return {"backends": [b.as_dict() for b in self.backends]}

    def status(self) -> dict:
        return {"name": self.name, "service": self.service, "strategy": strategy_name(self.strategy),
                "source": self.source, "backends": [b.as_dict() for b in self.backends],
                "available": len(self.available()),
                "fast_path": {"on": self.fast_path, "requests": self.fast_served,
                              "relay": self.fast_path and self.relay, "relayed": self.relayed,
                              "relayed_whole": self.relayed_whole},
                "settings": {"timeout_s": self.timeout, "connect_timeout_s": self.connect_timeout,
                             "health_interval_s": self.health_interval, "unhealthy_threshold": self.down_after,
                             "healthy_threshold": self.up_after, "eject_after": self.eject_after,
                             "eject_for_s": self.eject_for}}


# --- a request aiohttp could not parse -----------------------------------------------------------------
class _JSONErrors(RequestHandler):
    """aiohttp answers a request it cannot parse (a bad method, header or length) itself, in plain text; the
    balancer answers it in JSON like every microcosm service, saying what was wrong (never echoing the bytes)."""

    def handle_error(self, request, status=500, exc=None, message=None):
        if request.writer.output_size > 0:  # part of an answer went out already: only closing is left
            raise ConnectionError("the answer has started; it cannot become an error")
        if isinstance(exc, LineTooLong):  # a request line or a header field over MAX_LINE bytes
            status = 431
        what = (message or "").split("\n", 1)[0].split(":", 1)[0][:200] or HTTPStatus(status).phrase
        if status >= 500:
            log.error("balancer: error handling a request: %s", what, exc_info=exc)
        body = {"error": HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"),
                "message": f"the {getattr(self._manager, 'who', 'balancer')} could not read the request: {what}",
                "status": status}
        response = web.json_response(body, status=status)
        response.force_close()
        return response


MAX_CONNECTIONS = 256  # open client connections per server (waitress's services: 200)
MAX_LINE = 8190  # bytes in the request line, and in each header field (aiohttp's default; nginx's is 8 KiB)
MAX_HEADERS = 64  # header fields in one request: with MAX_LINE, at most 512 KiB of head per connection


class JSONErrorServer(web.Server):
    """aiohttp's low-level server, with `_JSONErrors` (or `connection_handler()`) as the handler of each
    connection (`who` names the server in its errors: the balancer, the cdn edge, the gateway's front).

    Memory stays bounded whatever clients send: a request line or header field over MAX_LINE bytes is a 431,
    more than MAX_HEADERS fields a 400, and beyond MAX_CONNECTIONS open connections a new one gets a 503 in JSON
    and is closed (each connection may hold one request's head while it is read: without a limit on their
    number, slow clients sending heads could take all the memory there is)."""

    who = "balancer"
    max_connections = MAX_CONNECTIONS

    def __init__(self, handler, **kwargs):
        kwargs.setdefault("max_line_size", MAX_LINE)
        kwargs.setdefault("max_field_size", MAX_LINE)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        super().__init__(handler, **kwargs)

    def connection_handler(self) -> type:
        return _JSONErrors

    def __call__(self):
        if len(self._connections) >= self.max_connections:
            return _Refused(self.who, self.max_connections)
        return self.connection_handler()(self, loop=self._loop, **self._kwargs)


class _Refused(asyncio.Protocol):
    """A connection over the server's limit: a 503 in JSON with Retry-After, then closed."""

    def __init__(self, who: str, limit: int):
        self.who, self.limit = who, limit

    def connection_made(self, transport):
        body = json.dumps({"error": "service_unavailable", "status": 503,
                           "message": f"the {self.who} has {self.limit} connections open, its limit: try again "
                                      "in a moment"}).encode()
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(body), body))
        transport.close()  # after the answer is written; whatever the client sends meanwhile is not read

    def data_received(self, data):
        pass
