"""The balancer's side towards its backends: pooled keep-alive HTTP/1.1 connections on asyncio.

Small on purpose (no cookies, redirects, decompression or proxies). `Pool` (pool.py) keeps idle connections to
one backend and reuses them (never one the backend closed, one idle too long, or one that got bytes while idle:
they answer no request). `Connection.send(head, body)` writes a request; `read_head()` waits for the status line
and headers (the reader is woken once the head, with a small body of known length, is in: one wake per answer),
`read_chunk()` gives the body piece by piece, so a big one streams with bounded memory (reading pauses at
`HIGH_WATER` unread bytes). The answer is parsed strictly (services/http1.py): one that breaks HTTP/1.1 raises
`Malformed` and its connection is closed, never pooled, as is any whose answer was not read to its end. A failed
connect raises `ConnectFailed` (nothing was sent: safe to try elsewhere); anything after it `Broken` (the request
may have reached the backend) or `Timeout` (deadlines.py).
"""
from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

from .. import chunked, http1
from ..http1 import ProtocolError
from .deadlines import deadlines
from .failures import Broken, ConnectFailed, Malformed, Timeout, Unfinished  # noqa: F401 (names used from here)

if TYPE_CHECKING:
    from .pool import Pool

HIGH_WATER = 256 * 1024  # unread bytes from a backend before we stop reading from it (flow control)
WHOLE = 64 * 1024  # a body up to this size, its length known, wakes the reader once with its head


