"""The transactional outbox: a service writes its own data and the event about it in one transaction; a relay
publishes the event afterwards.

Writing the order and then publishing OrderPlaced is two steps, and a process can die between them: an order
without its event (publish second) or an event without its order (publish first). The outbox makes it one
step: the event is a row of the service's own database, committed with the order. A relay thread publishes
rows not yet published and marks them. If the process dies between publishing and marking, the row is
published again after the restart: the event keeps its id, and idempotent consumers (applied.py) apply it once.
"""
from __future__ import annotations

import json
import logging
import threading
import time

import redis as redis_lib

from .envelope import Event
from .streams import connect, publish

log = logging.getLogger("microcosm.broker")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    stream       TEXT NOT NULL,
    type         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    at           REAL NOT NULL,
    published_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (published_at, seq);
"""


def add(conn, stream: str, event: Event) -> None:
    """Put `event` in the outbox, inside the caller's transaction (`with db.transaction() as conn:`)."""
    conn.execute("INSERT INTO outbox (event_id, stream, type, payload, request_id, at) VALUES (?, ?, ?, ?, ?, ?)",
                 (event.event_id, stream, event.type, json.dumps(event.payload), event.request_id, event.at))


class Relay:
    """A thread that publishes the outbox's unpublished rows in order, and marks each one published after."""

    def __init__(self, db, url: str, every: float = 0.2, observe=None):
        self.db, self.url, self.every = db, url, every
        self.observe = observe  # observe(event, stream, ms): each event published, for the traffic monitor
        self.paused = False        # a fault on purpose (chapter 07): committed events wait in the outbox
        self.published = 0
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Relay":
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Publish now (a transaction just added a row), rather than at the next round."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def pending(self) -> int:
        return self.db.one("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL")["n"]

    def _run(self) -> None:
        r = None
        while not self._stop.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            if self.paused:
                continue
            try:
                r = r or connect(self.url)
                self.publish_pending(r)
            except (redis_lib.ConnectionError, redis_lib.TimeoutError) as exc:
                log.warning("outbox relay: Redis unreachable (%s); the events wait in the outbox", exc)
                r = None
                self._stop.wait(1.0)

    def publish_pending(self, r, batch: int = 100) -> int:
        """Publish up to `batch` unpublished rows, oldest first; how many."""
        rows = self.db.query("SELECT * FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?", batch)
        for row in rows:
            event = Event(row["type"], json.loads(row["payload"]), row["event_id"], row["at"], row["request_id"])
            started = time.perf_counter()
            publish(r, row["stream"], event)
            if self.observe is not None:
                self.observe(event, row["stream"], (time.perf_counter() - started) * 1000)
            self.db.execute("UPDATE outbox SET published_at = ? WHERE seq = ?", time.time(), row["seq"])
            self.published += 1
        return len(rows)
