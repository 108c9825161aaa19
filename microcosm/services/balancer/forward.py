"""One attempt: a client's request sent on to one backend, and the backend's answer passed back.

What changes on the way, in each direction:

- **The request head.** Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade, the ones the
  client's Connection header names, ...) belong to the client's connection, not to the backend's: dropped.
  `X-Forwarded-For` gets the client's address appended; `X-Forwarded-Proto` and `-Host` say what the
  balancer saw (its scheme, the Host the client asked for), unless the caller is one of `trusted_proxies` (a
  CDN in front), whose values are believed. The request id (the client's, or a new one) and the caller
  headers of the hop records are written by the balancer, never copied from the client. Identity headers (`X-User`, `X-Scopes`) go on only with the gateway's proof that it set them
  (`trust.identity_proven`): from anyone else, they are a client claiming to be admin.
- **The body** goes on as it came: whole when the balancer kept it (to retry it), else streamed.
- **The answer.** A small one (up to `SMALL_BODY`) is read whole, so a backend that breaks off or breaks
  HTTP/1.1 half way still gets the client a clean 502 or 504. A bigger one (or one of unknown size) is
  streamed through piece by piece with bounded memory; if it breaks off, the client's connection is closed,
  so a cut body is never taken for a whole one.

A failure raises `UpstreamFailed`, which says whether another backend may be tried (`retriable`: nothing
was sent, or the backend answered 502/503 to a request that may be repeated); proxy.py decides.
"""
from __future__ import annotations

from aiohttp import web
from aiohttp.streams import StreamReader
from multidict import CIMultiDict

from ... import trust
from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID
from .backends import Backend
from .upstream import Broken, ConnectFailed, Malformed, Timeout, Unfinished

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "proxy-connection", "host", "content-length",
                        "expect"})
SET_HERE = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", REQUEST_ID.lower(), CALLER.lower(),
                      CALLER_INSTANCE.lower(), PARENT_HOP.lower()})  # the balancer writes these itself
IDENTITY = frozenset(h.lower() for h in (*trust.IDENTITY_HEADERS, trust.PROOF_HEADER))  # only with the gateway's proof
DROPPED = HOP_BY_HOP | SET_HERE  # never copied from the client's request
DROPPED_UNPROVEN = DROPPED | IDENTITY  # ... nor identity headers without the gateway's proof
RESPONSE_HOP_BY_HOP = (HOP_BY_HOP - {"content-length"}) | {"server", "date"}  # aiohttp writes its own
SMALL_BODY = 64 * 1024  # answers up to this size are read whole; bigger ones (or unknown size) are streamed


class UpstreamFailed(Exception):
    def __init__(self, status: int, message: str, retriable: bool):
        super().__init__(message)
        self.status, self.message, self.retriable = status, message, retriable


