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

Where each part lives, one idea a module:

    strategies.py   how a backend is picked: round robin ... consistent hashing, and loading your own
    backends.py     a Backend and what the balancer knows about it; parsing a list of them
    health.py       active health checks and passive ejection: which backends may take traffic
    proxy.py        the loop for each request: pick, forward, retry once, record the hops
    forward.py      one attempt on one backend: the headers sent on, the answer passed back
    fastpath.py     the same loop for a plain GET/HEAD read straight from the connection's bytes (the hot path)
    relay.py        its common case driven by callbacks: request to an idle pooled connection, answer back
    wire.py         the fast path's request as the code reads it, its answer as aiohttp writes it
    accesslog.py    the access log's lines, written by a thread of their own
    admin.py        its own routes (/health, /metrics, /_balancer/*, the admin ones need the launch secret)
    upstream.py     the pooled HTTP/1.1 client to the backends (pool.py: its idle connections)
    failures.py     how talking to a backend can fail: the exceptions upstream.py raises
    ../http1.py     the strict parser of the backends' answers (RFC 9112), shared with the gateway
    ../chunked.py   their chunked bodies, by the same rules
    server.py       the Balancer put together, and serve(sock, config), which runs it
    control.py      the caller's side, for cells and tests: the backends to give it, what its status says

A strategy is anything with `pick(backends, request) -> backend` (or a plain function of those two
arguments): `backends` are the available ones (never empty), each with .id .url .weight .in_flight .served
.metadata; `request` has .method .path .query .headers .client. Load your own with
`strategy="my_strategy.py:LeastLoaded"`.
"""
from __future__ import annotations

from .backends import Backend, parse_backends
from .forward import UpstreamFailed
from .server import Balancer, serve
from .strategies import (MAX_OPTIONS, STRATEGIES, ConsistentHash, LeastConnections, PowerOfTwo, RequestInfo,
                         RoundRobin, WeightedRoundRobin, check_options, make_strategy, strategy_name)

__all__ = ["Backend", "Balancer", "ConsistentHash", "LeastConnections", "MAX_OPTIONS", "PowerOfTwo", "RequestInfo",
           "RoundRobin", "STRATEGIES", "UpstreamFailed", "WeightedRoundRobin", "check_options", "make_strategy",
           "parse_backends", "serve", "strategy_name"]
