"""The balancer put together: its settings, its list of backends, and the process that runs it.

`Balancer` is made of the parts in the other modules, each mixed in as one class: `Proxy` (proxy.py, the
request loop), `Forwarding` (forward.py, one attempt on one backend), `FastPath` (fastpath.py, the same for a
plain request read straight from the connection's bytes), `Relay` (relay.py, its common case by callbacks),
`HealthChecks` (health.py, which backends may take traffic) and `Admin` (admin.py, its own routes). This module
holds what they share: the settings read from the launch config, the backends (a fixed list, or the registry's,
kept up to date by a discovery cache), and starting and stopping. `serve(sock, config)` is what `python -m
microcosm.serve balancer` runs: one asyncio process (uvloop when installed) until SIGTERM or SIGINT.
"""
from __future__ import annotations

import asyncio
import logging
import socket

from ..aio import run, until_stopped
from ..base import Metrics
from ..redaction import redact_access_log
from .accesslog import AccessLog
from .admin import Admin
from .backends import Backend, parse_backends
from .fastpath import FastPath
from .forward import Forwarding
from .health import HealthChecks
from .proxy import Proxy
from .relay import BalancerServer, Relay
from .strategies import make_strategy

log = logging.getLogger("microcosm.balancer")


class Balancer(Proxy, Forwarding, FastPath, Relay, HealthChecks, Admin):
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
        self.access = AccessLog() if self.access_log else None  # its lines, written by a thread of their own
        self.fast_path = bool(config.get("fast_path", True))  # plain GET/HEAD proxied from the bytes (fastpath.py)
        self.relay = bool(config.get("relay", True))  # ... and relayed by callbacks when they can (relay.py)
        self.fast_served = 0  # requests the fast path answered
        self.relayed = self.relayed_whole = 0  # of those, sent by callbacks, and answered by callbacks too
        redact_access_log()  # ?password=... on its way to identity is not written to the log in clear
        # callers whose X-Forwarded-Proto/-Host are believed (a CDN or proxy in front); anyone else's are replaced
        self.trusted_proxies = frozenset(config.get("trusted_proxies") or ())
        self.backends: list[Backend] = []
        self.source = "static"
        self.discovery = None
        self.metrics = Metrics()
        self.hops = None
        if config.get("traffic_redis"):
            from ...traffic.hops import HopRecorder

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

    # --- running -----------------------------------------------------------------------------------
    async def start(self, sock: socket.socket) -> None:
        if self.source == "registry":
            from ...discovery import Discovery, Polled

            loop = asyncio.get_running_loop()
            if self.config.get("discovery"):  # your own cache class, 'file.py:Class(registry_url, service)'
                from ..loader import load_object

                cache = load_object(self.config["discovery"])(self.config["registry_url"], self.service)
                self.discovery = Polled(cache, every=float(self.config.get("discovery_every", 0.5)))
            else:
                self.discovery = Discovery(self.config["registry_url"], self.service)
            self.discovery.on_change(lambda instances: loop.call_soon_threadsafe(self._from_registry, instances))
            self.discovery.wait_for(bool, timeout=float(self.config.get("discovery_wait", 1.0)))
            self._from_registry(self.discovery.instances())
        self.health_task = asyncio.get_running_loop().create_task(self.health_loop())
        server = BalancerServer(self.handle, self, fast=self.fast_path, relay=self.relay, access_log=None,
                                handler_cancellation=False)
        self.fast_path = server.fast  # (False when this aiohttp lacks what the fast path uses)
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
        if self.access is not None:
            self.access.close()  # every line noted so far is written before the process ends


def serve(sock: socket.socket, config: dict) -> None:
    """Run the balancer on `sock` until SIGTERM/SIGINT (what `python -m microcosm.serve balancer` calls)."""
    async def main():
        balancer = Balancer(config)
        await balancer.start(sock)
        registration = None
        if config.get("registry_url") and config.get("url"):
            from ...discovery import Registration

            registration = Registration(config["registry_url"], "balancer", balancer.name, config["url"])
        await until_stopped()
        if registration is not None:
            registration.deregister()
        await balancer.close()

    run(main, use_uvloop=config.get("loop", "uvloop") == "uvloop")
