"""The balancer's side towards its backends: pooled keep-alive HTTP/1.1 connections on asyncio.

Small on purpose (the balancer forwards requests, it needs no cookies, redirects, decompression or proxies),
which is why it costs a fraction of a general HTTP client's CPU per request. What it does:

- `Pool(host, port)` keeps idle connections to one backend and reuses them (a connection the backend closed
  while idle, or idle longer than `max_idle`, is not reused);
- `Connection.send(head, body)` writes a request; `read_head()` waits for the status line and headers,
  `read_chunk()` gives the body piece by piece (Content-Length, chunked, or until the backend closes), so a big
  body streams through with bounded memory (reading pauses when `HIGH_WATER` bytes wait unread);
- a refused or timed-out connect raises `ConnectFailed` (nothing was sent: safe to try elsewhere); anything
  after that raises `Broken` (the request may have reached the backend) or `Timeout`.
"""
from __future__ import annotations

import asyncio
import socket
import time

HIGH_WATER = 256 * 1024  # unread bytes from a backend before we stop reading from it (flow control)
MAX_HEAD = 64 * 1024


class ConnectFailed(Exception):
    """Could not connect: nothing was sent."""


class Broken(Exception):
    """The connection failed after the request (or part of it) went out."""


class Timeout(Exception):
    """The backend did not answer (or did not go on answering) in time."""


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
        self.framing = None  # ("length", n) | ("chunked", state) | ("close",) | None (no body)
        self.left = 0
        self.chunk_state = "size"
        self.reusable = True

    # --- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

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
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        timer = loop.call_later(timeout, self._time_out, self.waiter)
        try:
            await self.waiter
        finally:
            timer.cancel()
            self.waiter = None

    @staticmethod
    def _time_out(waiter):
        if not waiter.done():
            waiter.set_exception(Timeout())

    def _take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        if self.paused and len(self.buffer) < HIGH_WATER // 2:
            self.paused = False
            self.transport.resume_reading()
        return data

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

    async def read_head(self, method: str, timeout: float) -> tuple[int, list[tuple[str, str]]]:
        """The status and headers of the answer; sets up how its body is framed."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise Broken("the backend sent an oversized header")
                if self.closed:
                    raise Broken("the backend closed the connection before answering")
                await self._more(timeout)
                end = self.buffer.find(b"\r\n\r\n")
            lines = self._take(end + 4)[:-4].decode("latin-1").split("\r\n")
            try:
                version, code = lines[0].split(" ", 2)[:2]
                status = int(code)
            except ValueError:
                raise Broken(f"the backend sent a malformed status line {lines[0][:80]!r}") from None
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and friends: the real answer follows
            headers = []
            length, chunked, close = None, False, version == "HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip(), value.strip()
                lower = name.lower()
                if lower == "content-length":
                    length = int(value) if value.isdigit() else None
                elif lower == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                elif lower == "connection":
                    close = "close" in value.lower() or (version == "HTTP/1.0" and "keep-alive" not in value.lower())
                headers.append((name, value))
            self.reusable = not close
            if method == "HEAD" or status in (204, 304):
                self.framing = None
            elif chunked:
                self.framing, self.chunk_state = "chunked", "size"
            elif length is not None:
                self.framing, self.left = "length", length
            else:
                self.framing, self.reusable = "close", False
            return status, headers

    @property
    def body_length(self) -> int | None:
        return self.left if self.framing == "length" else (0 if self.framing is None else None)

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
        return await self._read_chunked(timeout)

    async def _read_chunked(self, timeout: float) -> bytes:
        while True:
            if self.chunk_state == "size":
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    await self._more(timeout)
                    continue
                size_text = self._take(end + 2)[:-2].split(b";")[0].strip()
                try:
                    self.left = int(size_text, 16)
                except ValueError:
                    raise Broken("the backend sent a malformed chunk size") from None
                self.chunk_state = "data" if self.left else "trailer"
            elif self.chunk_state == "data":
                if not self.buffer:
                    await self._more(timeout)
                    continue
                piece = self._take(min(self.left, len(self.buffer)))
                self.left -= len(piece)
                if self.left == 0:
                    self.chunk_state = "crlf"
                return piece
            elif self.chunk_state == "crlf":
                if len(self.buffer) < 2:
                    await self._more(timeout)
                    continue
                self._take(2)
                self.chunk_state = "size"
            else:  # trailer lines until an empty one
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    await self._more(timeout)
                    continue
                line = self._take(end + 2)
                if line == b"\r\n":
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


class Pool:
    """Idle keep-alive connections to one backend."""

    def __init__(self, host: str, port: int, max_idle: float = 10.0, keep: int = 64):
        self.host, self.port, self.max_idle, self.keep = host, port, max_idle, keep
        self.idle: list[Connection] = []

    async def get(self, connect_timeout: float) -> Connection:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < self.max_idle:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Connection(self), self.host, self.port), connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectFailed(f"connect timed out after {connect_timeout:g} s") from None
        except OSError as exc:
            raise ConnectFailed(exc.strerror or str(exc)) from None
        return conn

    def put_back(self, conn: Connection) -> None:
        if len(self.idle) >= self.keep:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def forget(self, conn: Connection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def close(self) -> None:
        for conn in list(self.idle):
            conn.close()
