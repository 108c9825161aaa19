"""Which backends may take traffic: active health checks and passive ejection.

Two ways to find out that a backend is in trouble, and a real balancer (nginx, Envoy, HAProxy) uses both:

- **Active checks**: every `health_interval` seconds the balancer asks each backend `GET /health` itself.
  `unhealthy_threshold` failed checks in a row mark it *down*, `healthy_threshold` passed ones mark it *up*
  again. It finds a dead instance even when no request goes to it, but only as fast as the interval.
- **Passive ejection**: the requests themselves are the checks. `eject_after` failed requests in a row (a
  refused or reset connection, a timeout, a 502/503/504) *eject* the backend for `eject_for` seconds. It acts
  at once under load, costs no extra requests, and lets a backend that is up but failing (its /health says
  200, its real answers say 503) be taken out.

A backend takes traffic when it is up and not ejected; after a failure the proxy asks again without the one
that failed (`available(exclude=tried)`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp

from .backends import Backend

log = logging.getLogger("microcosm.balancer")


class HealthChecks:
    """The balancer's health part. The `Balancer` (server.py) mixes it in and sets what it uses: `backends`,
    `name`, `service`, and the settings `health_interval`, `health_timeout`, `health_path`, `down_after`,
    `up_after`, `eject_after`, `eject_for`."""

    def available(self, exclude=()) -> list[Backend]:
        """The backends that may take a request now: up, not ejected, and not in `exclude`."""
        now = time.monotonic()
        return [b for b in self.backends if b.healthy and b.ejected_until <= now and b not in exclude]

    # --- passive: the requests are the checks ------------------------------------------------------
    def _failed(self, backend: Backend, message: str) -> None:
        """A request to `backend` failed: count it, and eject the backend after `eject_after` in a row."""
        backend.failures += 1
        backend.failures_in_a_row += 1
        backend.errors.append({"time": round(time.time(), 3), "error": message})
        if backend.failures_in_a_row >= self.eject_after and backend.ejected_until <= time.monotonic():
            backend.ejected_until = time.monotonic() + self.eject_for
            backend.failures_in_a_row = self.eject_after - 1  # back from the cool-down, one more failure ejects
            log.warning("%s: ejected %s for %.1f s after %d failures in a row (%s)", self.name, backend.id,
                        self.eject_for, self.eject_after, message)

    # --- active: ask every backend, every interval -------------------------------------------------
    async def health_loop(self) -> None:
        """Check every backend each `health_interval` seconds, for as long as the balancer runs."""
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
        """One check: does `backend` answer its health path with 200? (The first answer also tells a balancer
        launched without `upstream=` which service it balances.)"""
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
