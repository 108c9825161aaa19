"""balancer: a reverse proxy in front of N instances of one service (component 3).

    lb = microcosm.launch("balancer", upstream="catalog", backends=[c.url for c in catalogs])
    lb = microcosm.launch("balancer", upstream="catalog", registry_url=registry.url)   # from the registry
    lb.put("/_balancer/strategy", json={"strategy": "least_connections"})           # switch at run time
    lb.get("/_balancer/status").json()                                               # who is up, who served what

What it does for every request that is not its own (`/health`, `/metrics`, `/_balancer/...`):
pick an available backend with the strategy, forward the request over a pooled keep-alive connection
(X-Forwarded-For/-Proto/-Host added, hop-by-hop headers dropped, bodies streamed both ways), and pass the
answer back. A backend that refuses, resets or times out is a failure: an idempotent request (GET, HEAD,
OPTIONS, PUT, DELETE) is then tried once more on another backend, and so is one that got 502/503; a POST or
PATCH is retried only if its body was never sent (the connection was refused). N failures in a row eject a
backend for a cool-down; an active check (`GET /health` every second) marks backends down and up again.

Why this one component is not Flask under waitress: a proxy spends its life waiting on sockets, and a thread
per request plus `requests` costs too much CPU on 2 cores (measured: a naive Flask + requests proxy gets
0.2-0.3 of nginx's throughput with 3-4x its p99). This is one asyncio process (uvloop when installed): aiohttp's
low-level server (C HTTP parser) for the clients, and a small pooled HTTP/1.1 client of our own for the
backends (upstream.py: with aiohttp's general client a proxied request cost about 200 us of CPU, with it 120).
Measured with bench/balancer_vs_nginx.py in front of two catalog instances: 0.73 of nginx's throughput,
p99 1.2x nginx's, and +0.2 ms p50 over a direct call at low load.

A strategy is anything with `pick(backends, request) -> backend` (or a plain function of those two
arguments): `backends` are the available ones (never empty), each with .id .url .weight .in_flight .served
.metadata; `request` has .method .path .query .headers .client. Load your own with
`strategy="my_strategy.py:LeastLoaded"`.
"""
from __future__ import annotations

import asyncio
import bisect
import hashlib
import inspect
import itertools
import json
import logging
import random
import signal
import socket
import time
import uuid
from collections import deque
from http import HTTPStatus
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.streams import StreamReader
from multidict import CIMultiDict

from .. import trust
from ..discovery import instance_url
from .base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, Metrics, method_label
from .redaction import redact_access_log
from .upstream import Broken, ConnectFailed, Malformed, Pool, Timeout

log = logging.getLogger("microcosm.balancer")
access_log = logging.getLogger("microcosm.access")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "proxy-connection", "host", "content-length",
                        "expect"})
SET_HERE = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", REQUEST_ID.lower(), CALLER.lower(),
                      CALLER_INSTANCE.lower(), PARENT_HOP.lower()})  # the balancer writes these itself
IDENTITY = frozenset(h.lower() for h in (*trust.IDENTITY_HEADERS, trust.PROOF_HEADER))  # only with the gateway's proof
RESPONSE_HOP_BY_HOP = (HOP_BY_HOP - {"content-length"}) | {"server", "date"}  # aiohttp writes its own
SMALL_BODY = 64 * 1024  # answers up to this size are read whole; bigger ones (or unknown size) are streamed
RETRY_BUFFER = 1 << 20  # an idempotent request body up to this size is kept, so the request can be retried


# --- strategies: pick(backends, request) -> one of backends ----------------------------------------
class RoundRobin:
    """Each backend in turn."""

    def __init__(self):
        self.counter = itertools.count()

    def pick(self, backends, request):
        return backends[next(self.counter) % len(backends)]


class WeightedRoundRobin:
    """In turn, but a backend of weight 3 gets three turns for every one of weight 1 (nginx's smooth
    variant: the turns are interleaved, a, a, b, a rather than a, a, a, b)."""

    def __init__(self):
        self.current: dict[str, float] = {}

    def pick(self, backends, request):
        total = 0.0
        for b in backends:
            self.current[b.id] = self.current.get(b.id, 0.0) + b.weight
            total += b.weight
        best = max(backends, key=lambda b: self.current[b.id])
        self.current[best.id] -= total
        return best


