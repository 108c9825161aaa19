"""The consumer loop: one member of a consumer group, reading a stream in a thread of its service.

Each round reads a batch (up to `batch` entries) and, for each entry, in this order:
1. decode it; a malformed entry, or one of a type nobody knows, goes to the dead-letter stream with the reason;
2. an entry delivered more than `max_deliveries` times goes to the dead-letter stream too (a poison message
   must not block the group for ever), with the last error seen;
3. apply it with the handler for its type (types this consumer does not handle are acknowledged and skipped):
   `handlers[type](conn, event)` is a side effect in the service's database, and the consumer applies it once
   (applied.py): the whole batch in ONE transaction, each event under a savepoint of its own, so an event that
   raises undoes only its own writes and stays pending, while the others commit;
4. acknowledge (`XACK`, once for the batch) only after that transaction is committed. If the process dies
   before the XACK, the entries stay pending and are delivered again (and, being applied already, change
   nothing).

Work outside the database (notifications' mail) is `before(event)`, run before the transaction for each event
not applied yet; an event whose `before` raises is left pending like one whose side effect raised. So that a
crash repeats little of that outside work, the batch is committed (and acknowledged) in pieces whenever it
has taken `commit_every` seconds.

Entries that another consumer of the group read and never acknowledged (it was killed) are taken over with
`XAUTOCLAIM` once they have been idle for `claim_idle` seconds. Redis going away is waited out, never fatal.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import redis as redis_lib

from . import applied
from .envelope import Event, MalformedEvent, decode
from .streams import connect, dead_letter, ensure_group

log = logging.getLogger("microcosm.broker")


class Consumer:
    def __init__(self, url: str, stream: str, group: str, name: str, handlers: dict[str, Callable], *, db,
                 before: Callable[[Event], object] | None = None, committed: Callable[[], None] | None = None,
                 max_deliveries: int = 5, claim_idle: float = 5.0, block: float = 0.5, batch: int = 50,
                 commit_every: float = 0.05, observe: Callable[..., None] | None = None):
        self.url, self.stream, self.group, self.name, self.handlers = url, stream, group, name, handlers
        self.db, self.before, self.committed = db, before, committed  # committed(): after a commit that applied
        self.max_deliveries, self.claim_idle, self.block, self.batch = max_deliveries, claim_idle, block, batch
        self.commit_every = commit_every
        self.counts = {"applied": 0, "duplicates": 0, "skipped": 0, "failed": 0, "dead_lettered": 0, "claimed": 0}
        self._errors: dict[str, str] = {}  # entry id -> last error, for the dead letter's reason
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_claim = 0.0
        # observe(event_type, request_id, status, ms, lag): each entry handled, for the traffic monitor (link.py)
        self.observe, self._lag = observe, None

    # --- running -------------------------------------------------------------------------------------
    def start(self) -> "Consumer":
        self._thread = threading.Thread(target=self._run, name=f"consumer-{self.group}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        r, pause = None, 0.2
        while not self._stop.is_set():
            try:
                if r is None:
                    r = connect(self.url)
                    ensure_group(r, self.stream, self.group)
                    r.xgroup_createconsumer(self.stream, self.group, self.name)  # listed (XINFO) from the start
                self.poll(r)
                pause = 0.2
            except (redis_lib.ConnectionError, redis_lib.TimeoutError) as exc:
                log.warning("%s: Redis unreachable (%s); trying again in %.1f s", self.name, exc, pause)
                r = None
                self._stop.wait(pause)
                pause = min(pause * 2, 2.0)
            except redis_lib.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                r = None  # the stream or the group is gone (Redis restarted empty): make them again

    # --- one round -----------------------------------------------------------------------------------
    def poll(self, r) -> int:
        """Claim what dead consumers left (now and then), else read new entries; handle them. How many."""
        entries, claimed = [], False
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + max(self.claim_idle / 2, 0.1)
            _, entries, *_ = r.xautoclaim(self.stream, self.group, self.name, int(self.claim_idle * 1000),
                                          start_id="0-0", count=self.batch)
            claimed = bool(entries)
            self.counts["claimed"] += len(entries)
        if not entries:
            answer = r.xreadgroup(self.group, self.name, {self.stream: ">"}, count=self.batch,
                                  block=int(self.block * 1000))
            entries = answer[0][1] if answer else []
        self._lag = self._group_lag(r) if self.observe and entries else None
        started, done, ready = time.perf_counter(), [], []
        for entry_id, fields in entries:
            if fields is None:  # trimmed away while pending: nothing left to do
                done.append(entry_id)
                continue
            event = self.admit(r, entry_id, fields, self._deliveries(r, entry_id) if claimed else 1, started)
            if event is None:
                continue  # dead-lettered, and acknowledged with it
            if event.type in self.handlers:
                ready.append((entry_id, event))
            else:
                self.counts["skipped"] += 1
                done.append(entry_id)
        self.apply(r, ready, done, started)
        return len(entries)

    def admit(self, r, entry_id: str, fields: dict, deliveries: int, started: float) -> Event | None:
        """The entry's event, or None once it is dead-lettered: malformed, or delivered too many times."""
        try:
            event = decode(fields)
        except MalformedEvent as exc:
            self._give_up(r, entry_id, fields, f"malformed: {exc}", deliveries)
            self._seen(fields, 422, started)
            return None
        if deliveries > self.max_deliveries:
            last = self._errors.get(entry_id, "an error in an earlier run of this consumer")
            self._give_up(r, entry_id, fields, f"failed {deliveries - 1} deliveries; last error: {last}", deliveries)
            self._seen(fields, 422, started, event)
            return None
        return event

    def apply(self, r, ready: list[tuple[str, Event]], done: list[str], started: float) -> None:
        """Run `before` for each new event, apply them in one transaction, acknowledge after the commit (in
        pieces if `before` is slow); `done` (entries with nothing to apply) are acknowledged with the first."""
        fresh = applied.unseen(self.db, [e for _, e in ready]) if self.before and ready else None
        piece, piece_started = [], time.perf_counter()
        for entry_id, event in ready:
            if fresh is not None and event.event_id not in fresh:  # applied before: only its XACK was missing
                self.counts["duplicates"] += 1
                done.append(entry_id)
                continue
            if self.before is not None:
                try:
                    self.before(event)
                except Exception as exc:
                    self._failed(entry_id, event, exc, started)
                    continue
            piece.append((entry_id, event))
            if time.perf_counter() - piece_started >= self.commit_every:
                self._commit(r, piece, done, started)
                piece, done, piece_started = [], [], time.perf_counter()
        self._commit(r, piece, done, started)

    def _commit(self, r, piece: list[tuple[str, Event]], done: list[str], started: float) -> None:
        if piece:
            try:
                outcomes = applied.apply_batch(self.db, [(event, self.handlers[event.type]) for _, event in piece])
            except Exception as exc:  # the transaction failed as a whole: nothing committed, all left pending
                outcomes = [exc] * len(piece)
            for (entry_id, event), outcome in zip(piece, outcomes):
                if isinstance(outcome, Exception):
                    self._failed(entry_id, event, outcome, started)
                    continue
                self.counts["applied" if outcome else "duplicates"] += 1
                self._errors.pop(entry_id, None)
                self._seen(None, 200, started, event)
                done.append(entry_id)
            if self.committed is not None and any(outcome is True for outcome in outcomes):
                self.committed()
        if done:  # one XACK for what was committed (or had nothing to apply): never before the commit
            r.xack(self.stream, self.group, *done)

    def _failed(self, entry_id: str, event: Event, exc: Exception, started: float) -> None:
        """Left pending: claimed and delivered again after claim_idle, dead-lettered after max_deliveries."""
        self.counts["failed"] += 1
        if len(self._errors) < 10_000:
            self._errors[entry_id] = f"{type(exc).__name__}: {exc}"[:300]
        log.warning("%s: %s %s failed: %s", self.name, event.type, event.event_id, exc)
        self._seen(None, 500, started, event)

    # --- helpers ---------------------------------------------------------------------------------------
    def _group_lag(self, r) -> int | None:
        """Entries of the stream this group has not been handed yet (Redis 7's XINFO GROUPS lag)."""
        for group in r.xinfo_groups(self.stream):
            if group["name"] == self.group:
                return group.get("lag")
        return None

    def _seen(self, fields, status: int, started: float, event: Event | None = None) -> None:
        if self.observe is not None:
            kind = event.type if event else str((fields or {}).get("type", "?"))[:40]
            self.observe(kind, event.request_id if event else "", status, (time.perf_counter() - started) * 1000,
                         self._lag)

    def _deliveries(self, r, entry_id: str) -> int:
        pending = r.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    def _give_up(self, r, entry_id, fields, reason, deliveries) -> None:
        together = r.pipeline(transaction=True)  # MULTI/EXEC: dead-lettered and acknowledged, or neither
        dead_letter(together, self.stream, self.group, entry_id, fields, reason, deliveries)
        together.xack(self.stream, self.group, entry_id)
        together.execute()
        self._errors.pop(entry_id, None)
        self.counts["dead_lettered"] += 1
        log.warning("%s: %s dead-lettered: %s", self.name, entry_id, reason)
