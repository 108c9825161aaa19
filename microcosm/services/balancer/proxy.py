"""The balancer's loop for every request that is not its own: pick a backend, forward, retry once, record.

1. **Pick**: the strategy (strategies.py) chooses among the backends available now (health.py). A strategy
   that raises, or returns something that is not one of those backends, is a bug: the client gets a 500
   that says so.
2. **Forward** the request over a pooled connection (forward.py).
3. **Retry** at most once, on another backend, and only when repeating the request cannot do harm: always
   when the connection was refused (nothing was sent); when the backend answered 502 or 503, or failed after
   the request went out, only for an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) whose body
   the balancer still holds. A POST or PATCH whose body went out is never repeated: the backend may have
   acted on it.
4. **Record** one hop for the request (client -> balancer) and one for each failed attempt (balancer ->
   backend; a backend that answered records its own), then a line in the access log. With nothing
   available the client gets a 503 with `Retry-After`.
"""
from __future__ import annotations

import logging
import time
from random import getrandbits

from aiohttp import web

from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, method_label, request_id_from
from .backends import Backend
from .forward import UpstreamFailed
from .strategies import RequestInfo

log = logging.getLogger("microcosm.balancer")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_BUFFER = 1 << 20  # an idempotent request body up to this size is kept, so the request can be retried


def new_hop_id() -> str:
    """12 random hex digits, like traffic.hops.new_hop_id, without building a UUID or a system call for each
    request (a hop id names a hop in a trace; it guards nothing, so Python's own generator will do)."""
    return "%012x" % getrandbits(48)


class Ticket:
    """One request's way through `Proxy.balance`: what it is, the backends tried, how it ended so far."""
    __slots__ = ("request", "started", "request_id", "hop_id", "client", "info", "method", "retriable", "tried",
                 "last", "response", "status", "error_text", "attempt_started")

    def __init__(self, request, started, request_id, hop_id, client, info, method, retriable):
        self.request, self.started, self.request_id, self.hop_id = request, started, request_id, hop_id
        self.client, self.info, self.method = client, info, method
        self.retriable = retriable  # may the request be repeated (idempotent, its body still held)?
        self.tried: list[Backend] = []
        self.last: UpstreamFailed | None = None  # the last attempt's failure
        self.response, self.status, self.error_text, self.attempt_started = None, 503, "", started


