"""What the edge does with each request that is not its own: serve, revalidate, fetch, or pass it through.

    GET/HEAD, no Range or other precondition     the cached path:
        look up the variant (storage.py)  ->  freshness.decide(...)  ->
          "serve"       answer from the store                                      X-Cache: HIT
          "revalidate"  stale-while-revalidate allows? serve now, refresh behind   X-Cache: STALE
                        else a conditional GET to the origin: 304 -> stored headers updated
                                                                                   X-Cache: REVALIDATED
          "fetch"       a GET to the origin (one per key at a time: collapsing.py), stored if
                        storable.py allows                                         X-Cache: MISS
        origin down or 5xx, stale-if-error allows?  the stale answer               X-Cache: STALE
    anything else (POST, Range, If-Match ...)   passed through untouched, never stored     X-Cache: MISS
        and an unsafe method's success invalidates what it changed (invalidation.py)

Every answer carries `Age` (freshness.age) and `X-Cache`; a MISS that was not stored says why in
`X-Cache-Reason`. A HEAD on a miss is fetched as a GET, so the next GET or HEAD is a hit.
"""
from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from multidict import CIMultiDict
from werkzeug.http import http_date as format_http_date

from ..base import REQUEST_ID
from . import stale
from .fields import cache_control
from .invalidation import invalidated_keys
from .origin import OriginFailed
from .storage import Stored
from .validation import conditional_headers, freshen, headers_for_304, not_modified, same_representation

log = logging.getLogger("microcosm.cdn")
PASS_THROUGH = frozenset({"range", "if-range", "if-match", "if-unmodified-since"})  # not implemented: passed on
NOT_STORED = frozenset({REQUEST_ID.lower()})  # a per-request field of the origin's answer


class Outcome:
    """What one trip to the origin gave: `stored` (the answer, stored or not), `state`, `reason` it was not
    stored, or `failed` (OriginFailed), or `big` (an Answer too big to hold, still streaming)."""

    def __init__(self, state, stored=None, reason="", failed=None, big=None):
        self.state, self.stored, self.reason, self.failed, self.big = state, stored, reason, failed, big


