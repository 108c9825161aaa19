"""The gateway's side towards the services: pooled keep-alive HTTP/1.1 connections, one request at a time.

Why not urllib3 or requests: on the gateway every request pays its client's CPU. Measured on this machine
(one `GET /products/1` to catalog, the client's own CPU): requests about 0.9 ms, urllib3 about 0.5 ms, a
plain socket and the strict parser the balancer uses (services/http1.py) about 0.1 ms. What it does:

- `Pool` keeps idle connections to each service (host:port), shared by the server's threads; a connection
  that became readable while idle (the service closed it, or sent bytes that answer no request) is closed,
  never reused;
- `Pool.request(method, base_url, target, headers, body, timeout)` writes the request and reads the answer
  whole (Content-Length, chunked, or until the service closes), parsed strictly: an answer that breaks
  HTTP/1.1 raises `Broken`, and its connection is closed;
- a refused connection raises `ConnectFailed` (nothing was sent), silence longer than `timeout` `Timeout`,
  anything else after the request went out `Broken`. An idempotent request on a reused connection that the
  service had closed before reading it (the end of the connection, or a reset) is sent once more, on a new one.

`target` (path and query, already encoded by paths.py) goes into the request line as it is.
"""
from __future__ import annotations

import functools
import re
import select
import socket
from collections import deque
from urllib.parse import urlsplit

from .. import chunked, http1

MAX_BODY = 32 * 1024 * 1024  # an answer bigger than this is refused (502), never held whole
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})  # these send Content-Length: 0 without a body
LINE_BREAK = re.compile(r"[\r\n\x00]")  # never inside a header: it would start a header (or a request) of its own


class ConnectFailed(Exception):
    """Could not connect: nothing was sent."""


class Timeout(Exception):
    """The service did not connect or answer in time."""


class Broken(Exception):
    """The connection failed, or the answer broke HTTP/1.1, after the request went out."""


class Answer:
    """A service's answer: `status`, `headers` (lower-case names; a repeated header's values joined by ", "),
    `data` (the whole body)."""

    __slots__ = ("status", "headers", "data")

    def __init__(self, status: int, fields: list[tuple[str, str]], data: bytes):
        self.status, self.data, self.headers = status, data, {}
        for name, value in fields:
            name = name.lower()
            self.headers[name] = f"{self.headers[name]}, {value}" if name in self.headers else value


class _Unanswered(Exception):
    """The connection ended before a single byte of the answer."""


