"""The circuit breaker: stop calling a service that is down, and find out when it is back.

Retries help with a blip. Against a service that is down they only add load, and every caller still waits
for its timeouts. A breaker (Michael Nygard, *Release It!*) sits in the client and counts failures:

    closed      requests go through; `failures` failures in a row open it
    open        no request goes out at all: each fails fast, in microseconds, with CircuitOpen.
                The service gets a rest; the caller gets an answer at once (and can show a fallback)
    half_open   after `cool_down` seconds one request, the *probe*, is let through (others still fail fast):
                if it succeeds the breaker closes; if it fails the breaker opens again for another cool-down

              failures in a row            cool-down over
    closed ─────────────────────> open ───────────────────> half_open
       ^                           ^                            │
       └──── the probe succeeds ───┼────────────────────────────┤
                                   └──── the probe fails ───────┘

A failure is what says the *service* is in trouble: no connection, a timeout, a 5xx. A 4xx is the caller's
mistake and a working service's answer: a success, for the breaker.

A breaker is any object with these (the client calls nothing else; chapter 09's lab writes one):

    allow() -> bool    may a request go now? (open: no; the first call after the cool-down: yes, the probe)
    success()          the request allowed got an answer from a working service
    failure()          it failed (no answer, a timeout, a 5xx)
    state              "closed", "open" or "half_open"

The client records every change of `state` it sees, with its time (`Client.breaker_events`), so any breaker's
life can be drawn. This one also keeps its own `events`, with the reason of each change.
"""
from __future__ import annotations

import threading
import time
from collections import deque

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """The reference breaker: opens after `failures` failures in a row, probes after `cool_down` seconds.

    `clock` is where it reads the time (time.monotonic); a test can give it a fake one."""

    def __init__(self, failures: int = 5, cool_down: float = 5.0, clock=time.monotonic, max_events: int = 1000):
        if failures < 1 or cool_down <= 0:
            raise ValueError("need failures >= 1 and cool_down > 0")
        self.threshold, self.cool_down, self.clock = int(failures), float(cool_down), clock
        self.state = CLOSED
        self.failures = 0  # in a row, while closed
        self.opened_at = 0.0  # when it last opened (clock time)
        self.probe_at: float | None = None  # when the half-open probe went out; None: none in flight
        self.events: deque = deque(maxlen=max_events)  # {"t", "state", "was", "why"}: its life, for a chart
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            now = self.clock()
            if self.state == CLOSED:
                return True
            if self.state == OPEN:
                if now - self.opened_at < self.cool_down:
                    return False  # fail fast: the service is resting
                self._move(HALF_OPEN, f"cool-down of {self.cool_down:g} s over: one probe")
            if self.probe_at is not None and now - self.probe_at < self.cool_down:
                return False  # a probe is out: the others wait for its result
            self.probe_at = now  # this request is the probe (or a new one, if the last never reported back)
            return True

    def success(self) -> None:
        with self.lock:
            if self.state == HALF_OPEN:
                self._move(CLOSED, "the probe succeeded")
            self.failures = 0  # (a late answer to a request sent before it opened changes nothing while open)

    def failure(self) -> None:
        with self.lock:
            if self.state == HALF_OPEN:
                self._open("the probe failed")
            elif self.state == CLOSED:
                self.failures += 1
                if self.failures >= self.threshold:
                    self._open(f"{self.failures} failures in a row")

    def _open(self, why: str) -> None:
        self.opened_at = self.clock()
        self._move(OPEN, why)

    def _move(self, state: str, why: str) -> None:
        self.events.append({"t": time.time(), "state": state, "was": self.state, "why": why})
        self.state, self.failures, self.probe_at = state, 0, None

    def __repr__(self) -> str:
        return f"CircuitBreaker(failures={self.threshold}, cool_down={self.cool_down}) [{self.state}]"


class NoBreaker:
    """No breaker: every request goes out, whatever happened to the last ones."""

    state = CLOSED

    def allow(self) -> bool:
        return True

    def success(self) -> None:
        pass

    def failure(self) -> None:
        pass

    def __repr__(self) -> str:
        return "NoBreaker()"
