"""Idempotent consumers: an event is applied once, however many times it is delivered.

At-least-once delivery means a consumer may see an event again: it crashed after its side effect and before its
acknowledgement, or a relay published it twice. So the consumer records the ids of the events it has applied
in its own database, in the same transaction as the side effect: either both are committed or neither is, and a
second delivery finds the id and changes nothing.

A consumer that reads fifty events at a time need not pay for fifty transactions (a commit is most of an
event's cost): `apply_batch` applies them all in ONE transaction, each event under a SAVEPOINT of its own. An
event whose side effect raises is rolled back to its savepoint, its writes and its applied record undone, and
the others commit together; the failed one stays unacknowledged and is delivered again.
"""
from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_events (
    event_id   TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    applied_at REAL NOT NULL
);
"""


def _record_and_apply(conn, event, side_effect) -> bool:
    new = conn.execute("INSERT OR IGNORE INTO applied_events (event_id, type, applied_at) VALUES (?, ?, ?)",
                       (event.event_id, event.type, event.at)).rowcount
    if new:
        side_effect(conn, event)
    return bool(new)


def apply_once(db, event, side_effect) -> bool:
    """Run `side_effect(conn, event)` and record `event` as applied, in one transaction; False (and nothing
    done) if it was applied before."""
    with db.transaction() as conn:
        return _record_and_apply(conn, event, side_effect)


def apply_batch(db, work) -> list:
    """Apply each `(event, side_effect)` of `work` once, all in one transaction, each under a savepoint.

    Returns one outcome per item, in order: True (applied now), False (applied before: nothing done), or the
    exception its side effect raised (its own writes rolled back, the others kept). If the transaction itself
    fails (the database locked for too long, the disk full), nothing is committed and the error is raised."""
    outcomes: list = []
    with db.transaction() as conn:
        for event, side_effect in work:
            conn.execute("SAVEPOINT one_event")
            try:
                outcomes.append(_record_and_apply(conn, event, side_effect))
            except Exception as exc:  # this event's writes go; the transaction and the others' writes stay
                if not conn.in_transaction:  # SQLite gave the whole transaction up (an I/O error): so does the batch
                    raise
                conn.execute("ROLLBACK TO one_event")
                outcomes.append(exc)
            conn.execute("RELEASE one_event")
    return outcomes


def unseen(db, events) -> set[str]:
    """The ids among `events` not applied yet, in one query (for work done outside the transaction, such as
    sending a mail, which must not be done again for an event applied already)."""
    ids = list({e.event_id for e in events})
    if not ids:
        return set()
    found = db.query(f"SELECT event_id FROM applied_events WHERE event_id IN ({', '.join('?' * len(ids))})", *ids)
    return set(ids) - {row["event_id"] for row in found}
