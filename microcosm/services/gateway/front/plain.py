"""A plain route answered on the event loop: proxy.py's steps, with proxy.py's functions, in proxy.py's order.

    the edge checks (edge.check)              a request that fails them is the Flask app's to answer
    the route (routing.RouteTable)            the table's prefixes; a prefix some other URL rule of the Flask
                                              app could also match is left to the app's URL map (`by_url_map`),
                                              so a path is a plain route here exactly when it is one there
    internal segment, owner segment           proxy.rest_of: 404
    method, token, owner, rate limit          Gateway.scopes_for (405), EdgeAuth.authenticate (401/403),
                                              check_owner (403), RateLimits.check_async (429)
    forward                                   forward.py: 503 / 504, the failed hop recorded
    the answer                                proxy.returned_headers, RateLimit-*, X-Request-ID

The token check runs on the loop when the token was verified before and the JWKS held is not out of date
(`EdgeAuth.authenticate(io=False)`: no I/O); otherwise (first sight, a JWKS refetch, your own verifier) in the
thread pool. The JWKS is fetched again in a thread before it is out of date (`_fetch_keys_ahead`). The rate
limit's EVALSHA goes out on the front's asyncio Redis connection; a limiter of your own runs in the thread pool.
"""
from __future__ import annotations

import asyncio
import logging
import time

from werkzeug.exceptions import HTTPException
from werkzeug.sansio.utils import get_host

from ...calls import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, request_id_from
from ...errors import ApiError, UpstreamError
from ..app import Gateway
from ..edge import check as edge_check
from ..edge_auth import FORWARDED_HEADERS, KEYS_AHEAD, check_owner, identity_headers
from ..proxy import rest_of, returned_headers, target_of
from ..rate_limit import rate_limit_headers
from ..routing import PUBLIC, RouteTable
from .bridge import TooBig, read_body
from ...balancer.proxy import new_hop_id

PLAIN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
_FORWARDED = [(name, name.lower()) for name in FORWARDED_HEADERS]
log = logging.getLogger("microcosm")


def by_url_map(table: RouteTable, other_rules) -> set[str]:
    """The prefixes of `table` that the front leaves to the app's URL map: those `match` does not read, those
    under another route's prefix, and those one of the app's `other_rules` (URL rule strings: composition's,
    translation's ...) could also match, a rule under the prefix or with a converter where the prefix goes on."""
    plain = [r for r in table.routes if table.plain(r)]
    parts = {r.prefix: r.prefix.split("/")[1:] for r in plain}
    left = {r.prefix for r in table.routes if not table.plain(r)}
    for prefix, p in parts.items():
        if any(q != p and q[:len(p)] == p or p[:len(q)] == q and q != p for q in parts.values()):
            left.add(prefix)
    for rule in other_rules:
        segments = rule.split("/")[1:]
        static = segments if "<" not in rule else segments[:next(i for i, s in enumerate(segments) if "<" in s)]
        for prefix, p in parts.items():
            if static[:len(p)] == p or ("<" in rule and p[:len(static)] == static):
                left.add(prefix)
    return left


