"""Step 4 on the event loop: one request to one instance of a service, the answer read whole.

The same call as proxy.py's `forward` (upstream.py's blocking pool), on the balancer's asyncio connections
(balancer/pool.py and upstream.py: pooled keep-alive HTTP/1.1, answers parsed strictly by services/http1.py):
the request is encoded by upstream.py's `encode_request`, the answer comes back as upstream.py's `Answer`, and
a service that cannot answer raises proxy.py's own errors: 503 when it refuses the connection or drops it,
504 when it is silent longer than the gateway's `upstream_timeout`. An idempotent request on a reused
connection that the service had closed before answering is sent once more, on a new one (as upstream.py does).
"""
from __future__ import annotations

from ...balancer.pool import Pool
from ...balancer.upstream import Broken, ConnectFailed, Timeout
from ..proxy import failure
from ..upstream import IDEMPOTENT, MAX_BODY, Answer, encode_request, place


class AnswerTooBig(Broken):
    """A body over upstream.MAX_BODY: the gateway never holds one whole."""


class Forwarder:
    """Idle connections to every instance the gateway calls, one pool per (host, port)."""

    def __init__(self, timeout: float, keep: int = 64):
        self.timeout = timeout
        self.pools: dict[tuple, Pool] = {}
        self.keep = keep

    async def request(self, method: str, base_url: str, target: str, upstream: str, headers: dict,
                      body: bytes | None) -> Answer:
        """The service's answer, or proxy.failure's UpstreamError (503/504)."""
        (host, port), prefix, netloc = place(base_url)
        data = encode_request(method, prefix + target, netloc, headers, body)
        pool = self.pools.get((host, port))
        if pool is None:
            if len(self.pools) > 1024:  # instances come and go (the registry): bounded anyway
                for old in self.pools.values():
                    old.close()
                self.pools.clear()
            pool = self.pools[(host, port)] = Pool(host, port, keep=self.keep)
        for attempt in (1, 2):
            try:
                conn = await pool.get(min(self.timeout, 1.0))
            except ConnectFailed:
                raise failure("refused", upstream, self.timeout) from None
            reused, done = conn.idle_since > 0, False
            try:
                await conn.send(data)
                status, fields = await conn.read_head(method, self.timeout)
                buf = bytearray()
                while piece := await conn.read_chunk(self.timeout):
                    buf += piece
                    if len(buf) > MAX_BODY:
                        raise AnswerTooBig(f"an answer over {MAX_BODY} bytes")
                done = True
                conn.release()
                return Answer(status, fields, bytes(buf))
            except Timeout:
                raise failure("timeout", upstream, self.timeout) from None
            except (Broken, OSError) as exc:
                unanswered = isinstance(exc, Broken) and ("before answering" in str(exc) or "before the request" in
                                                          str(exc))  # (upstream.py's words for it)
                if reused and unanswered and attempt == 1 and method in IDEMPOTENT:
                    continue  # the service closed this idle connection as we sent: a new one
                raise failure("broken", upstream, self.timeout) from None
            finally:
                if not done:
                    conn.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