class LeastConnections:
    """The backend with the fewest requests in flight (ties broken at random)."""

    def pick(self, backends, request):
        fewest = min(b.in_flight for b in backends)
        return random.choice([b for b in backends if b.in_flight == fewest])


class PowerOfTwo:
    """Two backends at random; the less busy of the two. Nearly as good as least connections, and it needs
    no global view (so it also works when many balancers each see only their own traffic)."""

    def pick(self, backends, request):
        if len(backends) == 1:
            return backends[0]
        a, b = random.sample(backends, 2)
        return a if a.in_flight <= b.in_flight else b


class ConsistentHash:
    """The same key always goes to the same backend (sticky), and adding or removing a backend moves only
    about 1/N of the keys. `key` says where the key is: "header:X-User", "query:user", "path:2" (the second
    path segment) or "client" (the caller's address). Requests without the key are hashed by client address."""

    def __init__(self, key: str = "header:X-User", replicas: int = 100):
        if not isinstance(key, str) or len(key) > 100:
            raise ValueError("key must be a short string such as 'header:X-User'")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 1000:
            raise ValueError(f"replicas must be a whole number from 1 to 1000, got {replicas!r}")
        kind, _, name = key.partition(":")
        if kind not in ("header", "query", "path", "client") or (kind != "client" and not name):
            raise ValueError(f"key must be 'header:NAME', 'query:NAME', 'path:N' or 'client', got {key!r}")
        if kind == "path" and not name.isdigit():
            raise ValueError(f"'path:N' needs a segment number, got {key!r}")
        self.key, self.kind, self.name, self.replicas = key, kind, name, replicas
        self.rings: dict[tuple, tuple[list, list]] = {}

    @staticmethod
    def hash(text: str) -> int:
        return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big")

    def key_of(self, request) -> str:
        if self.kind == "header":
            value = request.headers.get(self.name)
        elif self.kind == "query":
            value = request.query.get(self.name)
        elif self.kind == "path":
            parts = [p for p in request.path.split("/") if p]
            value = parts[int(self.name) - 1] if 0 < int(self.name) <= len(parts) else None
        else:
            value = None
        return value if value is not None else request.client

    def ring(self, backends):
        ids = tuple(sorted(b.id for b in backends))
        if ids not in self.rings:  # each backend owns `replicas` points on a circle of hashes
            points = sorted((self.hash(f"{i}#{r}"), i) for i in ids for r in range(self.replicas))
            self.rings = {ids: ([h for h, _ in points], [i for _, i in points])}  # keep only the latest
        return self.rings[ids]

    def pick(self, backends, request):
        hashes, owners = self.ring(backends)
        at = bisect.bisect(hashes, self.hash(self.key_of(request))) % len(hashes)  # first point clockwise
        by_id = {b.id: b for b in backends}
        return by_id[owners[at]]


STRATEGIES = {"round_robin": RoundRobin, "weighted_round_robin": WeightedRoundRobin,
              "least_connections": LeastConnections, "power_of_two": PowerOfTwo, "p2c": PowerOfTwo,
              "consistent_hash": ConsistentHash}


class _FunctionStrategy:
    def __init__(self, function):
        self.function = function

    def pick(self, backends, request):
        return self.function(backends, request)


MAX_OPTIONS = 16


def check_options(options) -> dict:
    """A strategy's options: a small JSON object of plain values (numbers, short strings, true/false)."""
    if not isinstance(options, dict) or len(options) > MAX_OPTIONS:
        raise ValueError(f"options must be an object of at most {MAX_OPTIONS} settings")
    for key, value in options.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > 64:
            raise ValueError(f"option names must be Python identifiers, got {key!r:.80}")
        if not (value is None or isinstance(value, (bool, int, float)) or isinstance(value, str) and len(value) <= 200):
            raise ValueError(f"option {key!r} must be a number, true/false or a string of at most 200 characters")
    return options


