"""The common request proxied straight from the connection's bytes: the balancer's hot path, for throughput.

For each request aiohttp builds a Request object, a task and a Response written by a StreamWriter: about a
third of the balancer's CPU per request (bench/RESULTS.md, issue 12; its low-level server costs 47-59 us a
request answering nothing, a bare asyncio.Protocol 7-8). So `FastConnection`, the connection handler, reads each
plain GET or HEAD itself (wire.read_request) and one task per connection proxies them in turn, through the same
`Proxy.balance` as every other request (the strategy's pick, in-flight counts, retries, ejection, metrics, hop
records, the access log) and the same `Forwarding` parts (the head sent on, the answer's head and body read),
and writes the answer's bytes as aiohttp would have written them (wire.answer_bytes): a client cannot tell.

Everything else goes to aiohttp's parser and the ordinary way, unchanged, from that request on (for the rest of
the connection, in order): a body, another method, HTTP/1.0, `Connection: close`, Expect, Upgrade, an escaped or
unusual target, the balancer's own routes, a head over 8 KiB, anything malformed (which aiohttp answers 4xx).

`FastConnection` knows nothing of the balancer: the server's `fast_side` reads and answers (`read_fast`,
`answer_fast`, `failed_fast`), here the balancer's `FastPath`; the gateway's front (gateway/front/fast.py) is the
other side it serves. The balancer itself runs `relay.RelayConnection` on top of it (unless `relay=False`): the
common case without the task, by callbacks.

Memory stays bounded: at most `INBOX` unread bytes are held (then the connection is not read until the worker
catches up), and a client that does not read its answers fills the transport's write buffer, after which the
worker waits for it to drain before it takes the next request.

It depends on aiohttp's RequestHandler internals (`_force_close`, `_close`, the buffer's pause, `_drain_helper`,
the keep-alive deadline) and its header serializer: if a future aiohttp changes them, `usable()` is False and
every request takes the ordinary way. `fast_path=False` in the launch config turns it off too.
"""
from __future__ import annotations

import functools
import logging
import time

from .admin import JSONErrorServer, _JSONErrors

try:
    from .wire import answer_bytes, plain_answer_bytes, read_request, stream_head
except ImportError:  # an aiohttp without the helpers wire.py writes answers with
    answer_bytes = plain_answer_bytes = read_request = stream_head = None

log = logging.getLogger("microcosm.balancer")
INBOX = 64 * 1024  # unread request bytes held per connection before it stops being read
END_OF_HEAD = b"\r\n\r\n"
MAX_OWN_HEAD = 8190  # (plain_head.MAX_OWN_HEAD) a longer head is aiohttp's to read, and to refuse
MORE = object()  # (FastConnection._take_request) the rest of the head is still to come


class FastPath:
    """The fast path's answers, as bytes: the balancer as a `FastConnection`'s side. The `Balancer` (server.py)
    mixes it in; it uses `balance` and `error` (proxy.py), `_attempt` and `_pass_on` (forward.py)."""

    def read_fast(self, head: bytes, remote: str, protocol):
        """The request in `head` if the fast path takes it, else None (aiohttp's way)."""
        return read_request(head, remote, protocol)

    async def answer_fast(self, request, started: float) -> bytes:
        """The answer's bytes (b"" when it was streamed already)."""
        answer = await self.balance(request, started, None, True, self._forward_fast,
                                    functools.partial(self.error_bytes, request.method))
        self.fast_served += 1
        return answer

    def failed_fast(self, request) -> bytes:
        """The 500 aiohttp's way would give, after a bug of ours (the connection is then closed)."""
        log.exception("%s: error proxying a request", self.name)
        return self.error_bytes(request.method, 500, "the balancer failed")

    def _forward_fast(self, request, backend, method, body, can_retry, request_id, hop_id, client=""):
        """`Forwarding._forward` for a FastRequest: what `balance` awaits for (the answer's bytes, status). A big or
        unknown-size answer is streamed to the client here, and b"" is given (nothing more to write). (It gives
        `_attempt`'s coroutine rather than awaiting it: one coroutine less to resume at each wake.)"""
        return self._attempt(request, backend, method, body, can_retry, request_id, hop_id, client,
                                   answer_bytes, self._stream_bytes)

    async def _stream_bytes(self, request, conn, backend, status, out_headers, length):
        """A big or unknown-size answer written to the client piece by piece, as aiohttp's StreamResponse would:
        (b"", whether it was passed on to its end)."""
        protocol = request.protocol
        if protocol.transport is None:  # the client has gone: nothing to stream to
            return b"", False
        protocol.transport.write(stream_head(status, out_headers, length))
        if not await self._pass_on(conn, backend, functools.partial(write_piece, protocol, length is None)):
            if protocol.transport is not None:
                protocol.transport.close()  # the client must not take a cut body for a whole one
            return b"", False
        if length is None:
            protocol.transport.write(b"0\r\n\r\n")
        return b"", True

    def error_bytes(self, method, status, message, request_id=None, headers=None, **details) -> bytes:
        """`Proxy.error`'s JSON answer, as bytes (for a request of `method`)."""
        response = self.error(status, message, request_id, headers, **details)
        return answer_bytes(method, response.status, response.headers, response.body, response.reason)


