"""Fresh hits answered straight from the HTTP parser: the edge's hot path, for throughput.

aiohttp turns each request into a Request object and a task, and each answer into a Response written by a
StreamWriter: about four fifths of what a hit cost here (measured on 2 cores: aiohttp's low-level server
answering a constant, 3.5-5k requests/s under load, 15.6k quiet; a bare asyncio.Protocol, 22-24k under load,
63k quiet). So when a request is a plain GET or HEAD that the store answers fresh, `FastHits` writes the
stored answer's bytes at once, from the connection's data callback, and aiohttp never sees that request:
read by `read_head` (a strict reader of the simplest heads, which leaves anything else to aiohttp's parser)
until the connection's first request that is not such a hit, and from aiohttp's parsed message after that,
whenever aiohttp's handler for the connection is idle.
Everything else (a miss, a stale or conditional request, a body, Range, HTTP/1.0, `Connection: close`, a
pipelined request behind one aiohttp is handling) takes the ordinary way, in order, unchanged.

What the answer carries is what flow.from_store gives a HIT (the stored status, headers and body, Age, X-Cache,
X-Request-ID), and it is counted and recorded as a hop the same way; tests/integration/test_cdn_edge.py
compares the two byte for byte apart from the per-request fields.

Memory stays bounded: a client that sends requests without reading the answers fills the connection's write
buffer, and then (writing paused) every request takes aiohttp's way, which waits for the buffer to drain and
stops reading the connection when requests queue up.

It depends on aiohttp's RequestHandler internals (`_waiter`, `_messages`, the parser): if a future aiohttp
renames them, `usable()` is False and every request takes the ordinary way.
"""
from __future__ import annotations

import time
from http import HTTPStatus

from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict
from yarl import URL

from ..balancer.admin import JSONErrorServer, _JSONErrors
from ..balancer.proxy import new_hop_id
from ..base import REQUEST_ID, request_id_from
from ..plain_head import MAX_OWN_HEAD, read_plain_head
from .fields import cache_control
from .flow import PASS_THROUGH
from .plugin import PluginFailed

SLOW = PASS_THROUGH | {"if-none-match", "if-modified-since"}  # (conditional: flow.from_store may answer 304)
PER_ANSWER = frozenset({"age", "x-cache", "x-cache-reason", "content-length"})  # written for each answer


def wire_head(stored) -> bytes:
    """The status line and stored header lines of an answer, as bytes (kept on the entry until it changes)."""
    if stored.wire is None:
        try:
            phrase = HTTPStatus(stored.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {stored.status} {phrase}"] + [f"{k}: {v}" for k, v in stored.headers
                                                         if k.lower() not in PER_ANSWER]
        stored.wire = ("\r\n".join(lines) + "\r\n").encode("latin-1", "replace")
    return stored.wire


def fast_hit(edge, message, payload) -> bytes | None:
    """The bytes of a fresh HIT for this parsed request, or None when it must take the ordinary way."""
    started = time.perf_counter()
    if payload is not EMPTY_PAYLOAD or getattr(message, "method", None) not in ("GET", "HEAD"):
        return None
    if message.should_close or message.upgrade or message.version != (1, 1):
        return None
    headers, key = message.headers, message.path
    if any(name in headers for name in SLOW) or edge.bad_target(key):  # (a multidict: case-insensitive)
        return None
    stored = edge.store.get(key, headers)
    if stored is None or stored.status == 204:  # (a 204 carries no Content-Length: aiohttp's way writes it right)
        return None
    now = time.time()
    try:
        request_cc = cache_control(headers.getall("Cache-Control")) if "Cache-Control" in headers else {}
        if edge.fresh.decide(stored, request_cc, now) != "serve":
            return None
        age = int(edge.fresh.age(stored, now))
    except PluginFailed:
        return None  # the ordinary way answers it with the 500 that names the plug-in's bug
    request_id = request_id_from(headers.get(REQUEST_ID))
    body = stored.body if message.method == "GET" else b""
    answer = b"%sAge: %d\r\nX-Cache: HIT\r\n%s: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        wire_head(stored), age, REQUEST_ID.encode(), request_id.encode(), len(stored.body), body)
    recorded = edge.hops is not None  # (the path decoded, as the aiohttp way records it)
    edge.account(message.method, message.url.path if recorded else "", headers, stored.status, started, "HIT",
                 len(body), "", request_id, new_hop_id() if recorded else "")
    return answer