class Proxy:
    """The balancer's request loop. The `Balancer` (server.py) mixes it in and sets what it uses: `name`,
    `service`, `strategy`, `backends`, `health_interval`, `metrics`, `hops`, `access`, and the methods
    `admin` (admin.py), `available` and `_failed` (health.py), `_forward` (forward.py)."""

    async def handle(self, request):
        """Every request the balancer gets: its own routes go to `admin`, the rest are proxied."""
        path = request.path
        if path.startswith("/_balancer") or path in ("/health", "/metrics"):
            started = time.perf_counter()
            response = await self.admin(request)
            self.metrics.record(f"{request.method} {path if response.status != 404 else '(no route)'}",
                                response.status, (time.perf_counter() - started) * 1000)
            return response
        return await self.proxy(request)

    async def proxy(self, request):
        started = time.perf_counter()
        body, body_kept = None, True
        if request.body_exists:
            length = request.content_length
            if request.method in IDEMPOTENT and length is not None and length <= RETRY_BUFFER:
                body = await request.read()  # small enough to keep: the request stays retriable
            else:
                body, body_kept = request.content, False  # streamed: retriable only until it is sent
        return await self.balance(request, started, body, body_kept, self._forward, self.error)

    async def balance(self, request, started, body, body_kept, forward, error, ticket=None, attempt=None):
        """Steps 1-4 for one request: what `forward(request, backend, ...)` or `error(status, message, ...)`
        gives to send back. The ordinary way passes `_forward` and `error` (aiohttp's response objects); the fast
        path (fastpath.py) passes its own two, which give the same answer as bytes. relay.py, having begun the
        request itself, passes its `ticket`, and the `attempt` under way on the backend it tried, if any."""
        t = ticket if ticket is not None else self._begin(request, started, body_kept)
        while attempt is not None or len(t.tried) < 2:
            if attempt is None:
                backend = self._pick(t, error)
                if backend is None:
                    break
                attempt = forward(request, backend, t.method, body, len(t.tried) < 2 and t.retriable, t.request_id,
                                  t.hop_id, t.client)
            backend = t.tried[-1]
            try:
                response, status = await attempt
                t.response, t.status = response, status
                self._answered(backend, status)
                break
            except UpstreamFailed as failed:
                if not self._attempt_failed(t, backend, failed):
                    break  # a POST whose body went out: the backend may have acted on it, do not repeat it
            finally:
                backend.in_flight -= 1
                attempt = None
        return self._done(t, error)

    def _begin(self, request, started: float, body_kept: bool) -> "Ticket":
        """Step 0: what the steps need to know about `request`."""
        in_headers = request.headers
        client = request.remote or ""
        method = request.method
        return Ticket(request, started, request_id_from(in_headers.get(REQUEST_ID)), new_hop_id(), client,
                      RequestInfo(method, request.path, request.query, in_headers, client), method,
                      method in IDEMPOTENT and body_kept)

    def _pick(self, t: "Ticket", error) -> Backend | None:
        """Step 1: the backend for the next attempt (counted in flight, noted as tried); None when there is none
        (or the strategy failed: then `t.response` says so)."""
        candidates = self.available(exclude=t.tried)
        if not candidates:
            return None
        try:
            backend = self.strategy.pick(candidates, t.info)
        except Exception as exc:  # the strategy's bug: say so, do not hide it
            log.exception("%s: strategy failed", self.name)
            t.response = error(500, f"the balancing strategy failed: {type(exc).__name__}: {exc}", t.request_id)
            t.status, t.error_text = 500, "strategy failed"
            return None
        if backend not in candidates:
            t.response = error(500, f"the balancing strategy returned {backend!r}, "
                                    "which is not one of the backends it was given", t.request_id)
            t.status, t.error_text = 500, "strategy returned a stranger"
            return None
        t.tried.append(backend)
        backend.in_flight += 1
        t.attempt_started = time.perf_counter()
        return backend

    def _answered(self, backend: Backend, status: int) -> None:
        """Step 2 went through: `backend` answered `status` (the caller takes it off the in-flight count)."""
        if status in (502, 503, 504):
            self._failed(backend, f"answered {status}")
        else:
            backend.failures_in_a_row = 0
        backend.served += 1

    def _attempt_failed(self, t: "Ticket", backend: Backend, failed: UpstreamFailed) -> bool:
        """Step 2 failed on `backend` (recorded): may step 3 try another one?"""
        t.last = failed
        self._failed(backend, failed.message)
        self._record_hop(t.request_id, new_hop_id(), t.hop_id, self.service or "?", backend.id, t.method,
                         t.request.path, failed.status, t.attempt_started, failed.message)
        return failed.retriable or t.retriable

    def _done(self, t: "Ticket", error):
        """Step 4: the answer (an error's when no backend answered), recorded in metrics, hops and the log."""
        response, status, error_text, last, request = t.response, t.status, t.error_text, t.last, t.request
        if response is None:
            if last is not None and not last.retriable:
                status, error_text = last.status, last.message
                response = error(last.status, f"{self.service or 'backend'}: {last.message}", t.request_id)
            else:
                status = 503  # none up, or every one tried refused the connection
                known = len(self.backends)
                error_text = (f"no {self.service or 'backend'} instance is available "
                              f"({known} known, {len(self.available())} up"
                              + (f"; {len(t.tried)} tried: {last.message})" if last else ")"))
                response = error(503, error_text, t.request_id,
                                 headers={"Retry-After": str(max(1, round(self.health_interval)))})
        ms = (time.perf_counter() - t.started) * 1000
        method = t.method
        self.metrics.record(f"{method} (proxied)", status, ms)
        if self.hops is not None:
            in_headers = request.headers
            self._record_hop(t.request_id, t.hop_id, in_headers.get(PARENT_HOP, ""), "balancer", self.name, method,
                             request.path, status, t.started, error_text, caller=in_headers.get(CALLER, "client"),
                             caller_instance=in_headers.get(CALLER_INSTANCE, ""))
        if self.access is not None:  # (written by accesslog.py's thread, off this request's path)
            self.access.line("%s %s %s -> %s %.1f ms via %s [request %s]", self.name, method_label(method),
                             request.path_qs, status, ms, "/".join(b.id for b in t.tried) or "-", t.request_id)
        return response

    def error(self, status: int, message: str, request_id: str | None = None, headers: dict | None = None, **details):
        """A JSON error like every microcosm service's: {"error", "message", "status", "request_id", ...}."""
        from werkzeug.http import HTTP_STATUS_CODES

        body = {"error": HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_").replace("-", "_"),
                "message": message, "status": status, **details}
        if request_id:
            body["request_id"] = request_id
        headers = dict(headers or {})
        if request_id:
            headers[REQUEST_ID] = request_id
        return web.json_response(body, status=status, headers=headers)

    def _record_hop(self, request_id, hop, parent, callee, instance, method, path, status, started, error,
                    caller=None, caller_instance=None):
        if self.hops is None:
            return
        if caller is None:  # a failed attempt of ours: the backend could not record it
            caller, caller_instance = "balancer", self.name
        self.hops.record(request_id=request_id, hop=hop, parent=parent, caller=caller,
                         caller_instance=caller_instance or caller, callee=callee, instance=instance,
                         method=method_label(method), path=path, status=status,
                         ms=round((time.perf_counter() - started) * 1000, 3), error=error)
