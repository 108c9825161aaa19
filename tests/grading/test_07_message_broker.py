"""Graded tests of lab 07 (message broker): the learner's consumer loop for the ledger, nothing lost, nothing twice.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cell leaves ledger_consumer.py there, and points these tests at that folder (see conftest.py).

Task 1 calls the learner's `apply_once` directly, on a real SQLite database of the ledger's shape. Task 2 runs a
real ledger process with the learner's loop on a redis-server of this module's own (appendfsync always), on a
stream of each test's own: events published as orders' relay publishes them, the ledger SIGKILLed mid-batch,
entries left pending by a consumer that died, a poison message, Redis SIGKILLed. What happened is read from the
ledger's sales, the group's pending list and the dead-letter stream, never from wall-clock times.
"""
from __future__ import annotations

import time
import uuid

import pytest

from microcosm.broker import streams
from microcosm.broker.envelope import event
from microcosm.runtime.infra import RedisServer
from microcosm.services import ledger
from microcosm.services.storage import Database
from microcosm.testing import wait_until

points = pytest.mark.points
TASKS = {"Task 1 · Apply each event once": ("apply",),
         "Task 2 · The consumer loop": ("live",)}  # the lab's tasks, as its headings say (conftest.py)


def sale(order_id: int, product_id: int = 1, quantity: int = 1, cents: int = 100):
    return event("OrderPlaced", {"order_id": order_id, "product_id": product_id, "quantity": quantity,
                                 "total_cents": cents})


@pytest.fixture(scope="module")
def broker():
    server = RedisServer(f"grade07-{uuid.uuid4().hex[:8]}", appendfsync="always").start()
    yield server
    server.stop()
    server.forget()


@pytest.fixture(scope="module")
def LedgerConsumer(learner_object):
    return learner_object("ledger_consumer.py", "LedgerConsumer")


@pytest.fixture
def direct(LedgerConsumer, broker, tmp_path):
    """(the learner's consumer, its database), built as the ledger builds them."""
    db = Database(tmp_path / "ledger.db", ledger.SCHEMA)
    consumer = LedgerConsumer(broker.client(), db, "grader", ledger.record_sale,
                              stream=f"grade07.{uuid.uuid4().hex[:8]}", group="ledger")
    return consumer, db


def sales(db) -> dict[int, tuple[int, int, int]]:
    return {s["product_id"]: (s["orders"], s["quantity"], s["cents"]) for s in db.query("SELECT * FROM sales")}


# --- Task 1: apply_once, called directly -----------------------------------------------------------
@points(2)
def test_apply_records_a_new_event_and_says_so(direct):
    """apply_once of a new event records its sale and returns True."""
    consumer, db = direct
    assert consumer.apply_once(sale(1, product_id=2, quantity=3, cents=1200)) is True
    assert sales(db) == {2: (1, 3, 1200)}


@points(3, must_pass=True)
def test_apply_twice_changes_nothing_the_second_time(direct):
    """The same event (same event_id) applied again returns False and records nothing more, however often."""
    consumer, db = direct
    once = sale(1)
    results = [consumer.apply_once(once) for _ in range(3)]
    assert results == [True, False, False], f"apply_once returned {results} for one event applied three times"
    assert sales(db) == {1: (1, 1, 100)}, f"one event, recorded as {sales(db)}"


@points(2)
def test_apply_that_fails_leaves_nothing_behind_and_can_be_applied_later(direct, LedgerConsumer):
    """record_sale raising after writing: the exception goes out, nothing is kept (one transaction); later it applies."""
    consumer, db = direct

    def fails_after_writing(conn, e):
        ledger.record_sale(conn, e)
        raise RuntimeError("the disk is full")

    failing = LedgerConsumer(consumer.r, db, "grader-2", fails_after_writing, stream=consumer.stream, group="ledger")
    with pytest.raises(RuntimeError):
        failing.apply_once(sale(7))
    assert sales(db) == {} and db.query("SELECT * FROM applied_events") == [], \
        "a failed apply left a sale or an applied record behind: are they in one transaction?"
    assert consumer.apply_once(sale(7)) is True and sales(db) == {1: (1, 1, 100)}


# --- Task 2: a real ledger with the learner's loop ---------------------------------------------------
@pytest.fixture
def run_ledger(launch, learner_file, broker):
    """run_ledger(**config) -> (ledger process, its stream): a ledger on a stream of its own (or the one given)."""
    def start(stream: str | None = None, **config):
        stream = stream or f"grade07.{uuid.uuid4().hex[:8]}"
        config = {"claim_idle": 1.0, "max_deliveries": 3, **config}
        service = launch("ledger", f"grade07-ledger-{stream[-8:]}", events=broker.url, stream=stream, traffic=False,
                         consumer=f"{learner_file('ledger_consumer.py')}:LedgerConsumer", **config)
        return service, stream
    return start


def sold(service) -> tuple[int, int]:
    """(orders, cents) the ledger has recorded."""
    rows = service.get("/sales").json()["sales"]
    return sum(r["orders"] for r in rows), sum(r["cents"] for r in rows)


def errors(service) -> str:
    said = service.get("/sales").json()["errors"]
    return f" (poll() raised: {said[-1]})" if said else ""