def make_strategy(spec: str, **options):
    """A built-in strategy by name, or your own from a file, 'file.py:Name' (a class, an object or a function).

    Only a .py file: never an importable name such as 'subprocess:Popen', whose class would be built with
    the options. The admin route that switches strategies needs the launch secret as well."""
    if not isinstance(spec, str) or not spec or len(spec) > 500:
        raise ValueError("strategy must be a name such as 'round_robin' or 'file.py:ClassOrFunction'")
    options = check_options(options)
    if spec in STRATEGIES:
        return STRATEGIES[spec](**options)
    if ":" not in spec:
        raise ValueError(f"unknown strategy {spec!r} (built in: {', '.join(STRATEGIES)}; "
                         "or your own as 'file.py:ClassOrFunction')")
    from .loader import load_object

    found = load_object(spec)
    if inspect.isclass(found):
        found = found(**options)
    if hasattr(found, "pick"):
        return found
    if callable(found):
        return _FunctionStrategy(found)
    raise ValueError(f"{spec} is neither a class with pick(backends, request) nor such a function")


def strategy_name(strategy) -> str:
    for name, cls in STRATEGIES.items():
        if type(strategy) is cls:
            return name
    target = strategy.function if isinstance(strategy, _FunctionStrategy) else type(strategy)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"


class RequestInfo:
    """What a strategy may look at."""

    __slots__ = ("method", "path", "query", "headers", "client")

    def __init__(self, method, path, query, headers, client):
        self.method, self.path, self.query, self.headers, self.client = method, path, query, headers, client


# --- backends --------------------------------------------------------------------------------------
class Backend:
    """One instance behind the balancer, with what the balancer knows about it."""

    def __init__(self, url: str, id: str | None = None, weight: float = 1.0, metadata: dict | None = None):
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.netloc = parts.netloc
        self.id = id or parts.netloc
        self.pool = Pool(parts.hostname, parts.port)  # idle keep-alive connections to it
        self.metadata = dict(metadata or {})
        self.weight = float(weight)
        self.healthy = True  # active checks; a new backend is trusted until a check says otherwise
        self.check_streak = 0  # consecutive check results that disagree with `healthy`
        self.failures_in_a_row = 0  # passive: failed requests in a row
        self.ejected_until = 0.0
        self.in_flight = self.served = self.failures = 0
        self.errors: deque = deque(maxlen=10)

    @property
    def state(self) -> str:
        if not self.healthy:
            return "down"
        return "ejected" if time.monotonic() < self.ejected_until else "up"

    def as_dict(self) -> dict:
        left = self.ejected_until - time.monotonic()
        return {"id": self.id, "url": self.url, "state": self.state, "weight": self.weight,
                "in_flight": self.in_flight, "served": self.served, "failures": self.failures,
                "failures_in_a_row": self.failures_in_a_row,
                "ejected_for_s": round(left, 1) if left > 0 else 0, "metadata": self.metadata,
                "recent_errors": list(self.errors)}

    def __repr__(self):
        return f"<Backend {self.id} {self.url} {self.state} in_flight={self.in_flight}>"


def parse_backends(items, weights: dict | None = None) -> list[Backend]:
    """Backends from a list of URLs or of {"url", "id"?, "weight"?, "metadata"?} (registry instances fit)."""
    if not isinstance(items, list):
        raise ValueError("backends must be a list of URLs or of objects with a 'url'")
    weights = weights or {}
    out, seen = [], set()
    for item in items:
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ValueError(f"each backend must be a URL or an object with a 'url', got {item!r}")
        try:
            url = instance_url(item["url"])
        except ValueError:
            raise ValueError(f"backend url must look like http://host:port, got {item['url']!r:.80}") from None
        parts = urlsplit(url)
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"metadata of {url} must be an object")
        backend_id = item.get("id") or parts.netloc
        weight = item.get("weight", metadata.get("weight", weights.get(backend_id, weights.get(url, 1))))
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1000:
            raise ValueError(f"weight of {url} must be a number above 0 and at most 1000, got {weight!r}")
        if url in seen:
            raise ValueError(f"backend {url} is listed twice")
        seen.add(url)
        out.append(Backend(url, str(backend_id), weight, metadata))
    return out


class UpstreamFailed(Exception):
    def __init__(self, status: int, message: str, retriable: bool):
        super().__init__(message)
        self.status, self.message, self.retriable = status, message, retriable


