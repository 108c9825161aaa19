"""The front put together: which half answers a request, what every answer of the loop gets, and `serve`.

A request goes to the loop's plain-route half (plain.py) when it is a GET, HEAD, POST, PUT or DELETE with no
`Origin` (CORS is the Flask app's), while no fault is injected at the gateway (`/_chaos`: the Flask app applies
it), and plain.py finds a plain route for it; everything else goes through the bridge (bridge.py) to the Flask
app. What the Flask app gives every answer (base.py), the loop gives its own: an `X-Request-ID`, a count in the
same `Metrics` that `/metrics` shows (under the same route names), a hop record in the same recorder, the same
access log line, and JSON errors; a service it could not reach gets a hop of its own, as `record_failed_call`
records it. A plain GET or HEAD is read straight from the connection's bytes and answered by the same plain.py
(fast.py), unless `fast_path=False` is in the config.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import urlsplit

from aiohttp import web
from flask import g

from ...aio import run, until_stopped
from ...balancer.fastpath import FastServer
from ...balancer.proxy import new_hop_id
from ...calls import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID
from ...errors import error_body
from ...metrics import method_label
from ..rate_limit import TokenBucket
from ..routing import RouteTable
from .bridge import TooBig, call_app, environ_of, fields_of, read_body, response_of
from .fast import FastFront
from .forward import Forwarder
from .plain import PLAIN_METHODS, Plain, by_url_map
from .redis_async import AsyncRedis

log = logging.getLogger("microcosm")
access_log = logging.getLogger("microcosm.access")
_CALLER, _CALLER_INSTANCE, _PARENT_HOP = CALLER.lower(), CALLER_INSTANCE.lower(), PARENT_HOP.lower()


class GatewayServer(FastServer):
    who = "gateway"  # "the gateway could not read the request: ..."


class Front(FastFront, Plain):
    def __init__(self, app, config: dict, threads: int, server: tuple):
        self.app, self.server = app, server
        self.gateway = gateway = app.extensions["gateway.parts"]
        self.name, self.instance = app.name, app.config["INSTANCE"]
        self.max_body = int(app.config["MAX_CONTENT_LENGTH"])
        self.max_header_bytes = int(config.get("max_header_bytes", 8192))
        self.access_log = bool(app.config.get("ACCESS_LOG", True))
        self.metrics, self.hops, self.chaos = app.extensions["metrics"], app.extensions["hops"], app.extensions["chaos"]
        self.table = RouteTable(gateway.routes)  # proxy.routes made the app's URL rules of it: the same endpoints
        self.endpoints = {f"gateway_routes.{endpoint}": route for _, endpoint, route in self.table.url_rules()}
        self.adapter = app.url_map.bind("localhost")
        self.by_url_map = by_url_map(self.table, [r.rule for r in app.url_map.iter_rules()
                                                  if r.endpoint not in self.endpoints])
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="gateway")
        limiter = gateway.limits.limiter
        self.redis = AsyncRedis(config["redis_url"]) if type(limiter) is TokenBucket else None
        self.forwarder = Forwarder(float(app.config["UPSTREAM_TIMEOUT"]))
        self.counts = {"on_the_loop": 0, "read_from_bytes": 0, "through_the_app": 0,  # /_gateway shows them (app.py's
                       "tokens_checked_in_a_thread": 0}  # status); the last: not cached, or the keys out of date
        app.extensions["gateway.front"] = self.counts

    async def in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args))

    def in_request(self, request_id: str, hop: str, fn, *args):
        """Run `fn` (in a thread) inside a Flask request of the app carrying this request's ids, so what it calls
        sees them as in a view: tokens.keys names the gateway, and this hop, when it fetches the JWKS."""
        with self.app.test_request_context():
            g.request_id, g.hop = request_id, hop
            return fn(*args)

    async def handle(self, request) -> web.StreamResponse:
        target = request.raw_path.encode("utf-8", "surrogateescape").decode("latin-1")  # the bytes, as waitress has them
        chaos = self.chaos
        if request.method in PLAIN_METHODS and not (chaos.delay_ms or chaos.fail_next or chaos.fail_rate):
            fields = fields_of(request)
            query = target.partition("?")[2].partition("#")[0].encode("latin-1")
            found = self.plain_route(request, target, query, fields) if "origin" not in fields else None
            if found is not None:
                self.counts["on_the_loop"] += 1
                try:
                    return await self.plain(request, *found, query, fields)
                except Exception:  # a bug of ours: a 500 that says so, the details in the log (as base.py does)
                    log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
                    return self.error(500, "internal error: the service logged the details")
        self.counts["through_the_app"] += 1
        return await self.bridge(request, target)

    async def bridge(self, request, target: str) -> web.StreamResponse:
        try:
            body = await read_body(request, self.max_body)
        except TooBig as big:
            response = self.error(413, f"the body is {big.args[0]} bytes; the limit is {self.max_body}")
            response.force_close()  # its body was not read
            return response
        environ = environ_of(request, body, self.server)
        environ["REQUEST_URI"] = target
        status, headers, data = await self.in_thread(call_app, self.app, environ)
        return response_of(status, headers, data, request.method)

    def error(self, status: int, message: str, request_id: str | None = None, headers: dict | None = None,
              **details) -> web.Response:
        """A JSON error as base.py's error_response makes it."""
        body = error_body(status, message, **details)
        if request_id:
            body["request_id"] = request_id
        out = {"Content-Type": "application/json", **(headers or {})}
        if request_id:
            out[REQUEST_ID] = request_id
        return web.Response(status=status, body=json.dumps(body, separators=(",", ":")).encode() + b"\n", headers=out)

    @staticmethod
    def answer(status: int, data: bytes, headers: dict, method: str) -> web.Response:
        if method == "HEAD":
            headers.setdefault("Content-Length", str(len(data)))
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=data, headers=headers)

    def account(self, method, path, query: bytes, rule, fields, status, started, request_id, hop) -> None:
        """What base.py's finish_request does for every answer: count it, record its hop, log it."""
        ms = (time.perf_counter() - started) * 1000
        self.metrics.record(f"{method} {rule}", status, ms)
        caller = fields.get(_CALLER, "client")
        if self.hops is not None:
            self.hops.record(request_id=request_id, hop=hop, parent=fields.get(_PARENT_HOP, ""), caller=caller,
                             caller_instance=fields.get(_CALLER_INSTANCE, caller), callee=self.name,
                             instance=self.instance, method=method_label(method), path=path, status=status,
                             ms=round(ms, 3), error="")
        if self.access_log:
            shown = path + ("?" + query.decode("latin-1") if query else "")
            access_log.info("%s %s %s -> %s %.1f ms [request %s, from %s]", self.name, method_label(method), shown,
                            status, ms, request_id, caller)

    def record_failed(self, method, url, upstream, error, started, request_id, hop) -> None:
        """A service that could not answer records nothing: the gateway records that hop (record_failed_call)."""
        if self.hops is not None:
            self.hops.record(request_id=request_id, hop=new_hop_id(), parent=hop, caller=self.name,
                             caller_instance=self.instance, callee=upstream, instance="", method=method,
                             path=urlsplit(url).path or "/", status=error.code,
                             ms=round((time.perf_counter() - started) * 1000, 3), error=error.description)

    async def close(self) -> None:
        self.forwarder.close()
        if self.redis is not None:
            self.redis.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.hops is not None:
            self.hops.flush()


def serve(app, sock, config: dict, threads: int = 8) -> None:
    """Serve the gateway's Flask `app` on `sock` behind the front, until SIGTERM/SIGINT (serve.py calls it)."""
    async def main():
        front = Front(app, config, threads, sock.getsockname()[:2])
        server = GatewayServer(front.handle, front, fast=bool(config.get("fast_path", True)), access_log=None,
                               handler_cancellation=False)
        listening = await asyncio.get_running_loop().create_server(server, sock=sock, backlog=1024)
        await until_stopped()
        listening.close()
        await front.close()

    run(main)
