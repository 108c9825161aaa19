"""applied.apply_batch: a batch of events in one SQLite transaction, a savepoint per event."""
import sqlite3

import pytest

from microcosm.broker import applied
from microcosm.broker.envelope import event
from microcosm.services.storage import Database


@pytest.fixture
def db(tmp_path):
    return Database(tmp_path / "consumer.db", applied.SCHEMA + "CREATE TABLE kept (order_id INTEGER NOT NULL);")


def placed(order_id: int):
    return event("OrderConfirmed", {"order_id": order_id})


def keep(conn, e):
    conn.execute("INSERT INTO kept (order_id) VALUES (?)", (e.payload["order_id"],))


def keep_then_fail(conn, e):
    keep(conn, e)  # written, then undone with this event's savepoint
    raise ValueError(f"order {e.payload['order_id']} is poison")


def kept(db) -> list[int]:
    return [row["order_id"] for row in db.query("SELECT order_id FROM kept ORDER BY order_id")]


def test_one_failing_side_effect_undoes_only_its_own_writes_and_the_others_commit(db):
    first, poison, last = placed(1), placed(2), placed(3)
    outcomes = applied.apply_batch(db, [(first, keep), (poison, keep_then_fail), (last, keep)])
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], ValueError) and "poison" in str(outcomes[1])
    assert kept(db) == [1, 3]
    assert applied.unseen(db, [first, poison, last]) == {poison.event_id}  # it can be applied later


def test_an_event_applied_before_changes_nothing_in_a_later_batch_or_the_same_one(db):
    again = placed(7)
    assert applied.apply_batch(db, [(again, keep), (again, keep)]) == [True, False]
    assert applied.apply_batch(db, [(again, keep), (placed(8), keep)]) == [False, True]
    assert applied.apply_once(db, again, keep) is False
    assert kept(db) == [7, 8]


def test_the_batch_is_one_transaction(db, tmp_path):
    """Another connection sees none of the batch until all of it is committed."""
    other = sqlite3.connect(tmp_path / "consumer.db")
    seen_midway = []

    def look(conn, e):
        keep(conn, e)
        seen_midway.append(other.execute("SELECT COUNT(*) FROM kept").fetchone()[0])

    applied.apply_batch(db, [(placed(n), look) for n in range(1, 4)])
    assert seen_midway == [0, 0, 0] and kept(db) == [1, 2, 3]


def test_a_transaction_that_fails_as_a_whole_commits_nothing_and_raises(db):
    def abort_everything(conn, e):
        conn.rollback()  # as SQLite does on some errors: the whole transaction gone, savepoints with it
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        applied.apply_batch(db, [(placed(1), keep), (placed(2), abort_everything)])
    assert kept(db) == [] and db.query("SELECT * FROM applied_events") == []