# --- the balancer ----------------------------------------------------------------------------------
class Balancer:
    def __init__(self, config: dict):
        self.config = config
        self.name = str(config.get("name", "balancer"))
        # which service it balances: `upstream` (launch's own first argument is called `service`), else what
        # the backends' /health says they are
        self.service = config.get("upstream") or config.get("service") or None
        self.weights = config.get("weights") or {}
        self.strategy = make_strategy(config.get("strategy", "round_robin"), **(config.get("strategy_options") or {}))
        self.connect_timeout = float(config.get("connect_timeout", 1.0))
        self.timeout = float(config.get("timeout", 10.0))  # a backend silent this long has failed
        self.health_interval = float(config.get("health_interval", 1.0))
        self.health_timeout = float(config.get("health_timeout", 1.0))
        self.health_path = str(config.get("health_path", "/health"))
        self.down_after = int(config.get("unhealthy_threshold", 2))  # failed checks in a row -> down
        self.up_after = int(config.get("healthy_threshold", 2))  # passed checks in a row -> up again
        self.eject_after = int(config.get("eject_after", 3))  # failed requests in a row -> ejected
        self.eject_for = float(config.get("eject_for", 5.0))  # seconds before an ejected backend gets traffic
        self.access_log = bool(config.get("access_log", True))
        redact_access_log()  # ?password=... on its way to identity is not written to the log in clear
        # callers whose X-Forwarded-Proto/-Host are believed (a CDN or proxy in front); anyone else's are replaced
        self.trusted_proxies = frozenset(config.get("trusted_proxies") or ())
        self.backends: list[Backend] = []
        self.source = "static"
        self.discovery = None
        self.metrics = Metrics()
        self.hops = None
        if config.get("traffic_redis"):
            from ..traffic.hops import HopRecorder

            self.hops = HopRecorder(config["traffic_redis"])
        if config.get("backends") is not None:
            self.backends = parse_backends(config["backends"], self.weights)
        elif config.get("registry_url"):
            self.source = "registry"
            if not self.service:
                raise ValueError("say which service to balance: upstream='catalog' (its name in the registry)")

    # --- backends ----------------------------------------------------------------------------------
    def set_backends(self, new: list[Backend]) -> None:
        """Replace the list, keeping what is known about backends that stay (same URL)."""
        old = {b.url: b for b in self.backends}
        merged = []
        for b in new:
            keep = old.get(b.url)
            if keep is not None:
                keep.id, keep.weight, keep.metadata = b.id, b.weight, b.metadata
                b = keep
            merged.append(b)
        for gone in set(old) - {b.url for b in merged}:
            old[gone].pool.close()
        self.backends = merged
        log.info("%s: backends now %s", self.name, ", ".join(f"{b.id}={b.url}" for b in merged) or "none")

    def _from_registry(self, instances: list[dict]) -> None:
        """Take the registry's list, entry by entry: one entry the balancer cannot use is skipped (and logged),
        it never freezes the balancer on its old list."""
        usable = []
        for instance in instances:
            try:
                usable += parse_backends([instance], self.weights)
            except ValueError as exc:
                log.warning("%s: skipping a registry entry: %s", self.name, exc)
        self.set_backends(usable)

    def available(self, exclude=()) -> list[Backend]:
        now = time.monotonic()
        return [b for b in self.backends if b.healthy and b.ejected_until <= now and b not in exclude]

    def _failed(self, backend: Backend, message: str) -> None:
        backend.failures += 1
        backend.failures_in_a_row += 1
        backend.errors.append({"time": round(time.time(), 3), "error": message})
        if backend.failures_in_a_row >= self.eject_after and backend.ejected_until <= time.monotonic():
            backend.ejected_until = time.monotonic() + self.eject_for
            backend.failures_in_a_row = self.eject_after - 1  # back from the cool-down, one more failure ejects
            log.warning("%s: ejected %s for %.1f s after %d failures in a row (%s)", self.name, backend.id,
                        self.eject_for, self.eject_after, message)

    async def health_loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.health_timeout)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as s:
            while True:
                backends = list(self.backends)
                results = await asyncio.gather(*(self._check(s, b) for b in backends))
                for b, ok in zip(backends, results):
                    if ok == b.healthy:
                        b.check_streak = 0
                        continue
                    b.check_streak += 1
                    if b.check_streak >= (self.up_after if ok else self.down_after):
                        b.healthy, b.check_streak = ok, 0
                        if ok:
                            b.failures_in_a_row, b.ejected_until = 0, 0.0
                        else:
                            b.errors.append({"time": round(time.time(), 3), "error": "health check failed"})
                        log.warning("%s: %s is %s (health checks)", self.name, b.id, "up" if ok else "down")
                await asyncio.sleep(self.health_interval)

    async def _check(self, session, backend: Backend) -> bool:
        try:
            async with session.get(backend.url + self.health_path) as answer:
                body = await answer.content.read(64 * 1024)  # a /health answer of any size costs at most this
                if self.service is None and answer.status == 200:
                    try:
                        self.service = json.loads(body)["service"]
                    except (ValueError, KeyError, TypeError):
                        pass
                return answer.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    # --- the proxy ---------------------------------------------------------------------------------
    async def handle(self, request):
        path = request.path
        if path.startswith("/_balancer") or path in ("/health", "/metrics"):
            started = time.perf_counter()
            response = await self.admin(request)
            self.metrics.record(f"{request.method} {path if response.status != 404 else '(no route)'}",
                                response.status, (time.perf_counter() - started) * 1000)
            return response
        return await self.proxy(request)

    async def proxy(self, request):
        started = time.perf_counter()
        in_headers = request.headers
        request_id = in_headers.get(REQUEST_ID) or uuid.uuid4().hex
        hop_id = uuid.uuid4().hex[:12]
        client = request.remote or ""
        info = RequestInfo(request.method, request.path, request.query, in_headers, client)
        method = request.method
        idempotent = method in IDEMPOTENT
        body, body_kept = None, True
        if request.body_exists:
            length = request.content_length
            if idempotent and length is not None and length <= RETRY_BUFFER:
                body = await request.read()  # small enough to keep: the request stays retriable
            else:
                body, body_kept = request.content, False  # streamed: retriable only until it is sent
        tried: list[Backend] = []
        response = None
        status = 503
        error_text = ""
        last: UpstreamFailed | None = None
        while len(tried) < 2:
            candidates = self.available(exclude=tried)
            if not candidates:
                break
            try:
                backend = self.strategy.pick(candidates, info)
            except Exception as exc:  # the strategy's bug: say so, do not hide it
                log.exception("%s: strategy failed", self.name)
                response = self.error(500, f"the balancing strategy failed: {type(exc).__name__}: {exc}",
                                      request_id)
                status, error_text = 500, "strategy failed"
                break
            if backend not in candidates:
                response = self.error(500, f"the balancing strategy returned {backend!r}, "
                                           "which is not one of the backends it was given", request_id)
                status, error_text = 500, "strategy returned a stranger"
                break
            tried.append(backend)
            can_retry = len(tried) < 2 and (idempotent and body_kept)
            backend.in_flight += 1
            attempt_started = time.perf_counter()
            try:
                response, status = await self._forward(request, backend, method, body, can_retry, request_id,
                                                       hop_id)
                if status in (502, 503, 504):
                    self._failed(backend, f"answered {status}")
                else:
                    backend.failures_in_a_row = 0
                backend.served += 1
                break
            except UpstreamFailed as failed:
                last = failed
                self._failed(backend, failed.message)
                self._record_hop(request_id, uuid.uuid4().hex[:12], hop_id, self.service or "?", backend.id, method,
                                 request.path, failed.status, attempt_started, failed.message)
                if not (failed.retriable or idempotent and body_kept):
                    break  # a POST whose body went out: the backend may have acted on it, do not repeat it
            finally:
                backend.in_flight -= 1
        if response is None:
            if last is not None and not last.retriable:
                status, error_text = last.status, last.message
                response = self.error(last.status, f"{self.service or 'backend'}: {last.message}", request_id)
            else:
                status = 503  # none up, or every one tried refused the connection
                known = len(self.backends)
                error_text = (f"no {self.service or 'backend'} instance is available "
                              f"({known} known, {len(self.available())} up"
                              + (f"; {len(tried)} tried: {last.message})" if last else ")"))
                response = self.error(503, error_text, request_id,
                                      headers={"Retry-After": str(max(1, round(self.health_interval)))})
        ms = (time.perf_counter() - started) * 1000
        self.metrics.record(f"{method} (proxied)", status, ms)
        self._record_hop(request_id, hop_id, in_headers.get(PARENT_HOP, ""), "balancer", self.name, method,
                         request.path, status, started, error_text,
                         caller=in_headers.get(CALLER, "client"), caller_instance=in_headers.get(CALLER_INSTANCE, ""))
        if self.access_log:
            access_log.info("%s %s %s -> %s %.1f ms via %s [request %s]", self.name, method_label(method), request.path_qs,
                            status, ms, "/".join(b.id for b in tried) or "-", request_id)
        return response

    def _forward_headers(self, request, in_headers, client, request_id, hop_id, backend) -> tuple[str, bool]:
        """The request head for the backend (without its first line), and whether its body goes chunked."""
        drop = HOP_BY_HOP | SET_HERE
        if not trust.identity_proven(in_headers):  # X-User: admin from a client, not from the gateway
            drop = drop | IDENTITY
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
        lines.append(f"X-Forwarded-Proto: {proto or request.scheme}")
        lines.append(f"X-Forwarded-Host: {host or in_headers.get('Host', '')}")
        lines.append(f"{REQUEST_ID}: {request_id}")
        lines.append(f"{CALLER}: balancer")
        lines.append(f"{CALLER_INSTANCE}: {self.name}")
        lines.append(f"{PARENT_HOP}: {hop_id}")
        chunked = False
        if request.body_exists:
            if request.content_length is not None:
                lines.append(f"Content-Length: {request.content_length}")
            else:
                lines.append("Transfer-Encoding: chunked")
                chunked = True
        return "\r\n".join(lines) + "\r\n\r\n", chunked

    async def _forward(self, request, backend: Backend, method, body, can_retry, request_id, hop_id):
        """One attempt on `backend`: (response to send, status), or UpstreamFailed."""
        head, chunked = self._forward_headers(request, request.headers, request.remote or "", request_id, hop_id,
                                              backend)
        head = f"{method} {request.raw_path} HTTP/1.1\r\n{head}".encode("utf-8", "surrogateescape")
        try:
            conn = await backend.pool.get(self.connect_timeout)
        except ConnectFailed as exc:  # nothing was sent: always safe to try another backend
            raise UpstreamFailed(502, f"{backend.id} refused the connection ({exc})", True) from None
        finished = False
        try:
            try:
                await conn.send(head, body.iter_any() if isinstance(body, StreamReader) else body, chunked)
                status, raw_headers = await conn.read_head(method, self.timeout)
            except Timeout:
                raise UpstreamFailed(504, f"{backend.id} did not answer within {self.timeout:g} s", False) from None
            except Malformed as exc:  # not HTTP as RFC 9112 has it: never guess what the backend meant
                raise UpstreamFailed(502, f"{backend.id} sent a malformed answer ({exc})", False) from None
            except (Broken, OSError) as exc:  # reset or closed after the request went out
                raise UpstreamFailed(502, f"{backend.id} dropped the connection ({exc})", False) from None
            if can_retry and status in (502, 503):
                raise UpstreamFailed(status, f"{backend.id} answered {status}", True)
            out_headers = self._response_headers(raw_headers)
            out_headers["X-Backend"] = backend.id  # which instance answered (for curious cells and tests)
            length = conn.body_length
            if length is not None and length <= SMALL_BODY:
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
                finished = True
                conn.release()
                if method == "HEAD" and "Content-Length" in out_headers:
                    response = web.Response(status=status, headers=out_headers)
                    return response, status
                return web.Response(status=status, body=bytes(data), headers=out_headers), status
            # a big (or unknown-size) body: stream it through, piece by piece, never whole in memory
            out_headers.popall("Content-Length", None)
            response = web.StreamResponse(status=status, headers=out_headers)
            if length is not None:
                response.content_length = length
            await response.prepare(request)
            try:
                while piece := await conn.read_chunk(self.timeout):
                    await response.write(piece)
            except (Timeout, Broken, OSError) as exc:
                self._failed(backend, f"broke off a streamed answer ({type(exc).__name__})")
                if request.transport is not None:
                    request.transport.close()  # the client must not take a cut body for a whole one
                return response, status
            await response.write_eof()
            finished = True
            conn.release()
            return response, status
        finally:
            if not finished:
                conn.close()

    @staticmethod
    def _response_headers(headers) -> CIMultiDict:
        drop = RESPONSE_HOP_BY_HOP
        for k, v in headers:
            if k.lower() == "connection":
                drop = drop | {t.strip().lower() for t in v.split(",")}
        return CIMultiDict((k, v) for k, v in headers if k.lower() not in drop)

    def error(self, status: int, message: str, request_id: str | None = None, headers: dict | None = None, **details):
        from werkzeug.http import HTTP_STATUS_CODES

        body = {"error": HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_").replace("-", "_"),
                "message": message, "status": status, **details}
        if request_id:
            body["request_id"] = request_id
        headers = dict(headers or {})
        if request_id:
            headers[REQUEST_ID] = request_id
        return web.json_response(body, status=status, headers=headers)

    def _record_hop(self, request_id, hop, parent, callee, instance, method, path, status, started, error,
                    caller=None, caller_instance=None):
        if self.hops is None:
            return
        if caller is None:  # a failed attempt of ours: the backend could not record it
            caller, caller_instance = "balancer", self.name
        self.hops.record(request_id=request_id, hop=hop, parent=parent, caller=caller,
                         caller_instance=caller_instance or caller, callee=callee, instance=instance,
                         method=method_label(method), path=path, status=status,
                         ms=round((time.perf_counter() - started) * 1000, 3), error=error)

    # --- its own API -------------------------------------------------------------------------------
    async def admin(self, request):
        path, method = request.path, request.method
        routes = {"/health": ("GET",), "/metrics": ("GET",), "/_balancer/status": ("GET",),
                  "/_balancer/strategy": ("GET", "PUT"), "/_balancer/backends": ("GET", "PUT")}
        request_id = request.headers.get(REQUEST_ID) or uuid.uuid4().hex
        if path not in routes:
            return self.error(404, f"the balancer has no route {path} (its own: {', '.join(routes)})", request_id)
        if method not in routes[path]:
            response = self.error(405, f"the balancer does not accept {method} on {path} "
                                       f"(allowed: {', '.join(routes[path])})", request_id)
            response.headers["Allow"] = ", ".join(routes[path])
            return response
        if path.startswith("/_balancer/"):  # its admin API: only for whoever holds the launch secret
            refusal = trust.admin_refusal(request.headers.get(trust.ADMIN_HEADER))
            if refusal is not None:
                return self.error(*refusal, request_id, reason="admin_only")
        json_response = web.json_response
        if path == "/health":
            return json_response({"status": "ok", "service": "balancer", "name": self.name})
        if path == "/metrics":
            return json_response({"service": "balancer", **self.metrics.snapshot(), "backends": {
                b.id: {"served": b.served, "failures": b.failures, "in_flight": b.in_flight, "state": b.state}
                for b in self.backends}})
        if path == "/_balancer/status":
            return json_response(self.status())
        if method == "GET" and path.endswith("/strategy"):
            return json_response({"strategy": strategy_name(self.strategy)})
        if method == "GET":
            return json_response({"backends": [b.as_dict() for b in self.backends]})
        try:
            body = await self._read_json(request)
            if path.endswith("/strategy"):
                return json_response(self._put_strategy(body))
            return json_response(self._put_backends(body))
        except _BadInput as bad:
            return self.error(bad.status, bad.message, request_id, **({"field": bad.field} if bad.field else {}))

    async def _read_json(self, request) -> dict:
        if request.content_type != "application/json":
            raise _BadInput(415, f"send JSON with 'Content-Type: application/json' "
                                 f"(got '{request.content_type or 'none'}')")
        if (request.content_length or 0) > 64 * 1024:
            raise _BadInput(413, "the body is over the 64 KiB limit")
        raw = await request.content.read(64 * 1024 + 1)
        if len(raw) > 64 * 1024:
            raise _BadInput(413, "the body is over the 64 KiB limit")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _BadInput(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            raise _BadInput(400, "the body must be a JSON object")
        return body

    def _put_strategy(self, body: dict) -> dict:
        unknown = sorted(set(body) - {"strategy", "options"})
        if unknown:
            raise _BadInput(400, f"unknown field '{unknown[0]}' (expected: strategy, options)", unknown[0])
        if not isinstance(body.get("strategy"), str) or not body["strategy"]:
            raise _BadInput(400, "field 'strategy' is required: a name such as 'round_robin' "
                                 "or 'file.py:ClassOrFunction'", "strategy")
        options = body.get("options") or {}
        try:
            options = check_options(options)
        except ValueError as exc:
            raise _BadInput(400, f"field 'options': {exc}", "options")
        try:
            self.strategy = make_strategy(body["strategy"], **options)
        except TypeError as exc:
            raise _BadInput(400, f"options do not fit strategy {body['strategy']!r}: {exc}", "options")
        except (ValueError, ImportError, AttributeError, FileNotFoundError, SyntaxError) as exc:
            raise _BadInput(400, str(exc), "strategy")
        log.info("%s: strategy is now %s", self.name, strategy_name(self.strategy))
        return {"strategy": strategy_name(self.strategy)}

    def _put_backends(self, body: dict) -> dict:
        if self.source == "registry":
            raise _BadInput(409, "this balancer takes its backends from the registry; register or stop "
                                 "instances there instead")
        unknown = sorted(set(body) - {"backends"})
        if unknown:
            raise _BadInput(400, f"unknown field '{unknown[0]}' (expected: backends)", unknown[0])
        if "backends" not in body:
            raise _BadInput(400, "field 'backends' is required: a list of URLs", "backends")
        try:
            self.set_backends(parse_backends(body["backends"], self.weights))
        except ValueError as exc:
            raise _BadInput(400, str(exc), "backends")
        return {"backends": [b.as_dict() for b in self.backends]}

    def status(self) -> dict:
        return {"name": self.name, "service": self.service, "strategy": strategy_name(self.strategy),
                "source": self.source, "backends": [b.as_dict() for b in self.backends],
                "available": len(self.available()),
                "settings": {"timeout_s": self.timeout, "connect_timeout_s": self.connect_timeout,
                             "health_interval_s": self.health_interval, "unhealthy_threshold": self.down_after,
                             "healthy_threshold": self.up_after, "eject_after": self.eject_after,
                             "eject_for_s": self.eject_for}}

    # --- running -----------------------------------------------------------------------------------
    async def start(self, sock: socket.socket) -> None:
        if self.source == "registry":
            from ..discovery import Discovery, Polled

            loop = asyncio.get_running_loop()
            if self.config.get("discovery"):  # your own cache class, 'file.py:Class(registry_url, service)'
                from .loader import load_object

                cache = load_object(self.config["discovery"])(self.config["registry_url"], self.service)
                self.discovery = Polled(cache, every=float(self.config.get("discovery_every", 0.5)))
            else:
                self.discovery = Discovery(self.config["registry_url"], self.service)
            self.discovery.on_change(lambda instances: loop.call_soon_threadsafe(self._from_registry, instances))
            self.discovery.wait_for(bool, timeout=float(self.config.get("discovery_wait", 1.0)))
            self._from_registry(self.discovery.instances())
        self.health_task = asyncio.get_running_loop().create_task(self.health_loop())
        server = _Server(self.handle, access_log=None, handler_cancellation=False)
        self.server = await asyncio.get_running_loop().create_server(server, sock=sock, backlog=1024)

    async def close(self) -> None:
        if self.discovery is not None:
            self.discovery.stop()
        self.health_task.cancel()
        self.server.close()
        for b in self.backends:
            b.pool.close()
        if self.hops is not None:
            self.hops.flush()


class _JSONErrors(RequestHandler):
    """aiohttp answers a request it cannot parse (a bad method, header or length) itself, in plain text; the
    balancer answers it in JSON like every microcosm service, saying what was wrong (never echoing the bytes)."""

    def handle_error(self, request, status=500, exc=None, message=None):
        if request.writer.output_size > 0:  # part of an answer went out already: only closing is left
            raise ConnectionError("the answer has started; it cannot become an error")
        what = (message or "").split("\n", 1)[0].split(":", 1)[0][:200] or HTTPStatus(status).phrase
        if status >= 500:
            log.error("balancer: error handling a request: %s", what, exc_info=exc)
        body = {"error": HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"),
                "message": f"the balancer could not read the request: {what}", "status": status}
        response = web.json_response(body, status=status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self):
        return _JSONErrors(self, loop=self._loop, **self._kwargs)


class _BadInput(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def serve(sock: socket.socket, config: dict) -> None:
    """Run the balancer on `sock` until SIGTERM/SIGINT (what `python -m microcosm.serve balancer` calls)."""
    async def main():
        balancer = Balancer(config)
        await balancer.start(sock)
        registration = None
        if config.get("registry_url") and config.get("url"):
            from ..discovery import Registration

            registration = Registration(config["registry_url"], "balancer", balancer.name, config["url"])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if registration is not None:
            registration.deregister()
        await balancer.close()

    if config.get("loop", "uvloop") == "uvloop":
        try:
            import uvloop  # libuv's event loop: less CPU per request than asyncio's own

            uvloop.install()
        except ImportError:
            pass
    asyncio.run(main())
