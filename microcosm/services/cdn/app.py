"""The edge put together: its settings, the request's way in and out (hop record, metrics), and `serve`.

`Edge` is made of `Flow` (flow.py: serve, revalidate, fetch, pass through) and `Admin` (admin.py: its own
routes), served by `EdgeServer` (fastpath.py: aiohttp's low-level server, which answers fresh hits before
aiohttp builds a request); this module holds what they share and what every request goes through:

- a request target must be origin-form (`/path?query`) without `.` or `..` segments (also %2e-encoded): the
  edge keys its store by the target, and `/a/../b` must neither be a second copy of `/b` nor reach the
  origin as something else than what was stored. Anything else is a 400 in JSON;
- every answer is counted by its X-Cache state and recorded as a hop (client -> cdn) carrying
  `cache` (hit, miss, stale, revalidated, or pass for what was passed through), `bytes` (the body bytes
  sent to the client) and `region`; a failed trip to the origin is a hop of its own (cdn -> origin);
- a plug-in that fails (your freshness code, or storable rule) gives that request a 500 saying so (plugin.py).
"""
from __future__ import annotations

import asyncio
import logging
import re
import socket
import time

from werkzeug.http import HTTP_STATUS_CODES
from aiohttp import web

from ..aio import run, until_stopped
from ..balancer.proxy import new_hop_id
from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, Metrics, method_label, request_id_from
from .admin import ROUTES, STATES, Admin
from .collapsing import Collapser
from .fastpath import EdgeServer
from .flow import PASS_THROUGH, Flow
from .origin import Origin
from .plugin import Checked, PluginFailed, load_freshness, load_storable
from .storage import Store

log = logging.getLogger("microcosm.cdn")
DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)


class Exchange:
    """One client request on its way through the edge, and what the edge did with it."""
    __slots__ = ("request", "key", "request_id", "hop_id", "client", "started", "state", "error", "bytes",
                 "pass_through")

    def __init__(self, request):
        self.request, self.key = request, request.raw_path
        self.request_id = request_id_from(request.headers.get(REQUEST_ID))
        self.hop_id, self.client, self.started = new_hop_id(), request.remote or "", time.perf_counter()
        self.state, self.error, self.bytes, self.pass_through = "MISS", "", 0, False


def target_problem(target: str) -> str | None:
    if not target.startswith("/"):
        return "the edge takes origin-form request targets (/path?query)"
    if DOT_SEGMENT.search(target.split("?", 1)[0]):
        return "the path has '.' or '..' segments: ask for the path they stand for"
    return None