class Plain:
    """The plain-route half of the `Front` (server.py), which sets what it uses: `gateway`, `table`, `adapter`,
    `endpoints`, `by_url_map`, `max_header_bytes`, `max_body`, `redis`, `forwarder`, `server`, `name`, `instance`,
    `in_thread`, `in_request`, `error`, `account`, `record_failed`."""

    keys_fetch = None  # the JWKS fetch ahead of its expiry, while it runs in a thread

    def plain_route(self, request, target: str, query: bytes, fields: dict):
        """(route, rule, segments) when the front may answer this request itself, else None (the bridge's).
        `fields`: the request's headers as bridge.fields_of reads them (lower-case names)."""
        try:
            segments = edge_check(fields.items(), target, query, self.max_header_bytes)
        except ApiError:
            return None  # refused at the edge: the Flask app says so, in its words
        length = request.content_length
        if length is not None and length > self.max_body:
            return None
        found = self.table.match(segments)
        if found is None:
            return None  # not a plain route: the Flask app's (composition, translation, unknown paths ...)
        route, rule = found
        if route.prefix in self.by_url_map:
            try:
                url_rule, _ = self.adapter.match("/" + "/".join(segments), request.method, return_rule=True)
            except HTTPException:  # no route, another method, a redirect: the Flask app's answer
                return None
            route = self.endpoints.get(url_rule.endpoint)
            return (route, url_rule.rule, segments) if route is not None else None
        method = request.method
        if method not in route.methods and not (method == "HEAD" and "GET" in route.methods):
            return None  # the URL rule's 405: the Flask app's answer
        return route, rule, segments

    async def plain(self, request, route, rule: str, segments: list, query: bytes, fields: dict):
        started = time.perf_counter()
        method = request.method
        path = "/" + "/".join(segments)
        request_id, hop = request_id_from(fields.get("x-request-id")), new_hop_id()
        try:
            response, rate = await self._answer(request, fields, route, method, path, segments, query, request_id,
                                                hop)
        except ApiError as exc:  # the 429's and a failed forward's carry the rate limit's numbers
            response = self.error(exc.code, exc.description, request_id, getattr(exc, "headers", None),
                                  **exc.details)
            rate = getattr(exc, "rate", None)
        for name, value in rate_limit_headers(rate, response.status).items():
            response.headers[name] = value
        self.account(method, path, query, rule, fields, response.status, started, request_id, hop)
        return response

    async def _answer(self, request, fields, route, method, path, segments, query, request_id, hop):
        gateway: Gateway = self.gateway
        rest, owner = rest_of(route, segments)
        scopes = Gateway.scopes_for(method, path, route.methods)
        authorization = fields.get("authorization")
        claims = None
        if scopes is not PUBLIC:
            where = f"{method} {path}"
            if self.keys_fetch is None and gateway.auth.keys_expiring():
                self._fetch_keys_ahead(request_id, hop)
            claims = gateway.auth.authenticate(scopes, authorization, where, io=False)  # a token verified before
            if claims is None:  # first sight, keys out of date, your own verifier: in a thread
                self.counts["tokens_checked_in_a_thread"] += 1
                claims = await self.in_thread(self.in_request, request_id, hop, gateway.auth.authenticate, scopes,
                                              authorization, where)  # in a request: a JWKS fetch names its caller
        check_owner(owner, claims, path)
        address = request.remote or ""
        rate = await gateway.limits.check_async(claims, address, self.redis, self.in_thread)
        try:
            return await self._forward(request, fields, route, method, rest, claims, authorization, query,
                                       request_id, hop), rate
        except ApiError as failed:
            failed.rate = rate  # a 413, 503 or 504 after the rate limit: its headers still go out
            raise

    def _fetch_keys_ahead(self, request_id: str, hop: str) -> None:
        """Have a thread fetch the JWKS before it expires (the identity provider's max-age is 2 s by default), so
        that a cached token is still checked on the loop and no request waits for the fetch."""
        def done(fetch):
            self.keys_fetch = None
            if not fetch.cancelled() and fetch.exception() is not None:
                log.error("fetching the JWKS ahead failed: %r", fetch.exception())

        jwks = self.gateway.auth.jwks
        self.keys_fetch = asyncio.ensure_future(self.in_thread(self.in_request, request_id, hop, jwks.refresh_ahead,
                                                               KEYS_AHEAD))
        self.keys_fetch.add_done_callback(done)

    async def _forward(self, request, fields, route, method, rest, claims, authorization, query, request_id, hop):
        sent = {name: fields[low] for name, low in _FORWARDED if low in fields}
        headers = identity_headers(claims, sent, request.remote or "", "http",
                                   get_host("http", fields.get("host"), self.server), fields.get("x-forwarded-for"))
        if route.forward_token and claims is not None:  # the service checks the token itself (zero trust)
            headers["Authorization"] = authorization
        target = target_of(route, rest, query)
        try:
            body = await read_body(request, self.max_body)
        except TooBig as big:
            raise ApiError(413, f"the body is {big.args[0]} bytes; the limit is {self.max_body}") from None
        upstreams = self.gateway.upstreams
        if upstreams.unasked(route.service):  # the registry's first answer, a blocking call: not on the loop
            await self.in_thread(upstreams.ask, route.service)
        base_url = upstreams.pick(route.service)
        headers.update({REQUEST_ID: request_id, CALLER: self.name, CALLER_INSTANCE: self.instance, PARENT_HOP: hop})
        forwarded = time.perf_counter()
        try:
            answer = await self.forwarder.request(method, base_url, target, route.service, headers, body or None)
        except UpstreamError as failed:
            self.record_failed(method, base_url + target, route.service, failed, forwarded, request_id, hop)
            raise
        out = {"Content-Type": "text/html; charset=utf-8", **returned_headers(route, answer), REQUEST_ID: request_id}
        return self.answer(answer.status, answer.data, out, method)
