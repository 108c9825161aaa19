"""A plain GET or HEAD of a plain route read straight from the connection's bytes, its answer written as bytes.

aiohttp's Request, its task and its Response written by a StreamWriter cost the front about as much as its own
work on a routing-only request (bench/RESULTS.md, issue 12). The balancer's connection handler
(balancer/fastpath.py: `FastConnection`) reads each plain head itself (plain_head.py) and asks its server's side
to read and answer it; `FastFront` is the front's side, mixed into the `Front` (server.py):

    read_fast     the head as a `FastRequest` (balancer/wire.py), taken only when aiohttp's way would give it to
                  plain.py too: no `Origin`, no fault injected at the gateway, a plain route; else None, and the
                  connection is aiohttp's (and the Flask app's, through the bridge) from that request on
    answer_fast   plain.py's answer, the same code as aiohttp's way, written as aiohttp writes it (wire.answer_bytes)
    failed_fast   a bug of ours: the 500 the front's ordinary way gives

Same counts, metrics, hops and access log as aiohttp's way (plain.py does them); `fast_path=False` in the
gateway's config turns this off.
"""
from __future__ import annotations

import logging
import traceback

from ...balancer.wire import FastRequest, answer_bytes
from ...plain_head import read_plain_head
from .bridge import fields_from

log = logging.getLogger("microcosm")


class FastFront:
    """The front's side of a `FastConnection`. The `Front` sets what it uses: `chaos`, `counts`, `plain_route`,
    `plain`, `error`."""

    def read_fast(self, head: bytes, remote: str, protocol):
        """(request, route found, query, fields) when the front answers this head itself, else None."""
        chaos = self.chaos
        if chaos.delay_ms or chaos.fail_next or chaos.fail_rate:  # the Flask app applies the fault
            return None
        plain = read_plain_head(head)
        if plain is None:
            return None
        method, target, headers = plain
        fields = fields_from(headers.items())
        if "origin" in fields:  # CORS is the Flask app's
            return None
        query = target.partition("?")[2].partition("#")[0]
        request = FastRequest(method, target, query, headers, remote, protocol)
        query_bytes = query.encode("latin-1")
        found = self.plain_route(request, target, query_bytes, fields)
        return None if found is None else (request, found, query_bytes, fields)

    async def answer_fast(self, read, started: float) -> bytes:
        request, found, query, fields = read
        self.counts["on_the_loop"] += 1
        self.counts["read_from_bytes"] += 1
        try:
            response = await self.plain(request, *found, query, fields)
        except Exception:  # a bug of ours: a 500 that says so, the details in the log (as server.py does)
            log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
            response = self.error(500, "internal error: the service logged the details")
        return answer_bytes(request.method, response.status, response.headers, response.body, response.reason)

    def failed_fast(self, read) -> bytes:
        request = read[0]
        log.error("unhandled error on %s %s\n%s", request.method, request.path, traceback.format_exc())
        response = self.error(500, "internal error: the service logged the details")
        return answer_bytes(request.method, response.status, response.headers, response.body, response.reason)
