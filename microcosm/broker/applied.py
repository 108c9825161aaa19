"""Idempotent consumers: an event is applied once, however many times it is delivered.

At-least-once delivery means a consumer may see an event again: it crashed after its side effect and before its
acknowledgement, or a relay published it twice. So the consumer records the ids of the events it has applied
in its own database, in the same transaction as the side effect: either both are committed or neither is, and a
second delivery finds the id and changes nothing.
"""
from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_events (
    event_id   TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    applied_at REAL NOT NULL
);
"""


def apply_once(db, event, side_effect) -> bool:
    """Run `side_effect(conn, event)` and record `event` as applied, in one transaction; False (and nothing
    done) if it was applied before."""
    with db.transaction() as conn:
        new = conn.execute("INSERT OR IGNORE INTO applied_events (event_id, type, applied_at) VALUES (?, ?, ?)",
                           (event.event_id, event.type, event.at)).rowcount
        if not new:
            return False
        side_effect(conn, event)
    return True


def seen(db, event) -> bool:
    """Whether `event` was applied already (a cheap look before work done outside the transaction)."""
    return db.one("SELECT 1 AS yes FROM applied_events WHERE event_id = ?", event.event_id) is not None
