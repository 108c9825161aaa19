"""The happy path of a plain request, driven by callbacks: no task, no future, no coroutine frame per request.

fastpath.py reads a plain GET or HEAD from the client's bytes and a task proxies it through `Proxy.balance`'s
coroutines: each request resumed a chain of them twice (when the request came, when the backend's answer came).
Here the common case runs in the two connections' `data_received` instead:

1. the client's bytes hold a plain request (`RelayConnection._serve`, wire.read_request): `Relay.relay_fast`
   begins it as `balance` would (`_begin`, the strategy's `_pick`, the in-flight count), and if the picked
   backend has an idle pooled connection, writes the request head to it and hands the connection a `Relayed`;
2. the backend's bytes complete the answer's head and its small body (upstream.py's `_ready`, as for a reader):
   `Relayed.arrived` takes the answer, puts the connection back in the pool, makes the answer's bytes as aiohttp
   writes them (wire.answer_bytes), records it as `balance` does (`_answered`, `_done`: metrics, hop records,
   the access log) and writes it to the client, whose next pipelined request is then read.

Every other case goes on with the coroutines from where it is, in a task of the client's connection: no idle
connection (a connect to wait for) -> `balance` with the attempt under way; an answer that is not whole, plain
and final (interim 1xx, chunked, big, unknown size, a 502/503 to retry, a broken one, a closed connection) ->
`Forwarding._answer` from the request sent, inside `balance`; a silent backend (deadlines.py) -> its 504 failure
recorded and `balance` tries another backend as it would have. So retries, ejection, in-flight counts, metrics,
hop records and the access log are the same code either way, and the answers the same bytes.
"""
from __future__ import annotations

import functools
import logging

from .. import http1
from .fastpath import MORE, FastConnection, FastServer, answer_bytes, plain_answer_bytes
from .admin import _JSONErrors
from .failures import Timeout, Unfinished
from .forward import SMALL_BODY

log = logging.getLogger("microcosm.balancer")


class Relay:
    """The balancer's side of a `RelayConnection`, mixed into the `Balancer` (server.py) with `FastPath`."""

    def relay_fast(self, request, started: float, client):
        """Take `request` (a FastRequest): its answer's bytes now, None (then `client.answered(bytes)` or
        `client.go_on(awaitable)` is called later), or an awaitable of the bytes for the client's task."""
        self.fast_served += 1
        error = self._errors_as_bytes[request.method]
        t = self._begin(request, started, True)
        backend = self._pick(t, error)
        if backend is None:  # none available, or the strategy failed
            return self._done(t, error)
        conn = backend.pool.take_idle()
        if conn is None:  # a connection to make first: the coroutines' way
            return self.balance(request, started, None, True, self._forward_fast, error, t,
                                self._forward_fast(request, backend, t.method, None, True, t.request_id, t.hop_id,
                                                   t.client))
        head, _ = self._request_head(request, backend, t.method, t.request_id, t.hop_id, t.client)
        conn.transport.write(head)
        self.relayed += 1
        conn.relay_to(Relayed(self, t, backend, client, error), t.method, self.timeout)
        return None

    @functools.cached_property
    def _errors_as_bytes(self) -> dict:
        """`error_bytes` for each method the fast path takes (made once, not per request)."""
        return {method: functools.partial(self.error_bytes, method) for method in ("GET", "HEAD")}


class Relayed:
    """One request relayed, waiting for its backend's answer (what upstream.py's Connection hands it to)."""
    __slots__ = ("balancer", "ticket", "backend", "client", "error")

    def __init__(self, balancer, ticket, backend, client, error):
        self.balancer, self.ticket, self.backend, self.client, self.error = balancer, ticket, backend, client, error

    def arrived(self, conn) -> None:
        """The answer's head (and small body) is in, or the connection ended."""
        b, t, backend = self.balancer, self.ticket, self.backend
        counted = False
        try:
            whole = whole_answer(conn, t.method)
            if whole is None:  # not the plain kind: the coroutines go on from the request sent
                attempt = b._answer(t.request, conn, backend, t.method, True, answer_bytes, b._stream_bytes)
                counted = True  # (balance takes it off the in-flight count)
                return self.client.go_on(b.balance(t.request, t.started, None, True, b._forward_fast, self.error, t,
                                                   attempt), t.request)
            status, headers, connection, body = whole
            conn.release()
            answer = None
            if t.method == "GET":  # the usual answer, its bytes in one pass (the same bytes: wire.py)
                answer = plain_answer_bytes(status, headers, b._dropped(connection), backend.id, body)
            if answer is None:
                out_headers = b._response_headers(headers, connection)
                out_headers["X-Backend"] = backend.id  # (as forward.py's _answer)
                answer = answer_bytes(t.method, status, out_headers, body)
            t.response, t.status = answer, status
            counted = True
            backend.in_flight -= 1
            b._answered(backend, status)
            answer = b._done(t, self.error)
            b.relayed_whole += 1
        except Exception:  # a bug of ours: the 500 the coroutines' way would give, and a closed connection
            if not counted:
                backend.in_flight -= 1
            conn.close()
            return self.client.broke(t.request)
        self.client.answered(answer)

    def timed_out(self, conn) -> None:
        """The backend was silent too long (deadlines.py): a 504 failure, as `_answer` would have raised it."""
        b, t, backend = self.balancer, self.ticket, self.backend
        try:
            failed = b._failure(backend, Unfinished() if conn.parsed is not None else Timeout())
            conn.close()
            backend.in_flight -= 1
            if b._attempt_failed(t, backend, failed):  # another backend may be tried: balance does it
                return self.client.go_on(b.balance(t.request, t.started, None, True, b._forward_fast, self.error, t),
                                         t.request)
            answer = b._done(t, self.error)
        except Exception:
            return self.client.broke(t.request)
        self.client.answered(answer)