class Head:
    """A request head read by `read_head`: what fast_hit needs of aiohttp's parsed message."""
    __slots__ = ("method", "path", "headers")
    should_close, upgrade, version = False, False, (1, 1)

    def __init__(self, method: str, path: str, headers: CIMultiDict):
        self.method, self.path, self.headers = method, path, headers

    @property
    def url(self) -> URL:
        return URL.build(path=self.path.split("?", 1)[0], encoded=True)


def read_head(head: bytes) -> Head | None:
    """A plain GET/HEAD request head (plain_head.py says which), or None: aiohttp's parser then reads it."""
    plain = read_plain_head(head)
    return None if plain is None else Head(*plain)


class FastHits(_JSONErrors):
    """aiohttp's connection handler (with the JSON errors of the balancer's), answering fresh hits itself.

    Until the connection's first request that is not a fresh hit, it reads request heads itself (read_head) and
    aiohttp's parser never sees them. From that request on, aiohttp parses everything (its parser may hold half
    a request), and fresh hits are still answered from what it parsed whenever its handler is idle."""

    _fed = False  # has aiohttp's parser had bytes on this connection?
    _pending = b""  # the start of a request head not complete yet (before _fed)

    def data_received(self, data: bytes) -> None:
        if not self._fed:
            data = self._own(self._pending + data)
            if data is None:
                return
            self._fed, self._pending = True, b""
        self._parsed_by_aiohttp(data)

    def _own(self, data: bytes) -> bytes | None:
        """Answer the fresh hits at the start of `data`; what aiohttp must read (None: nothing)."""
        edge, at, served = self._manager.edge, 0, False
        try:
            while self.transport is not None:
                end = data.find(b"\r\n\r\n", at)
                if end < 0:
                    if len(data) - at > MAX_OWN_HEAD:
                        return data[at:]
                    self._pending = data[at:]
                    return None
                if self.writing_paused:  # the client is not reading its answers: aiohttp's flow control takes over
                    return data[at:]
                head = read_head(data[at:end + 4]) if end - at < MAX_OWN_HEAD else None
                answer = fast_hit(edge, head, EMPTY_PAYLOAD) if head is not None else None
                if answer is None:
                    return data[at:]
                self.transport.write(answer)
                served, at = True, end + 4
            return None
        finally:
            if served:
                self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout

    def _parsed_by_aiohttp(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done() or self._messages or self._payload_parser is not None:
            return super().data_received(data)  # busy, or mid-body: aiohttp's way, in order
        self._waiter = None  # so that aiohttp queues what it parses without waking its handler
        try:
            super().data_received(data)
        finally:
            self._waiter = waiter
        edge, served = self._manager.edge, False
        while self._messages and self.transport is not None and not self.writing_paused:
            message, payload = self._messages[0]
            answer = fast_hit(edge, message, payload)
            if answer is None:
                break
            self._messages.popleft()
            if hasattr(self._parser, "message_consumed"):
                self._parser.message_consumed()
            self.transport.write(answer)
            served = True
        if self._messages:
            waiter.set_result(None)  # the rest is aiohttp's
        elif getattr(self, "_buffer_paused", False):
            self._resume_reading_for_buffer()
        if served:  # the connection is in use: push its keep-alive deadline on, as aiohttp does after a request
            self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout


def usable() -> bool:
    """Does this aiohttp's connection handler have the parts FastHits uses?"""
    slots = {s for c in _JSONErrors.__mro__ for s in getattr(c, "__slots__", ())}
    return slots >= {"_waiter", "_messages", "_payload_parser", "_parser", "_keepalive_timeout", "_loop",
                     "_next_keepalive_close_time"}


class EdgeServer(JSONErrorServer):
    """aiohttp's low-level server for the edge: `FastHits` per connection (when usable), JSON errors."""
    who = "edge"

    def __init__(self, handler, edge, **kwargs):
        super().__init__(handler, **kwargs)
        self.edge, self.fast = edge, usable()

    def connection_handler(self) -> type:
        return FastHits if self.fast else _JSONErrors