class Edge(Flow, Admin):
    def __init__(self, config: dict):
        self.config = config
        self.name = str(config.get("name", "cdn"))
        self.region = str(config.get("region", ""))
        if not config.get("origin"):
            raise ValueError("the edge needs origin='http://host:port': where it fetches what it caches")
        self.origin = Origin(str(config["origin"]), self.name, delay_ms=float(config.get("origin_delay_ms", 0)),
                             connect_timeout=float(config.get("connect_timeout", 1.0)),
                             timeout=float(config.get("timeout", 10.0)),
                             max_object=int(config.get("max_object", 1 << 20)))
        self.origin_service = str(config.get("origin_service", "origin"))  # the origin's name in hop records
        self.store = Store(int(config.get("max_bytes", 32 << 20)))
        self.fresh = Checked(load_freshness(config.get("freshness")))
        self.storable = load_storable(config.get("storable"))
        self.collapser = Collapser(wait=self.origin.timeout + self.origin.delay)
        self.max_body = int(config.get("max_body", 1 << 20))
        self.tasks: set = set()
        self.metrics = Metrics()
        self.counts = dict.fromkeys(STATES, 0)
        self.bytes_from_store = self.invalidated = 0
        self.hops = None
        if config.get("traffic_redis"):
            from ...traffic.hops import HopRecorder

            self.hops = HopRecorder(config["traffic_redis"])

    def settings(self) -> dict:
        return {"origin": self.origin.url, "region": self.region, "origin_delay_ms": self.origin.delay * 1000,
                "max_bytes": self.store.max_bytes, "max_object": self.origin.max_object, "max_body": self.max_body,
                "timeout_s": self.origin.timeout, "freshness": self.fresh.name, "storable": self.storable.__name__}

    async def handle(self, request) -> web.StreamResponse:
        if request.path in ROUTES or request.path.startswith("/_cdn/"):
            return await self.admin(request)
        ex = Exchange(request)
        problem = target_problem(ex.key)
        try:
            if problem is not None:
                response = self.error(400, problem, ex.request_id)
            elif request.method in ("GET", "HEAD") and not any(h in request.headers for h in PASS_THROUGH):
                response = await self.cached(ex)
            else:
                response = await self.pass_through(ex)
        except PluginFailed as exc:
            log.error("%s: %s", self.name, exc)
            ex.error = str(exc)
            response = self.error(500, f"a plug-in failed: {exc}", ex.request_id)
        self.finish(ex, response)
        return response

    def bad_target(self, target: str) -> bool:
        return target_problem(target) is not None

    def finish(self, ex: Exchange, response) -> None:
        self.account(ex.request.method, ex.request.path, ex.request.headers, response.status, ex.started,
                     "PASS" if ex.pass_through else ex.state, ex.bytes, ex.error, ex.request_id, ex.hop_id)

    def account(self, method, path, headers, status, started, state, sent, error, request_id, hop_id) -> None:
        """Count an answer by its X-Cache state, time it, and record its hop (client -> cdn)."""
        self.counts[state] += 1
        if state in ("HIT", "STALE"):
            self.bytes_from_store += sent
        ms = (time.perf_counter() - started) * 1000
        self.metrics.record(f"{method} (edge)", status, ms)
        if self.hops is not None:
            self.hops.record(request_id=request_id, hop=hop_id, parent=headers.get(PARENT_HOP, ""),
                             caller=headers.get(CALLER, "client"), caller_instance=headers.get(CALLER_INSTANCE, ""),
                             callee="cdn", instance=self.name, method=method_label(method), path=path,
                             status=status, ms=round(ms, 3), error=error, cache=state.lower(), bytes=sent,
                             region=self.region)

    def record_origin_failure(self, ex: Exchange, failed) -> None:
        """The origin could not answer: it recorded nothing, so the edge records the hop to it."""
        if self.hops is not None:
            self.hops.record(request_id=ex.request_id, hop=new_hop_id(), parent=ex.hop_id, caller="cdn",
                             caller_instance=self.name, callee=self.origin_service, instance=self.origin.netloc,
                             method=method_label(ex.request.method), path=ex.request.path, status=failed.status,
                             ms=0, error=failed.message)

    def error(self, status: int, message: str, request_id: str | None = None, **details) -> web.Response:
        """A JSON error like every microcosm service's, with Age and X-Cache like every edge answer."""
        body = {"error": HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_").replace("-", "_"),
                "message": message, "status": status, **details}
        headers = {"Age": "0", "X-Cache": "MISS"}
        if request_id:
            body["request_id"] = headers[REQUEST_ID] = request_id
        return web.json_response(body, status=status, headers=headers)

    async def start(self, sock: socket.socket) -> None:
        server = EdgeServer(self.handle, self, access_log=None, handler_cancellation=False)
        self.server = await asyncio.get_running_loop().create_server(server, sock=sock, backlog=1024)

    async def close(self) -> None:
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        self.origin.close()
        if self.hops is not None:
            self.hops.flush()


def serve(sock: socket.socket, config: dict) -> None:
    """Run the edge on `sock` until SIGTERM/SIGINT (what `python -m microcosm.serve cdn` calls)."""
    async def main():
        edge = Edge(config)
        await edge.start(sock)
        await until_stopped()
        await edge.close()

    run(main)