class Flow:
    """The request flow. `Edge` (app.py) mixes it in and sets `store`, `origin`, `fresh` (the Freshness),
    `storable` (storable.refusal, or a plug-in), `collapser`, `max_body`, `tasks`, `invalidated`, and the
    methods `error`, `record_origin_failure`."""

    async def cached(self, ex) -> web.StreamResponse:
        request, key = ex.request, ex.key
        req_cc = cache_control(request.headers.getall("Cache-Control", ()))
        for round in (1, 2):
            stored = self.store.get(key, request.headers)
            now = time.time()
            decision = self.fresh.decide(stored, req_cc, now)
            if decision == "serve":
                return self.from_store(ex, stored, "HIT", now)
            if "only-if-cached" in req_cc:
                ex.state = "MISS"
                return self.error(504, "only-if-cached: no fresh answer in the store", ex.request_id)
            if decision == "revalidate":
                stale_by = self.fresh.age(stored, now) - self.fresh.lifetime(stored)
                if stale.while_revalidating(stored, req_cc, stale_by):
                    self.refresh_behind(ex, stored, req_cc)
                    return self.from_store(ex, stored, "STALE", now)
            flight = self.collapser.leader_of(key)
            if flight is None or round == 2:
                break
            await self.collapser.follow(flight)  # someone is fetching it: wait, then look again
        flight = self.collapser.lead(key)
        try:
            outcome = await self.refresh(ex, req_cc, stored if decision == "revalidate" else None)
        finally:
            self.collapser.land(key, flight)
        return await self.answer(ex, outcome, stored, req_cc)

    async def answer(self, ex, outcome: Outcome, stored, req_cc) -> web.StreamResponse:
        """The client's answer from a trip to the origin (or the stale one, if the trip failed)."""
        if outcome.failed is not None or outcome.state == "ERROR":
            now = time.time()
            if stored is not None and stale.on_error(stored, req_cc, self.fresh.age(stored, now) -
                                                     self.fresh.lifetime(stored)):
                return self.from_store(ex, stored, "STALE", now)
            if outcome.failed is not None:
                ex.state, ex.error = "MISS", outcome.failed.message
                return self.error(outcome.failed.status, outcome.failed.message, ex.request_id)
        if outcome.big is not None:
            return await self.stream(ex, outcome.big)
        return self.from_store(ex, outcome.stored, "REVALIDATED" if outcome.state == "REVALIDATED" else "MISS",
                               time.time(), outcome.reason)

    async def refresh(self, ex, req_cc, stored, in_headers=None) -> Outcome:
        """One trip to the origin for `ex.key`: conditional when `stored` has a validator; the store updated."""
        in_headers = in_headers if in_headers is not None else ex.request.headers
        headers = self.origin.headers_for(in_headers, ex.client, ex.request_id, ex.hop_id, caching=True)
        if stored is not None:
            headers += conditional_headers(stored)
        try:
            answer = await self.origin.fetch("GET", ex.key, headers)
        except OriginFailed as failed:
            self.record_origin_failure(ex, failed)
            return Outcome("ERROR", failed=failed)
        if answer.status == 304 and stored is not None:
            if same_representation(stored, answer.headers):
                freshen(stored, _storable_fields(answer.headers), answer.request_time, answer.response_time)
                self.store.resized(stored)
                return Outcome("REVALIDATED", stored)
            self.store.invalidate(ex.key)  # it validated another representation: get this one in full
            return await self.refresh(ex, req_cc, None, in_headers)
        if answer.rest is not None:
            self.store.invalidate(ex.key)
            return Outcome("MISS", reason=f"over {self.origin.max_object} bytes", big=answer)
        fields = list(_storable_fields(answer.headers).items())
        if "Date" not in answer.headers:  # RFC 9110 §6.6.1: a recipient with a clock adds the Date it received it
            fields.append(("Date", format_http_date(answer.response_time)))
        new = Stored(answer.status, fields, answer.body, answer.request_time, answer.response_time, key=ex.key)
        reason = self.storable("GET", in_headers, req_cc, answer.status, answer.headers, new.cc)
        if reason is None and not self.store.put(new, in_headers):
            reason = "bigger than the whole store"
        if reason is not None and answer.status not in stale.ERRORS and "no-store" not in req_cc:
            self.store.invalidate(ex.key)  # what was stored is out of date, and this may not replace it
            # (a 5xx does not: RFC 9111 §4.3.3 lets the cache act as if the origin had not answered; nor does
            # a client's no-store, which is about this exchange only)
        if stored is not None and answer.status in stale.ERRORS:
            return Outcome("ERROR", new, reason)
        return Outcome("MISS", new, reason or "")

    def refresh_behind(self, ex, stored, req_cc) -> None:
        """stale-while-revalidate: revalidate in the background (once per key at a time)."""
        if self.collapser.leader_of(ex.key) is not None:
            return
        flight = self.collapser.lead(ex.key)
        headers = CIMultiDict(ex.request.headers)

        async def run():
            try:
                await self.refresh(ex, req_cc, stored, headers)
            except Exception:  # a background task has no client to tell: log it
                log.exception("%s: background revalidation of %s failed", self.name, ex.key)
            finally:
                self.collapser.land(ex.key, flight)

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def from_store(self, ex, stored: Stored, state: str, now: float, reason: str = "",
                   length: str | None = None) -> web.Response:
        """An answer made from a stored (or just fetched) answer, with its Age and X-Cache."""
        request = ex.request
        ex.state = state
        extra = {"Age": str(int(self.fresh.age(stored, now))), "X-Cache": state, REQUEST_ID: ex.request_id}
        if reason:
            extra["X-Cache-Reason"] = reason
        if request.method in ("GET", "HEAD") and not_modified(request.headers, stored):
            headers = CIMultiDict(headers_for_304(stored))
            headers.update(extra)
            return web.Response(status=304, headers=headers)
        headers = CIMultiDict(stored.headers)
        headers.popall("X-Cache-Reason", None)
        headers.update(extra)  # replaces the origin's Age and X-Cache
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(stored.body) if length is None else length)
            return web.Response(status=stored.status, headers=headers)
        ex.bytes = len(stored.body)
        return web.Response(status=stored.status, body=stored.body, headers=headers)

    async def stream(self, ex, answer) -> web.StreamResponse:
        """A big answer: what was read, then the rest as it comes; never stored."""
        ex.state = "MISS"
        headers = CIMultiDict(answer.headers)
        headers.update({"Age": "0", "X-Cache": "MISS", "X-Cache-Reason": f"over {self.origin.max_object} bytes",
                        REQUEST_ID: ex.request_id})
        response = web.StreamResponse(status=answer.status, headers=headers)
        if answer.length is not None:
            response.content_length = answer.length
        if ex.request.method == "HEAD":
            answer.rest.close()
            await response.prepare(ex.request)
            await response.write_eof()
            return response
        await response.prepare(ex.request)
        try:
            await response.write(answer.body)
            ex.bytes = len(answer.body)
            async for piece in self.origin.read_rest(answer.rest):
                await response.write(piece)
                ex.bytes += len(piece)
            await response.write_eof()
        except Exception as exc:  # the origin or the client broke off: a cut body must not look whole
            answer.rest.close()
            ex.error = f"stream broken off ({type(exc).__name__})"
            if ex.request.transport is not None:
                ex.request.transport.close()
        return response

    async def pass_through(self, ex) -> web.StreamResponse:
        """Send the request on as it is, pass the answer back, never store it; invalidate after a write."""
        request = ex.request
        body = None
        if request.body_exists:
            if (request.content_length or 0) > self.max_body:
                return self.error(413, f"the body is over the edge's {self.max_body} byte limit", ex.request_id)
            body = await request.content.read(self.max_body + 1)
            if len(body) > self.max_body:
                return self.error(413, f"the body is over the edge's {self.max_body} byte limit", ex.request_id)
        headers = self.origin.headers_for(request.headers, ex.client, ex.request_id, ex.hop_id, caching=False)
        try:
            answer = await self.origin.fetch(request.method, ex.key, headers, body)
        except OriginFailed as failed:
            self.record_origin_failure(ex, failed)
            ex.state, ex.error = "MISS", failed.message
            return self.error(failed.status, failed.message, ex.request_id)
        for key in invalidated_keys(request.method, answer.status, ex.key, answer.headers,
                                    {request.host, self.origin.netloc}):
            self.invalidated += self.store.invalidate(key)
        if answer.rest is not None:
            return await self.stream(ex, answer)
        passed = Stored(answer.status, list(_storable_fields(answer.headers).items()), answer.body,
                        answer.request_time, answer.response_time, key=ex.key)
        response = self.from_store(ex, passed, "MISS", time.time(), "passed through", answer.declared_length)
        ex.pass_through = True
        return response


def _storable_fields(headers) -> CIMultiDict:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in NOT_STORED)