class Forwarding:
    """The balancer's forwarding part. The `Balancer` (server.py) mixes it in and sets what it uses: `name`,
    `trusted_proxies`, `connect_timeout`, `timeout`, and `_failed` (health.py)."""

    def _forward_headers(self, request, in_headers, client, request_id, hop_id, backend) -> tuple[str, bool]:
        """The request head for the backend (without its first line), and whether its body goes chunked."""
        # X-User: admin from a client, not from the gateway, is dropped
        drop = DROPPED if trust.identity_proven(in_headers) else DROPPED_UNPROVEN
        connection = in_headers.get("Connection")
        if connection:
            drop = drop | {t.strip().lower() for t in connection.split(",")}
        lines = [f"Host: {backend.netloc}"]
        for k, v in in_headers.items():
            if k.lower() not in drop:
                lines.append(f"{k}: {v}")
        forwarded_for = in_headers.get("X-Forwarded-For")
        lines.append(f"X-Forwarded-For: {forwarded_for}, {client}" if forwarded_for else f"X-Forwarded-For: {client}")
        trusted = client in self.trusted_proxies
        proto = in_headers.get("X-Forwarded-Proto") if trusted else None
        host = in_headers.get("X-Forwarded-Host") if trusted else None
        lines.append(f"X-Forwarded-Proto: {proto or request.scheme}\r\n"  # (one string: fewer pieces to join)
                     f"X-Forwarded-Host: {host or in_headers.get('Host', '')}\r\n{REQUEST_ID}: {request_id}\r\n"
                     f"{CALLER}: balancer\r\n{CALLER_INSTANCE}: {self.name}\r\n{PARENT_HOP}: {hop_id}")
        chunked = False
        if request.body_exists:
            if request.content_length is not None:
                lines.append(f"Content-Length: {request.content_length}")
            else:
                lines.append("Transfer-Encoding: chunked")
                chunked = True
        return "\r\n".join(lines) + "\r\n\r\n", chunked

    def _request_head(self, request, backend: Backend, method, request_id, hop_id, client) -> tuple[bytes, bool]:
        """The request's head for `backend`, as bytes, and whether its body goes chunked."""
        head, chunked = self._forward_headers(request, request.headers, client, request_id, hop_id, backend)
        return f"{method} {request.raw_path} HTTP/1.1\r\n{head}".encode("utf-8", "surrogateescape"), chunked

    async def _send(self, request, backend: Backend, method, body, request_id, hop_id, client):
        """The request sent to `backend` on a pooled connection (given back), or UpstreamFailed."""
        head, chunked = self._request_head(request, backend, method, request_id, hop_id, client)
        try:
            conn = await backend.pool.get(self.connect_timeout)
        except ConnectFailed as exc:  # nothing was sent: always safe to try another backend
            raise UpstreamFailed(502, f"{backend.id} refused the connection ({exc})", True) from None
        try:
            await conn.send(head, body.iter_any() if isinstance(body, StreamReader) else body, chunked)
        except (Broken, OSError) as exc:  # reset or closed while the request went out
            conn.close()
            raise self._failure(backend, exc) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _failure(self, backend: Backend, exc: Exception) -> UpstreamFailed:
        """What the client is told when `backend` failed with `exc` after the request went out."""
        if isinstance(exc, Unfinished):
            return UpstreamFailed(504, f"{backend.id} did not finish its answer within {self.timeout:g} s", False)
        if isinstance(exc, Timeout):
            return UpstreamFailed(504, f"{backend.id} did not answer within {self.timeout:g} s", False)
        if isinstance(exc, Malformed):  # not HTTP as RFC 9112 has it: never guess what the backend meant
            return UpstreamFailed(502, f"{backend.id} sent a malformed answer ({exc})", False)
        return UpstreamFailed(502, f"{backend.id} dropped the connection ({exc})", False)  # reset or closed

    async def _read_whole(self, conn, backend: Backend) -> bytes:
        """A small answer's body, read whole (so a backend that breaks off is a clean 502 or 504)."""
        data = bytearray()
        try:
            while piece := await conn.read_chunk(self.timeout):
                data += piece
        except Timeout:
            raise UpstreamFailed(504, f"{backend.id} did not finish its answer within {self.timeout:g} s",
                                 False) from None
        except Malformed as exc:
            raise UpstreamFailed(502, f"{backend.id} sent a malformed answer ({exc})", False) from None
        except (Broken, OSError) as exc:
            raise UpstreamFailed(502, f"{backend.id} broke off its answer ({exc})", False) from None
        return bytes(data)

    async def _pass_on(self, conn, backend: Backend, write) -> bool:
        """A big (or unknown-size) body through `write`, piece by piece, never whole in memory. False if the
        backend broke off: the caller then closes the client's connection, so a cut body is never taken for a
        whole one."""
        try:
            while piece := await conn.read_chunk(self.timeout):
                await write(piece)
        except (Timeout, Broken, OSError) as exc:
            self._failed(backend, f"broke off a streamed answer ({type(exc).__name__})")
            return False
        return True

    async def _attempt(self, request, backend: Backend, method, body, can_retry, request_id, hop_id, client, whole,
                       stream):
        """One attempt on `backend`: (the answer, status), or UpstreamFailed. A small answer is read whole and
        made by `whole(method, status, headers, body)`; a big (or unknown-size) one is passed on by
        `stream(request, conn, backend, status, headers, length)`, which gives (the answer, whether it was read
        to its end). The ordinary way's two make aiohttp responses, the fast path's bytes (fastpath.py)."""
        conn = await self._send(request, backend, method, body, request_id, hop_id, client)
        return await self._answer(request, conn, backend, method, can_retry, whole, stream)

    async def _answer(self, request, conn, backend: Backend, method, can_retry, whole, stream):
        """`_attempt` from the request sent on `conn` (relay.py goes on from here too, when an answer is not the
        plain kind it passes on itself): the answer's head read, its body read whole or streamed."""
        finished = False
        try:
            try:
                status, raw_headers = await conn.read_head(method, self.timeout)
            except (Timeout, Broken, OSError) as exc:
                raise self._failure(backend, exc) from None
            if can_retry and status in (502, 503):
                raise UpstreamFailed(status, f"{backend.id} answered {status}", True)
            out_headers = self._response_headers(raw_headers)
            out_headers["X-Backend"] = backend.id  # which instance answered (for curious cells and tests)
            length = conn.body_length
            if length is not None and length <= SMALL_BODY:
                data = await self._read_whole(conn, backend)
                finished = True
                conn.release()
                return whole(method, status, out_headers, data), status
            out_headers.popall("Content-Length", None)
            answer, finished = await stream(request, conn, backend, status, out_headers, length)
            if finished:
                conn.release()
            return answer, status
        finally:
            if not finished:
                conn.close()

    def _forward(self, request, backend: Backend, method, body, can_retry, request_id, hop_id, client=""):
        """One attempt on `backend`, the ordinary way: what `balance` awaits for (aiohttp response to send,
        status), or UpstreamFailed (`_attempt`'s coroutine, given as it is: one coroutine less to resume)."""
        return self._attempt(request, backend, method, body, can_retry, request_id, hop_id, client,
                                   self._whole_response, self._stream_response)

    @staticmethod
    def _whole_response(method, status, out_headers, data) -> web.Response:
        if method == "HEAD" and "Content-Length" in out_headers:
            return web.Response(status=status, headers=out_headers)
        return web.Response(status=status, body=data, headers=out_headers)

    async def _stream_response(self, request, conn, backend, status, out_headers, length):
        response = web.StreamResponse(status=status, headers=out_headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        if not await self._pass_on(conn, backend, response.write):
            if request.transport is not None:
                request.transport.close()
            return response, False
        await response.write_eof()
        return response, True

    @staticmethod
    def _response_headers(headers, connection: list[str] | None = None) -> CIMultiDict:
        """The backend's answer headers minus hop-by-hop ones (and those its Connection header names: the values
        of its Connection headers in `connection` when the caller has them, else found here)."""
        if connection is None:
            connection = [v for k, v in headers if k.lower() == "connection"]
        drop = Forwarding._dropped(connection)
        return CIMultiDict([field for field in headers if field[0].lower() not in drop])

    @staticmethod
    def _dropped(connection) -> frozenset:
        """The lower-case names of the answer headers not passed on: hop-by-hop ones, and those that the values
        of its Connection headers (`connection`) name."""
        if not connection:
            return RESPONSE_HOP_BY_HOP
        return RESPONSE_HOP_BY_HOP | {t.strip().lower() for v in connection for t in v.split(",")}
