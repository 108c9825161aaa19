"""The fast path's two ends on the wire: a plain request as the balancer reads it, an answer as aiohttp writes it.

- `FastRequest` is a plain GET or HEAD (plain_head.py says which) with what proxy.py and forward.py read of
  aiohttp's request: method, path, raw_path, path_qs, query, headers, remote, scheme, body_exists,
  content_length. A target aiohttp would decode or rewrite (a `%` escape, a fragment, a dot segment) and the
  balancer's own paths (`/_balancer/...`, `/health`, `/metrics`) are not read here: they take the ordinary way.
- `answer_bytes` writes what aiohttp's `web.Response` writes for the same status, headers and body (the same
  Content-Length, Content-Type, Date and Server rules, its own header serializer), so a client cannot tell which
  way its request took; `stream_head` does the same for the head of a streamed answer.
"""
from __future__ import annotations

from aiohttp.helpers import must_be_empty_body, rfc822_formatted_time, should_remove_content_length
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.http_writer import _serialize_headers
from aiohttp.web_response import REASON_PHRASES
from multidict import CIMultiDict, MultiDict, MultiDictProxy
from yarl import URL

from ..plain_head import read_plain_head

NO_QUERY = MultiDictProxy(MultiDict())
OWN_PATHS = ("/health", "/metrics")  # the balancer's own routes, with /_balancer/... (proxy.Proxy.handle)


class FastRequest:
    """A plain GET/HEAD request read by `read_request`, with the attributes of aiohttp's request that the
    balancer's code reads (`protocol` is the client's connection, which a streamed answer is written to)."""
    __slots__ = ("method", "raw_path", "query_string", "headers", "remote", "protocol")
    scheme, body_exists, content_length = "http", False, None

    def __init__(self, method, raw_path, query_string, headers, remote, protocol):
        self.method, self.raw_path, self.query_string, self.headers = method, raw_path, query_string, headers
        self.remote, self.protocol = remote, protocol

    @property
    def path(self) -> str:  # (no % escape in it: the raw path is the decoded one)
        return self.raw_path.partition("?")[0]

    @property
    def path_qs(self) -> str:
        return self.raw_path

    @property
    def query(self):
        if not self.query_string:
            return NO_QUERY
        return URL.build(path=self.path, query_string=self.query_string, encoded=True).query


def read_request(head: bytes, remote: str, protocol) -> FastRequest | None:
    """The request in `head` (ending in CRLF CRLF) if the fast path may take it, else None (the ordinary way)."""
    plain = read_plain_head(head)
    if plain is None:
        return None
    method, target, headers = plain
    if "%" in target or "#" in target or "/." in target:
        return None
    path, _, query_string = target.partition("?")
    if path.startswith("/_balancer") or path in OWN_PATHS:  # (as Proxy.handle tells them apart)
        return None
    return FastRequest(method, target, query_string, headers, remote, protocol)


def answer_bytes(method: str, status: int, headers: CIMultiDict, body: bytes, reason: str | None = None) -> bytes:
    """Status line, headers and body as aiohttp writes `web.Response(status=, headers=, body=)` on a kept-alive
    HTTP/1.1 connection (web_response.py: Response._start, StreamResponse._prepare_headers). `headers` changes."""
    if "Content-Length" in headers:
        if should_remove_content_length(method, status):
            del headers["Content-Length"]
    elif body or status != 304 and method != "HEAD":
        headers["Content-Length"] = str(len(body))
    empty = must_be_empty_body(method, status)
    if empty:
        if "Content-Length" in headers and should_remove_content_length(method, status):
            del headers["Content-Length"]
    elif headers.get("Content-Length") != "0":
        headers.setdefault("Content-Type", "application/octet-stream")
    return _finish(status, headers, reason) + (b"" if empty else body)


def plain_answer_bytes(status: int, headers, drop, backend_id: str, body: bytes) -> bytes | None:
    """What `answer_bytes` writes for a GET's answer from a backend (its headers but those in `drop`, by lower-case
    name, then `X-Backend: backend_id`), in one pass over the header pairs, without a CIMultiDict; only for the
    common case, where aiohttp's rules change nothing but Date and Server (a status with a body, one Content-Length
    and a Content-Type among the headers kept, no X-Backend of the backend's own, Date and Server dropped); None for
    anything else (then answer_bytes). relay.py's answers; test_balancer_wire compares the two."""
    if status < 200 or status in (204, 304) or "\r" in backend_id or "\n" in backend_id:
        return None
    lines = [f"HTTP/1.1 {status} {REASON_PHRASES.get(status, '')}"]
    lengths = types = 0
    for name, value in headers:
        lower = name.lower()
        if lower in drop:
            continue
        if lower == "content-length":
            lengths += 1
        elif lower == "content-type":
            types += 1
        elif lower == "x-backend":
            return None
        lines.append(f"{name}: {value}")
    if lengths != 1 or not types or "date" not in drop or "server" not in drop:
        return None
    lines.append(f"X-Backend: {backend_id}\r\nDate: {rfc822_formatted_time()}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n")
    return "\r\n".join(lines).encode("utf-8") + body


def stream_head(status: int, headers: CIMultiDict, length: int | None) -> bytes:
    """The head of a streamed answer as aiohttp writes `web.StreamResponse` (its Content-Length set when the
    length is known, else chunked) for a GET; a streamed answer's status always has a body."""
    if length is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(length)
    if length != 0:
        headers.setdefault("Content-Type", "application/octet-stream")
    return _finish(status, headers, None)


def _finish(status: int, headers: CIMultiDict, reason: str | None) -> bytes:
    if "Date" not in headers:
        headers["Date"] = rfc822_formatted_time()
    headers.setdefault("Server", SERVER_SOFTWARE)
    if reason is None:
        reason = REASON_PHRASES.get(status, "")
    return _serialize_headers(f"HTTP/1.1 {status} {reason}", headers)