class Connection(asyncio.Protocol):
    def __init__(self, pool: "Pool"):
        self.pool = pool
        self.transport = None
        self.buffer = bytearray()
        self.closed = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future | None = None
        self.write_waiter: asyncio.Future | None = None
        self.paused = False
        self.idle_since = 0.0
        self.framing = None  # "length" (self.left bytes to go) | "chunked" | "close" | None (no body, or read)
        self.left = 0
        self.chunks = chunked.Chunked()  # where a chunked body is
        self.known_length: int | None = 0
        self.reusable = True
        self.in_pool = False  # idle in the pool, between requests
        self.deadlines = None  # the loop's Deadlines (deadlines.py): when a wait has lasted too long
        self.head_for: str | None = None  # the method whose answer's head the reader waits for
        self.parsed: tuple[http1.Head, int] | None = None  # that head, parsed on arrival (see _ready)
        self.need = 0  # bytes to hold before the reader is woken (its answer's head and small body)
        self.relay = None  # instead of a reader, what the answer is handed to (relay.py's Relayed), if any

    # --- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        self.deadlines = deadlines()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        if self.in_pool:  # an answer to no request: the backend is confused (or hostile); drop it, bytes and all
            self.close()
            return
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        if (self.waiter is not None or self.relay is not None) and self._ready():
            self._wake()

    def _ready(self) -> bool:
        """Is what the reader waits for in? For an answer's head: the head, and its body if small and of known
        length (one wake, one resumption of the reader's coroutines, per answer). Anything odd wakes it."""
        if self.need:
            return len(self.buffer) >= self.need or self.paused
        if self.head_for is None or self.paused:
            return True
        try:
            parsed = http1.parse_head(self.buffer)
            if parsed is None:
                return False  # (as the reader would: a head not ended yet and not broken yet waits for more)
            self.parsed = parsed  # the reader takes it as it is: parsed once
            head, used = parsed
            if head.status < 200 or head.status in (204, 304) or self.head_for == "HEAD":
                return True
            length = http1.content_length(head)
        except ProtocolError:
            return True  # the reader parses it again and says what is wrong
        if length is None or length > WHOLE or len(self.buffer) >= used + length:
            return True
        self.need = used + length
        return False

    def eof_received(self):
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc):
        self.closed = True
        self.error = exc
        self._wake()
        if self.write_waiter is not None and not self.write_waiter.done():
            self.write_waiter.set_exception(Broken("connection lost while sending"))
        self.pool.forget(self)

    def pause_writing(self):
        self.write_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self.write_waiter is not None and not self.write_waiter.done():
            self.write_waiter.set_result(None)
        self.write_waiter = None

    def _wake(self):
        if self.relay is not None:  # (relay.py) the answer is in, or the connection ended: handed over
            relay, self.relay, self.head_for, self.need = self.relay, None, None, 0
            self.deadlines.done(self)
            return relay.arrived(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # --- waiting for bytes ---------------------------------------------------------------------------
    async def _more(self, timeout: float) -> None:
        """Wait for more bytes (or the end of the connection), at most `timeout` seconds."""
        if self.closed:
            raise Broken(f"the backend closed the connection ({self.error or 'end of stream'})")
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        self.waiter = self.deadlines.loop.create_future()
        self.deadlines.wait(self, timeout)
        try:
            await self.waiter
        finally:
            self.deadlines.done(self)
            self.waiter, self.need = None, 0

    def _time_out(self) -> None:  # (deadlines.py: the current wait's deadline has passed)
        if self.relay is not None:
            relay, self.relay, self.head_for, self.need = self.relay, None, None, 0
            return relay.timed_out(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(Timeout())

    def _take(self, n: int) -> bytes:
        """The first n buffered bytes, removed from the buffer."""
        data = bytes(self.buffer[:n])
        self._drop(n)
        return data

    def _drop(self, n: int) -> None:
        """Forget the first n buffered bytes (and read again if that made room)."""
        del self.buffer[:n]
        if self.paused and len(self.buffer) < HIGH_WATER // 2:
            self.paused = False
            self.transport.resume_reading()

    # --- a request and its answer --------------------------------------------------------------------
    async def send(self, head: bytes, body=None, chunked: bool = False) -> None:
        """Write the request head and its body (bytes, or an async iterable of bytes, streamed)."""
        if self.closed:
            raise Broken("the connection was closed before the request")
        if body is None or isinstance(body, (bytes, bytearray)):
            self.transport.write(head + body if body else head)
            return
        self.transport.write(head)
        async for piece in body:
            if self.closed:
                raise Broken("the backend closed the connection while the body was being sent")
            if piece:
                self.transport.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            if self.write_waiter is not None:
                await self.write_waiter
        if chunked:
            self.transport.write(b"0\r\n\r\n")

    def relay_to(self, relay, method: str, timeout: float) -> None:
        """Instead of a reader waiting: `relay.arrived(self)` once the answer's head (and its small body of known
        length) is in, or the connection ends; `relay.timed_out(self)` after `timeout` seconds without it."""
        self.relay, self.head_for = relay, method
        self.deadlines.wait(self, timeout)

    async def read_head(self, method: str, timeout: float) -> tuple[int, list[tuple[str, str]]]:
        """The status and headers of the answer (interim 1xx answers skipped); sets up how its body is framed.

        An answer that breaks HTTP/1.1 (http1.py says how) raises `Malformed`, a kind of `Broken`."""
        try:
            for _ in range(http1.MAX_INTERIM + 1):
                head = await self._read_one_head(method, timeout)
                if head.status == 101:
                    raise ProtocolError("101 Switching Protocols, which the balancer never asks for")
                if head.status >= 200:
                    self._set_framing(head, method)
                    return head.status, head.headers
            raise ProtocolError(f"more than {http1.MAX_INTERIM} interim (1xx) answers")
        except ProtocolError as exc:
            raise Malformed(f"the backend's answer breaks HTTP/1.1: {exc}") from None

    async def _read_one_head(self, method: str, timeout: float) -> http1.Head:
        """One status line and its header lines (at most http1.MAX_HEAD bytes are ever held)."""
        while True:
            parsed, self.parsed = self.parsed, None  # (parsed by _ready as it arrived)
            if parsed is None and self.buffer:  # (right after a request is sent nothing has arrived yet)
                parsed = http1.parse_head(self.buffer)
            if parsed is not None:
                break
            if self.closed:
                raise Broken("the backend closed the connection before answering")
            self.head_for = method
            try:
                await self._more(timeout)
            except Timeout:
                if self.parsed is not None:  # the head is in: it is the body that is late
                    raise Unfinished() from None
                raise
            finally:
                self.head_for = None
        head, used = parsed
        self._drop(used)
        return head

    def _set_framing(self, head: http1.Head, method: str) -> None:
        """How the body ends, whether the connection can be reused, and the body's length if known now."""
        kind, self.left = http1.framing(head, method)
        self.framing = None if kind == "none" else kind
        self.reusable = http1.keep_alive(head) and kind != "close"
        self.known_length = {"none": 0, "length": self.left}.get(kind)
        if kind == "chunked":
            self.chunks = chunked.Chunked()
            self.known_length = chunked.chunked_length(self.buffer)  # (a small one came whole: a broken one is a 502)

    @property
    def body_length(self) -> int | None:
        """The body's length, if known before reading it (0 when there is none)."""
        return self.known_length

    async def read_chunk(self, timeout: float) -> bytes:
        """The next piece of the body; b"" once it is complete."""
        if self.framing is None:
            return b""
        if self.framing == "length":
            if self.left == 0:
                self.framing = None
                return b""
            while not self.buffer:
                await self._more(timeout)
            piece = self._take(min(self.left, len(self.buffer)))
            self.left -= len(piece)
            return piece
        if self.framing == "close":
            while not self.buffer:
                if self.closed:
                    self.framing = None
                    return b""
                try:
                    await self._more(timeout)
                except Broken:
                    self.framing = None
                    return b""
            return self._take(len(self.buffer))
        try:
            return await self._read_chunked(timeout)
        except ProtocolError as exc:
            raise Malformed(f"the backend's chunked body breaks HTTP/1.1: {exc}") from None

    async def _read_chunked(self, timeout: float) -> bytes:
        """The next piece of a chunked body's data (size lines, CRLFs and trailers are checked and dropped)."""
        while self.chunks.state != "done":
            step = self.chunks.step(self.buffer)
            if step is None:
                await self._more(timeout)
                continue
            used, is_data = step
            if is_data:
                return self._take(used)
            self._drop(used)
        self.framing = None
        return b""

    def release(self) -> None:
        """Done with this request: back to the pool if the answer was read to its end, else closed."""
        if self.closed or not self.reusable or self.framing is not None or self.buffer:
            self.close()
        else:
            self.pool.put_back(self)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self.pool.forget(self)
