"""Slowing down a process that has no `/_chaos` route (Redis, a ZooKeeper node): its CPU time cut by signals.

A thread sends the process group SIGSTOP and SIGCONT in turn, so it runs `running` of every `period` seconds
and is frozen the rest, like a machine starved of CPU by a noisy neighbour. Whatever it serves takes longer: a
request that arrives while it is frozen waits for the next slice. No root needed, nothing inside the process
changes; stopping the throttle always leaves the process running (SIGCONT last).
"""
from __future__ import annotations

import os
import signal
import threading


class Throttle:
    """Run process group `pgid` for `share` of each `period` seconds, until `stop()`."""

    def __init__(self, pgid: int, share: float = 0.2, period: float = 0.1):
        if not 0 < share < 1:
            raise ValueError(f"share is the part of the time the process runs, between 0 and 1 (not {share!r})")
        if period <= 0:
            raise ValueError(f"period must be a positive number of seconds, not {period!r}")
        self.pgid, self.share, self.period = pgid, share, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"microcosm-throttle-{pgid}", daemon=True)
        self._thread.start()

    def _signal(self, sig: int) -> bool:
        try:
            os.killpg(self.pgid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False  # it is gone: nothing left to slow

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._signal(signal.SIGSTOP):
                    return
                if self._stop.wait(self.period * (1 - self.share)):
                    return
                if not self._signal(signal.SIGCONT):
                    return
                self._stop.wait(self.period * self.share)
        finally:
            self._signal(signal.SIGCONT)

    def stop(self) -> None:
        """End the throttle; the process runs freely again once this returns."""
        self._stop.set()
        self._thread.join()
        self._signal(signal.SIGCONT)

    @property
    def active(self) -> bool:
        return self._thread.is_alive()
