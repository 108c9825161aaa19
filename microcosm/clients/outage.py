"""Callers through a hang: what a circuit breaker changes while a service hangs and recovers (chapter 09).

    from microcosm.clients import CircuitBreaker, outage
    run = outage.through_a_hang(catalog, {"no breaker": None, "breaker": CircuitBreaker(failures=3, cool_down=1.0)})
    run.table()              # per caller and phase: calls, sent, answered 200, failed fast, median wait
    run.chart("breaker")     # that caller's breaker, its states and every attempt (chart.breaker_chart)

Each caller is a `Client` (client.py) with its own breaker (None: none), no retries and a read timeout of
`read_timeout` seconds, in a thread of its own that asks for `path` every `every` seconds. After `before`
seconds the service is **paused** (SIGSTOP: the kernel still accepts connections for it, but nothing answers,
as with a service stuck in a long garbage collection or a deadlock); `hang` seconds later it is resumed
(SIGCONT). The callers go on until every breaker among them has closed again (at most `settle` seconds), and
`after` seconds more. The service is resumed whatever happens, even if the run fails half-way.

Every attempt of every caller is kept (`Client.attempts`: outcome, milliseconds, time), and falls in a phase
by when it *started*: before the pause, while the service hung, or once it was back.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

from .client import Client
from .errors import ClientError
from .retry import NoRetry

PHASES = ("1. before", "2. hung", "3. back")
REFUSED = "circuit open"  # the outcome of a call the open breaker refused: nothing was sent


@dataclass
class Outage:
    callers: dict        # name -> its Client (attempts, breaker_events, stats)
    hung_at: float       # time.time() of the pause
    back_at: float       # time.time() of the resume

    def phase(self, attempt: dict) -> str:
        started = attempt["t"] - attempt["ms"] / 1000
        return PHASES[0] if started < self.hung_at else PHASES[1] if started < self.back_at else PHASES[2]

    def attempts(self, name: str, phase: str | None = None) -> list[dict]:
        """A caller's attempts, oldest first; only those of one phase when `phase` is given ("2. hung" ...)."""
        return [a for a in self.callers[name].attempts if phase is None or self.phase(a) == phase]

    def rows(self) -> list[tuple]:
        """(caller, phase, calls, sent, answered 200, failed fast, median wait ms) for each caller and phase."""
        out = []
        for name in self.callers:
            for phase in PHASES:
                xs = self.attempts(name, phase)
                out.append((name, phase, len(xs), sum(a["outcome"] != REFUSED for a in xs),
                            sum(a["outcome"] == "200" for a in xs), sum(a["outcome"] == REFUSED for a in xs),
                            round(statistics.median(a["ms"] for a in xs), 2) if xs else None))
        return out

    def table(self):
        from ..show import table

        return table(self.rows(), ["caller", "phase", "calls", "sent to the service", "answered 200",
                                   "failed fast", "median wait (ms)"])

    def path(self, name: str) -> list[str]:
        """The states a caller's breaker went through: ["closed", "open", "half_open", ..., "closed"]."""
        events = self.callers[name].breaker_events
        return [events[0]["was"]] + [e["state"] for e in events] if events else [self.callers[name].breaker.state]

    def closed_after(self, name: str) -> float | None:
        """Seconds from the resume to the last time the caller's breaker closed (None: it never closed)."""
        closes = [e["t"] for e in self.callers[name].breaker_events if e["state"] == "closed"]
        return max(closes) - self.back_at if closes else None

    def chart(self, name: str):
        from .chart import breaker_chart

        client = self.callers[name]
        return breaker_chart(client.breaker_events, client.attempts, title=f"{name}: its breaker")


def through_a_hang(service, breakers: dict, *, before: float = 0.7, hang: float = 3.0, after: float = 0.5,
                   every: float = 0.05, read_timeout: float = 0.4, path: str = "/products/1",
                   settle: float = 20.0) -> Outage:
    """Run the callers (name -> a breaker, or None) against `service` (a handle from `launch`) through a hang."""
    callers = {name: Client(service.url, retry=NoRetry(), breaker=b, timeout=(0.5, read_timeout), name=name)
               for name, b in breakers.items()}
    stop = threading.Event()

    def keep_calling(client: Client) -> None:
        while not stop.is_set():
            try:
                client.get(path)
            except ClientError:  # CircuitOpen (refused at once, nothing sent) or Unreachable (no answer in time)
                pass
            stop.wait(every)

    threads = [threading.Thread(target=keep_calling, args=(c,), name=f"outage-{n}", daemon=True)
               for n, c in callers.items()]
    for t in threads:
        t.start()
    try:
        time.sleep(before)
        hung_at = time.time()
        try:
            service.pause()
            time.sleep(hang)
        finally:  # an interrupted cell must not leave the service frozen
            service.resume()
        back_at = time.time()
        deadline = time.monotonic() + settle
        while any(c.breaker.state != "closed" for c in callers.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(after)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return Outage(callers, hung_at, back_at)


__all__ = ["PHASES", "REFUSED", "Outage", "through_a_hang"]
