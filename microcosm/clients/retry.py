"""Retry policies: when may a failed request be sent again, and how long to wait first.

Two questions, two methods. A policy is any object with both (the client calls nothing else):

    retryable(method, headers) -> bool    may this request be sent twice at all?
    delay(retry) -> float | None          seconds to wait before retry number `retry` (1, 2, ...); None: give up

**Which requests.** Sending a request again is safe only if doing it twice has the effect of doing it once:
GET, HEAD, OPTIONS, PUT and DELETE are idempotent by the rules of HTTP. A POST is not (two POSTs, two orders),
unless it carries an `Idempotency-Key` that the service honours (orders does: services/idempotency.py). The
client cannot tell "the order was never received" from "the order was placed and the answer was lost".

**How long to wait.** Retrying at once, from every client, turns a struggling service's trouble into a flood
(a *retry storm*): each failure makes more requests. So each retry waits longer (exponential backoff: base,
2 x base, 4 x base, ... up to a cap) and the wait is random (jitter), so that clients that failed together do
not come back together. "Full jitter" (Marc Brooker, AWS Architecture Blog, "Exponential Backoff And Jitter",
2015) draws the whole wait at random:

    delay(retry) = uniform(0, min(cap, base * 2 ** (retry - 1)))

It spreads retries most, and in Brooker's simulations finishes the work with the fewest calls. Backoff limits
how fast one client retries; it does not limit how many retries a whole fleet sends: that is the retry budget
(budget.py).
"""
from __future__ import annotations

import random
from typing import Mapping

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENCY_KEY = "Idempotency-Key"


def is_idempotent(method: str, headers: Mapping[str, str] | None = None) -> bool:
    """May this request be sent twice? Idempotent methods yes; a POST (or PATCH) only with an Idempotency-Key."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(name.lower() == IDEMPOTENCY_KEY.lower() and value for name, value in (headers or {}).items())


class JitteredBackoff:
    """The reference policy: idempotent requests only, capped exponential backoff with full jitter.

    `base` is the first retry's largest wait, `cap` the largest wait of any retry, `max_retries` how many
    retries a request may have (so 1 + max_retries attempts). `rng` is a `random.Random`, to make a run
    repeatable: JitteredBackoff(rng=random.Random(7))."""

    def __init__(self, base: float = 0.1, cap: float = 2.0, max_retries: int = 3, rng: random.Random | None = None):
        if base <= 0 or cap < base or max_retries < 0:
            raise ValueError("need base > 0, cap >= base and max_retries >= 0")
        self.base, self.cap, self.max_retries = float(base), float(cap), int(max_retries)
        self.rng = rng or random.Random()

    def retryable(self, method: str, headers: Mapping[str, str]) -> bool:
        return is_idempotent(method, headers)

    def ceiling(self, retry: int) -> float:
        """The largest wait before retry number `retry`: base * 2**(retry-1), capped (the curve jitter draws under)."""
        return min(self.cap, self.base * 2 ** min(retry - 1, 62))

    def delay(self, retry: int) -> float | None:
        if retry > self.max_retries:
            return None
        return self.rng.uniform(0, self.ceiling(retry))

    def __repr__(self) -> str:
        return f"JitteredBackoff(base={self.base}, cap={self.cap}, max_retries={self.max_retries})"


class NoBackoff:
    """The naive policy, for comparison (chapter 09's retry storm): idempotent requests, retried at once."""

    def __init__(self, max_retries: int = 3):
        self.max_retries = int(max_retries)

    def retryable(self, method: str, headers: Mapping[str, str]) -> bool:
        return is_idempotent(method, headers)

    def delay(self, retry: int) -> float | None:
        return 0.0 if retry <= self.max_retries else None

    def __repr__(self) -> str:
        return f"NoBackoff(max_retries={self.max_retries})"


class NoRetry:
    """Every request is sent once: a failure is the caller's to handle."""

    def retryable(self, method: str, headers: Mapping[str, str]) -> bool:
        return False

    def delay(self, retry: int) -> float | None:
        return None

    def __repr__(self) -> str:
        return "NoRetry()"
