"""The retry budget: retries may be at most a share of requests, whatever happens.

Backoff (retry.py) spaces one client's retries out; it does not bound them. With 3 retries per request, a
service that fails everything gets 4 times its normal traffic at the very moment it can least take it: the
retries keep it down. A budget caps the extra load instead of the delay: retries may be at most `ratio`
(say a tenth) of the requests sent, however many fail. Google's SRE book recommends a per-client budget of
10%; Finagle and gRPC ship one.

It is a token bucket (the gateway's rate limit is one too): every new request drops `ratio` of a token in,
every retry takes a whole token out, and the bucket holds at most `burst` tokens. So over any stretch of time

    retries <= burst + ratio * requests

A few failures are retried (the bucket has tokens); a storm drains it, and then only one request in
1/ratio may be retried: the load on a failing service stays within (1 + ratio) of normal.

A budget is any object with these two methods (the client calls nothing else):

    deposit()      a new request is being sent (not a retry)
    withdraw() -> bool   may one retry go now? (True takes its token)
"""
from __future__ import annotations

import threading


class RetryBudget:
    """The reference budget: a token bucket, `ratio` of a token per request, one per retry, at most `burst`."""

    def __init__(self, ratio: float = 0.1, burst: float = 10.0):
        if not 0 <= ratio <= 1 or burst < 1:
            raise ValueError("need 0 <= ratio <= 1 and burst >= 1 (room for one retry)")
        self.ratio, self.burst = float(ratio), float(burst)
        self.tokens = self.burst  # a fresh client may retry its first few failures
        self.lock = threading.Lock()

    def deposit(self) -> None:
        with self.lock:
            self.tokens = min(self.burst, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        with self.lock:
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio}, burst={self.burst}, tokens={self.tokens:.2f})"


class Unlimited:
    """No budget: every retry the policy wants is sent (what a retry storm is made of)."""

    def deposit(self) -> None:
        pass

    def withdraw(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "Unlimited()"