async def write_piece(protocol, chunked: bool, piece: bytes) -> None:
    """One piece of a streamed answer to the client (a chunk of its own when the length is unknown, as aiohttp
    writes it), waiting while the client's write buffer is full."""
    transport = protocol.transport
    if transport is None:
        raise ConnectionResetError("the client's connection is gone")
    transport.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
    if protocol.writing_paused:
        await protocol._drain_helper()


class FastConnection(_JSONErrors):
    """aiohttp's connection handler (with JSON errors), answering plain requests itself until the connection's
    first one that its server's `fast_side` does not take; from that one on, aiohttp's parser reads everything."""

    _fed = False  # has aiohttp's parser had bytes on this connection? (then everything is aiohttp's)
    _inbox: bytearray | None = None  # bytes received and not read yet (before _fed)
    _worker = None  # the connection's task that proxies its plain requests in turn
    _wake = None  # the future the worker waits on for more bytes

    def data_received(self, data: bytes) -> None:
        if self._fed:
            return super().data_received(data)
        if self._force_close or self._close:
            return
        if self._inbox is None:
            self._inbox = bytearray(data)
        else:
            self._inbox += data
        self._more_bytes()
        if self._inbox is not None and len(self._inbox) > INBOX and not self._buffer_paused:
            self._pause_reading_for_buffer()  # reading resumes as the requests are taken

    def _more_bytes(self) -> None:
        """Bytes were added to the inbox: the worker is started, or woken."""
        if self._worker is None:
            self._worker = self._loop.create_task(self._work())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # the worker sees the transport gone and ends

    async def _work(self) -> None:
        """Take the plain requests in `_inbox` one after the other; hand the rest to aiohttp."""
        side = self._manager.fast_side
        peer = self.transport.get_extra_info("peername")
        remote = peer[0] if isinstance(peer, (list, tuple)) else str(peer or "")
        loop = self._loop
        while self.transport is not None and not (self._force_close or self._close):
            if self.writing_paused:  # the client is not reading its answers: take no more until it does
                try:
                    await self._drain_helper()
                except ConnectionError:
                    return
                continue
            taken = self._take_request(side, remote)
            if taken is MORE:
                self._wake = loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
                continue
            if taken is None:
                return self._hand_over()
            request, started = taken
            try:
                answer = await side.answer_fast(request, started)
            except Exception:  # a bug of ours: the client gets the 500 aiohttp's way would give, and a closed line
                failed = side.failed_fast(request)
                if self.transport is not None:
                    self.transport.write(failed)
                    self.force_close()
                return
            if self.transport is not None and answer:
                self.transport.write(answer)
            self._next_keepalive_close_time = loop.time() + self._keepalive_timeout

    def _take_request(self, side, remote: str):
        """The inbox's next plain request, taken out of it, and when it was read: (request, started); MORE while
        its head has not all come; None when it is not plain (then aiohttp's parser must read it)."""
        inbox = self._inbox
        end = inbox.find(END_OF_HEAD, 0, MAX_OWN_HEAD + 4)
        if end < 0 and len(inbox) <= MAX_OWN_HEAD and inbox.count(b"\n") == inbox.count(b"\r\n"):
            # (a line ended by a bare LF: no plain head, and aiohttp's parser decides what it is)
            if self._buffer_paused:
                self._resume_reading_for_buffer()
            return MORE
        started = time.perf_counter()
        try:
            request = side.read_fast(bytes(inbox[:end + 4]), remote, self) if end >= 0 else None
        except Exception:  # a bug of ours in reading: aiohttp's way reads the request instead
            log.exception("error reading a plain request; aiohttp's parser takes the connection")
            request = None
        if request is None:
            return None
        del inbox[:end + 4]
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout  # in use: not idle
        return request, started

    def _hand_over(self) -> None:
        """From here on the connection is aiohttp's: its parser gets every byte not read yet."""
        self._fed, self._worker = True, None
        data, self._inbox = bytes(self._inbox), None
        if self._buffer_paused:
            self._resume_reading_for_buffer()
        if data:
            super().data_received(data)


def usable() -> bool:
    """Does this aiohttp have the parts FastConnection and wire.py use?"""
    if answer_bytes is None:
        return False
    slots = {s for c in _JSONErrors.__mro__ for s in getattr(c, "__slots__", ())}
    methods = ("_drain_helper", "_pause_reading_for_buffer", "_resume_reading_for_buffer", "force_close")
    return slots >= {"_force_close", "_close", "_buffer_paused", "_keepalive_timeout", "_loop", "_manager",
                     "_next_keepalive_close_time", "_paused"} and all(hasattr(_JSONErrors, m) for m in methods)


class FastServer(JSONErrorServer):
    """aiohttp's low-level server with `FastConnection` per connection (when usable and not turned off), its
    plain requests read and answered by `fast_side`; else `_JSONErrors`. Both answer in JSON what aiohttp
    cannot parse."""

    def __init__(self, handler, fast_side, fast: bool = True, **kwargs):
        super().__init__(handler, **kwargs)
        self.fast_side, self.fast = fast_side, fast and usable()

    def connection_handler(self) -> type:
        return FastConnection if self.fast else _JSONErrors
