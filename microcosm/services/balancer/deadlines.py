"""When a backend has been silent too long: one timer per loop for every waiting connection, not one per wait.

A connection waiting for its backend's bytes (upstream.py's `Connection._more`) notes its deadline here; one timer,
armed only while some connection waits, looks at the deadlines every `SWEEP` seconds and times out the ones that
have passed. A timer per wait (`loop.call_later`, then its cancel when the bytes come in time, almost always) cost
about as much as the rest of the wait (bench/RESULTS.md, issue 12, round 2); the price is that a timeout fires up
to `SWEEP` seconds late.
"""
from __future__ import annotations

import asyncio
import weakref

SWEEP = 0.05  # seconds between two looks at the deadlines: a timeout fires up to this late


class Deadlines:
    """The connections waiting on one event loop, each with its deadline (the loop's clock)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.waiting: dict = {}  # connection -> its deadline
        self.timer: asyncio.TimerHandle | None = None

    def wait(self, conn, timeout: float) -> None:
        """`conn` waits at most `timeout` seconds from now (its `_time_out()` is called if it is still waiting)."""
        self.waiting[conn] = self.loop.time() + timeout
        if self.timer is None:
            self.timer = self.loop.call_later(SWEEP, self._sweep)

    def done(self, conn) -> None:
        """`conn` no longer waits."""
        self.waiting.pop(conn, None)

    def _sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        late = [conn for conn, deadline in self.waiting.items() if deadline <= now]
        for conn in late:
            del self.waiting[conn]
            conn._time_out()
        if self.waiting:
            self.timer = self.loop.call_later(SWEEP, self._sweep)


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines]" = weakref.WeakKeyDictionary()


def deadlines() -> Deadlines:
    """The running loop's `Deadlines`."""
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        found = _per_loop[loop] = Deadlines(loop)
    return found
