"""What a client did, counted and logged, so a cell can chart it and a test can check it.

Counts (`Stats.counts()`):

    requests         calls made to the client (each may become several attempts)
    attempts         requests actually sent on the network
    retries          attempts that were a retry of an earlier one
    failures         attempts that failed: no answer, a timeout, or a status worth retrying (429, 5xx)
    budget_refusals  retries the policy wanted and the budget refused
    fast_failures    requests the breaker refused: nothing sent, CircuitOpen raised at once
    gave_up          requests that ended without a good answer

Logs, bounded (the last `max_log` entries), each entry with its wall-clock time `t`:

    attempts         one entry per attempt or refusal: request number, attempt number, method, path,
                     outcome ("200", "503", "timeout", "unreachable", "broken", "circuit open"), milliseconds, and
                     what came next: `wait` (seconds slept before the retry) or `then` (why no retry)
    breaker_events   every change of the breaker's state the client saw: {"t", "state", "was"}
"""
from __future__ import annotations

import threading
import time
from collections import deque

COUNTS = ("requests", "attempts", "retries", "failures", "budget_refusals", "fast_failures", "gave_up")


class Stats:
    def __init__(self, max_log: int = 10_000):
        self.lock = threading.Lock()
        self.started = time.time()
        self._counts = dict.fromkeys(COUNTS, 0)
        self.attempts: deque = deque(maxlen=max_log)
        self.breaker_events: deque = deque(maxlen=max_log)

    def add(self, name: str, n: int = 1) -> int:
        """Count one more `name`; returns the new count (the number of a new request)."""
        with self.lock:
            self._counts[name] += n
            return self._counts[name]

    def log_attempt(self, **entry) -> dict:
        entry = {"t": time.time(), **entry}
        with self.lock:
            self.attempts.append(entry)
        return entry

    def saw_state(self, was: str, state: str) -> None:
        with self.lock:
            self.breaker_events.append({"t": time.time(), "state": state, "was": was})

    def counts(self) -> dict:
        """The counts above, and `retry_ratio`: retries per request."""
        with self.lock:
            counts = dict(self._counts)
        counts["retry_ratio"] = round(counts["retries"] / counts["requests"], 4) if counts["requests"] else 0.0
        return counts

    def reset(self) -> None:
        with self.lock:
            self.started = time.time()
            self._counts = dict.fromkeys(COUNTS, 0)
            self.attempts.clear()
            self.breaker_events.clear()