def pending(r, stream) -> int:
    return r.xpending(stream, "ledger")["pending"]


def settled(look, done, quiet: float = 3.0, timeout: float = 20.0):
    """Wait until done(look()) or until look() has not changed for `quiet` seconds (a wrong answer stops
    making progress: no need to wait out the timeout); returns the last look."""
    last, since, end = look(), time.monotonic(), time.monotonic() + timeout
    while not done(last) and time.monotonic() < end and time.monotonic() - since < quiet:
        time.sleep(0.2)
        now = look()
        if now != last:
            last, since = now, time.monotonic()
    return last


@points(2)
def test_live_every_event_is_applied_once_and_acknowledged(run_ledger, broker):
    """Live: 50 events published: the ledger records 50 sales, and the group has nothing pending."""
    service, stream = run_ledger()
    r = broker.client()
    for n in range(50):
        streams.publish(r, stream, sale(n, cents=n + 1))
    assert wait_until(lambda: sold(service)[0] >= 50, timeout=20), f"{sold(service)} recorded{errors(service)}"
    assert wait_until(lambda: pending(r, stream) == 0), f"{pending(r, stream)} entries still pending: acknowledge them"
    assert sold(service) == (50, sum(range(1, 51)))


@points(3, must_pass=True)
def test_live_a_sigkill_mid_batch_loses_nothing_and_doubles_nothing(run_ledger, broker):
    """Live: each sale takes 30 ms; SIGKILL after a few, restart, SIGKILL again: exactly the 60 sales, none lost or twice."""
    service, stream = run_ledger(apply_delay_ms=30)
    r = broker.client()
    for n in range(60):
        streams.publish(r, stream, sale(n, cents=100))
    for at_least in (5, 15):
        recorded = settled(lambda: sold(service)[0], lambda n: n >= at_least)
        assert recorded >= at_least, f"{recorded} sales recorded, and no more coming{errors(service)}"
        service.kill()
        service.restart()
    settled(lambda: (sold(service), pending(r, stream)), lambda seen: seen[0][0] >= 60 and seen[1] == 0)
    assert sold(service) == (60, 6000), (f"after a SIGKILL mid-batch the ledger has {sold(service)[0]} sales of 60 "
                                          f"(pending: {pending(r, stream)}){errors(service)}")


@points(2, must_pass=True)
def test_live_entries_a_dead_consumer_left_pending_are_claimed(run_ledger, broker):
    """Live: a consumer read 10 entries and died without acknowledging: the ledger takes them over and applies them."""
    r = broker.client()
    stream = f"grade07.{uuid.uuid4().hex[:8]}"
    streams.ensure_group(r, stream, "ledger")
    for n in range(10):
        streams.publish(r, stream, sale(n))
    assert len(r.xreadgroup("ledger", "ghost", {stream: ">"}, count=10)[0][1]) == 10  # read, never acknowledged
    service, _ = run_ledger(stream=stream)
    assert settled(lambda: sold(service)[0], lambda n: n >= 10) >= 10, \
        f"{sold(service)[0]} of the 10 entries the dead consumer left were applied{errors(service)}"
    assert wait_until(lambda: pending(r, stream) == 0), "claimed entries must be acknowledged once applied"


@points(2)
def test_live_poison_messages_are_dead_lettered_with_their_reasons_and_the_rest_goes_on(run_ledger, broker):
    """Live: a malformed entry and a sale record_sale always refuses: both dead-lettered, with reasons; later ones applied."""
    service, stream = run_ledger()
    r = broker.client()
    r.xadd(stream, {"event_id": "bad", "type": "OrderPlaced", "payload": "{oops"})
    streams.publish(r, stream, sale(1, product_id=ledger.POISON))
    streams.publish(r, stream, sale(2))
    assert wait_until(lambda: len(streams.dead_letters(r, stream)) >= 2, timeout=25), \
        f"dead letters: {streams.dead_letters(r, stream)}{errors(service)}"
    dead = {d.get("event_id"): d for d in streams.dead_letters(r, stream)}
    assert dead["bad"]["dead_reason"].startswith("malformed: "), dead["bad"]
    poisoned = next(d for key, d in dead.items() if key != "bad")
    assert "666" in poisoned["dead_reason"] and int(poisoned["dead_deliveries"]) > 3, poisoned
    assert wait_until(lambda: sold(service)[0] == 1) and wait_until(lambda: pending(r, stream) == 0)


@points(1)
def test_live_the_loop_carries_on_after_redis_is_killed_and_restarted(run_ledger, broker):
    """Live: Redis SIGKILLed and started again: events published afterwards are applied."""
    service, stream = run_ledger()
    r = broker.client()
    streams.publish(r, stream, sale(1))
    assert wait_until(lambda: sold(service)[0] == 1), f"nothing applied{errors(service)}"
    broker.kill()
    broker.restart()
    r = broker.client()
    for n in range(2, 6):
        streams.publish(r, stream, sale(n))
    assert wait_until(lambda: sold(service)[0] == 5, timeout=20), \
        f"{sold(service)[0]} of 5 sales after Redis came back{errors(service)}"
