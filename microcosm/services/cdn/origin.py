"""The edge's side towards its origin: one request, its answer read whole up to `max_object` bytes.

It reuses the balancer's pooled HTTP/1.1 client (balancer/upstream.py, strict parsing by services/http1.py)
and its list of headers that never cross a proxy (balancer/forward.py): hop-by-hop fields, the ones the
client's `Connection` names, and identity headers without the gateway's proof. What it adds:

- `origin_delay_ms`: a wait before every request to the origin, the distance to it (a far region);
- the request id and the caller headers of the hop records (`X-Caller: cdn`), `Via`, `X-Forwarded-*`;
- an answer bigger than `max_object` (or of unknown size that turns out bigger) is not held: `Answer.rest`
  is the connection still carrying its remainder, which the edge streams to the client and never stores.

A failure raises `OriginFailed` with the status the client would get (502 refused or broken, 504 silent).
"""
from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from multidict import CIMultiDict

from ... import trust
from ..balancer.forward import DROPPED, DROPPED_UNPROVEN, HOP_BY_HOP
from ..balancer.pool import Pool
from ..balancer.upstream import Broken, ConnectFailed, Malformed, Timeout
from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID

CONDITIONAL = frozenset({"if-none-match", "if-modified-since"})  # the edge answers these itself when caching


def answer_headers(raw) -> CIMultiDict:
    """The origin's answer headers minus hop-by-hop ones, those its Connection names, Content-Length (the
    edge sets it from the body it sends) and Server. Date is kept: a cache computes ages from it."""
    drop = HOP_BY_HOP | {"server"}
    for k, v in raw:
        if k.lower() == "connection":
            drop = drop | {t.strip().lower() for t in v.split(",")}
    return CIMultiDict((k, v) for k, v in raw if k.lower() not in drop)


class OriginFailed(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Answer:
    def __init__(self, status, headers, body, rest, request_time, response_time, length, declared_length=None):
        self.status, self.headers, self.body, self.rest = status, headers, body, rest
        self.declared_length = declared_length  # the Content-Length it said (what a HEAD answer passes on)
        self.request_time, self.response_time, self.length = request_time, response_time, length


class Origin:
    def __init__(self, url: str, name: str, delay_ms: float = 0, connect_timeout: float = 1.0,
                 timeout: float = 10.0, max_object: int = 1 << 20):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"origin must be 'http://host:port' (where the edge fetches from), got {url!r:.200}")
        self.url, self.netloc, self.name = url.rstrip("/"), parts.netloc, name
        self.pool = Pool(parts.hostname, parts.port or 80)
        self.delay = float(delay_ms) / 1000
        self.connect_timeout, self.timeout, self.max_object = connect_timeout, timeout, max_object
        self.requests = 0

    def headers_for(self, in_headers, client: str, request_id: str, hop_id: str, caching: bool) -> list:
        """The client's headers as they go on to the origin (no Host: fetch() writes it)."""
        drop = DROPPED if trust.identity_proven(in_headers) else DROPPED_UNPROVEN
        for value in in_headers.getall("Connection", ()):
            drop = drop | {t.strip().lower() for t in value.split(",")}
        if caching:
            drop = drop | CONDITIONAL
        headers = [(k, v) for k, v in in_headers.items() if k.lower() not in drop]
        forwarded_for = in_headers.get("X-Forwarded-For")
        headers += [("X-Forwarded-For", f"{forwarded_for}, {client}" if forwarded_for else client),
                    ("X-Forwarded-Proto", "http"), ("X-Forwarded-Host", in_headers.get("Host", "")),
                    ("Via", f"1.1 {self.name}"), (REQUEST_ID, request_id), (CALLER, "cdn"),
                    (CALLER_INSTANCE, self.name), (PARENT_HOP, hop_id)]
        return headers

    async def fetch(self, method: str, target: str, headers: list, body: bytes | None = None) -> Answer:
        if self.delay:
            await asyncio.sleep(self.delay)  # the way to a far origin
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.netloc}", *(f"{k}: {v}" for k, v in headers)]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
        try:
            conn = await self.pool.get(self.connect_timeout)
        except ConnectFailed as exc:
            raise OriginFailed(502, f"the origin refused the connection ({exc})") from None
        self.requests += 1
        request_time = time.time()
        try:
            await conn.send(head, body or None)
            status, raw = await conn.read_head(method, self.timeout)
            response_time = time.time()
            length = conn.body_length
            data = bytearray()
            while len(data) <= self.max_object and (piece := await conn.read_chunk(self.timeout)):
                data += piece
        except Timeout:
            conn.close()
            raise OriginFailed(504, f"the origin did not answer within {self.timeout:g} s") from None
        except Malformed as exc:
            conn.close()
            raise OriginFailed(502, f"the origin sent a malformed answer ({exc})") from None
        except (Broken, OSError) as exc:
            conn.close()
            raise OriginFailed(502, f"the origin dropped the connection ({exc})") from None
        rest = None
        if len(data) > self.max_object:
            rest = conn  # too big to hold: the edge streams the remainder, then releases it
        else:
            conn.release()
        declared = next((v.strip() for k, v in raw if k.lower() == "content-length" and v.strip().isdigit()), None)
        return Answer(status, answer_headers(raw), bytes(data), rest, request_time, response_time, length, declared)

    async def read_rest(self, conn):
        """The remaining pieces of a big answer (raises what read_chunk raises)."""
        while piece := await conn.read_chunk(self.timeout):
            yield piece
        conn.release()

    def close(self) -> None:
        self.pool.close()