class Pool:
    """Idle keep-alive connections, up to `keep` per service."""

    def __init__(self, keep: int = 16):
        self.keep = keep
        self.idle: dict[tuple, deque] = {}

    def request(self, method: str, base_url: str, target: str, headers: dict, body: bytes | None,
                timeout: float) -> Answer:
        address, prefix, host = place(base_url)
        request = encode_request(method, prefix + target, host, headers, body)
        for attempt in (1, 2):
            sock, reused = self._connection(address, timeout)
            try:
                sock.sendall(request)
                answer, keep = read_answer(sock, method)
            except (_Unanswered, ConnectionResetError, BrokenPipeError) as exc:
                sock.close()
                if reused and attempt == 1 and method in IDEMPOTENT:
                    continue  # the service closed this idle connection as we sent (EOF, or a reset): a new one
                raise Broken("the service closed the connection without answering" if isinstance(exc, _Unanswered)
                             else exc.strerror or str(exc)) from None
            except socket.timeout:
                sock.close()
                raise Timeout() from None
            except http1.ProtocolError as exc:
                sock.close()
                raise Broken(f"the service's answer breaks HTTP/1.1: {exc}") from None
            except OSError as exc:
                sock.close()
                raise Broken(exc.strerror or str(exc)) from None
            self._put_back(address, sock) if keep else sock.close()
            return answer
        raise AssertionError("unreachable")

    def _connection(self, address: tuple, timeout: float) -> tuple[socket.socket, bool]:
        idle = self.idle.get(address)
        while idle:
            try:
                sock = idle.pop()
            except IndexError:  # another thread took the last one
                break
            if still_idle(sock):
                sock.settimeout(timeout)
                return sock, True
            sock.close()
        try:
            sock = socket.create_connection(address, timeout=min(timeout, 1.0))
        except socket.timeout:
            raise Timeout() from None
        except OSError as exc:
            raise ConnectFailed(exc.strerror or str(exc)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        return sock, False

    def _put_back(self, address: tuple, sock: socket.socket) -> None:
        idle = self.idle.setdefault(address, deque())
        if len(idle) < self.keep:
            idle.append(sock)
        else:
            sock.close()


@functools.lru_cache(maxsize=1024)  # base URLs come from config and the registry: few, but bounded anyway
def place(base_url: str) -> tuple:
    """A service's base URL -> ((host, port), its path prefix, the Host header)."""
    parts = urlsplit(base_url)  # an upstream URL may have a path of its own (http://host:port/prefix)
    return (parts.hostname, parts.port or 80), parts.path.rstrip("/"), parts.netloc


def encode_request(method: str, target: str, host: str, headers: dict, body: bytes | None) -> bytes:
    """The request's bytes: request line, Host, the headers (never one with a line break), the body."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if LINE_BREAK.search("".join(lines[2:])):  # one search for all (then the first that holds one, for the message)
        name = next(name for name, value in headers.items() if LINE_BREAK.search(name) or LINE_BREAK.search(value))
        raise ValueError(f"header {name[:40]!r} holds a line break")
    if body is not None or method in BODY_EXPECTED:
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def still_idle(sock: socket.socket) -> bool:
    """An idle connection is fit to reuse only if nothing arrived on it: not the end, not stray bytes."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return not poller.poll(0)
    except OSError:
        return False


def read_answer(sock: socket.socket, method: str) -> tuple[Answer, bool]:
    """The whole answer to one request, and whether the connection may carry another."""
    buf = bytearray()
    for interim in range(http1.MAX_INTERIM + 1):  # interim 1xx answers are read and dropped
        while (parsed := http1.parse_head(buf)) is None:
            _receive(sock, buf, started=interim > 0)
        head, used = parsed
        del buf[:used]
        if head.status == 101:
            raise http1.ProtocolError("101 Switching Protocols, which the gateway never asks for")
        if head.status >= 200:
            break
    else:
        raise http1.ProtocolError(f"more than {http1.MAX_INTERIM} interim (1xx) answers")
    kind, length = http1.framing(head, method)
    if kind == "length":
        if length > MAX_BODY:
            raise http1.ProtocolError(f"a body of {length} bytes (the gateway holds at most {MAX_BODY})")
        while len(buf) < length:
            _receive(sock, buf, started=True)
        data, rest = bytes(buf[:length]), len(buf) - length
    elif kind == "chunked":
        data, rest = _dechunk(sock, buf)
    elif kind == "close":
        while _receive(sock, buf, started=True, eof_ok=True):
            pass
        data, rest = bytes(buf), 0
    else:
        data, rest = b"", len(buf)
    return Answer(head.status, head.headers, data), kind != "close" and not rest and http1.keep_alive(head)


def _dechunk(sock: socket.socket, buf: bytearray) -> tuple[bytes, int]:
    """A chunked body's data, and how many bytes after it arrived (none should)."""
    chunks, data, pos = chunked.Chunked(), bytearray(), 0
    while chunks.state != "done":
        step = chunks.step(buf, pos)
        if step is None:
            _receive(sock, buf, started=True)
            continue
        used, is_data = step
        if is_data:
            data += buf[pos:pos + used]
        pos += used
    return bytes(data), len(buf) - pos


def _receive(sock: socket.socket, buf: bytearray, started: bool = False, eof_ok: bool = False) -> bool:
    """Read what has arrived into buf; False at the end of the stream (when `eof_ok`), else it raises."""
    piece = sock.recv(65536)
    if not piece:
        if eof_ok:
            return False
        if not buf and not started:
            raise _Unanswered()
        raise http1.ProtocolError("the connection ended in the middle of the answer")
    buf += piece
    if len(buf) > MAX_BODY + http1.MAX_HEAD:
        raise http1.ProtocolError(f"an answer over {MAX_BODY} bytes")
    return True