def whole_answer(conn, method: str):
    """(status, headers, its Connection headers' values, body) of the final answer `conn` holds whole, with a
    body of known length up to SMALL_BODY or none, which `conn` is then past (upstream.py's `_ready` parsed its
    head); None for anything else, left as it was for upstream.py's readers."""
    parsed = conn.parsed
    if parsed is None:
        return None
    head, used = parsed
    status = head.status
    if status < 200 or status in (502, 503):  # interim, 101 (refused by read_head), or one to retry elsewhere
        return None
    try:
        kind, length = http1.framing(head, method)
        reusable = kind != "close" and http1.keep_alive(head)
    except http1.ProtocolError:
        return None
    if kind == "none":
        length = 0
    elif kind != "length" or length > SMALL_BODY or len(conn.buffer) < used + length:
        return None
    body = bytes(conn.buffer[used:used + length])
    conn.parsed, conn.reusable, conn.framing = None, reusable, None
    conn._drop(used + length)
    return status, head.headers, head.framing_fields.get("connection", ()), body


class RelayConnection(FastConnection):
    """`FastConnection` with requests relayed by callbacks: its plain requests are read as they come in
    `data_received` and begun at once (`relay_fast`); a task is made only for a request that goes the
    coroutines' way, or to wait for a client that does not read its answers. One request at a time, in order."""

    _busy = False  # a request is under way (relayed, or in a task): the next one waits its turn
    _remote: str | None = None

    def _more_bytes(self) -> None:
        if not self._busy:
            self._serve()

    def _serve(self) -> None:
        """Take the plain requests in the inbox, one after the other, until one is under way."""
        if self.transport is None:  # the client has gone (and aiohttp has let go of its server)
            return
        side = self._manager.fast_side
        while not self._busy and self.transport is not None and not (self._force_close or self._close):
            if self.writing_paused:  # the client is not reading its answers: take no more until it does
                return self._task(self._drained(), None)
            if self._remote is None:
                peer = self.transport.get_extra_info("peername")
                self._remote = peer[0] if isinstance(peer, (list, tuple)) else str(peer or "")
            taken = self._take_request(side, self._remote)
            if taken is MORE:
                return  # the rest of the head is still to come
            if taken is None:
                return self._hand_over()
            request, started = taken
            self._busy = True
            try:
                answer = side.relay_fast(request, started, self)
            except Exception:
                return self.broke(request)
            if answer is None:
                return  # relayed: `answered` or `go_on` comes later
            if not isinstance(answer, bytes):
                return self._task(answer, request)
            self._busy = False
            self._write(answer)

    def answered(self, answer: bytes) -> None:
        """The answer to the request under way: written, and the next request taken."""
        self._busy = False
        self._write(answer)
        self._serve()

    def go_on(self, awaitable, request) -> None:
        """The request under way goes on in a task: the answer is what `awaitable` gives."""
        self._task(awaitable, request)

    def broke(self, request) -> None:
        """A bug of ours on `request`: the client gets the 500 aiohttp's way would give, and a closed line."""
        if self._manager is None:  # the client has gone: nothing to answer, the bug still logged
            log.exception("error proxying a request for a client that has gone")
            return
        failed = self._manager.fast_side.failed_fast(request)
        if self.transport is not None:
            self.transport.write(failed)
            self.force_close()

    def _write(self, answer: bytes) -> None:
        if self.transport is not None and answer:
            self.transport.write(answer)
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout

    def _task(self, awaitable, request) -> None:
        self._busy = True
        self._worker = self._loop.create_task(self._finish(awaitable, request))

    async def _finish(self, awaitable, request) -> None:
        try:
            answer = await awaitable
        except Exception:  # (a client gone while waiting to drain ends here too)
            if request is not None:
                self.broke(request)
            return
        self._busy = False
        if answer is not None:
            self._write(answer)
        self._serve()

    async def _drained(self):
        await self._drain_helper()


class BalancerServer(FastServer):
    """The balancer's server: its plain requests relayed by callbacks (`relay=False` in the launch config: by
    fastpath.py's task per connection)."""

    def __init__(self, handler, fast_side, fast: bool = True, relay: bool = True, **kwargs):
        super().__init__(handler, fast_side, fast, **kwargs)
        self.relay = relay

    def connection_handler(self) -> type:
        if not self.fast:
            return _JSONErrors
        return RelayConnection if self.relay else FastConnection
