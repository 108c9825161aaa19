"""The broker, over real processes and a real Redis of the test's own: nothing lost, nothing applied twice.

orders (events=True), inventory and notifications talk only through Redis Streams. Each test kills something
for real (SIGKILL) at the worst moment it can arrange, then counts side effects against events.
"""
from __future__ import annotations

import pytest

from microcosm.broker import streams
from microcosm.broker.envelope import event
from microcosm.runtime.infra import RedisServer
from microcosm.testing import wait_until

CLAIM = {"claim_idle": 1.0, "max_deliveries": 3}  # stale entries taken over after 1 s; a poison message after 3


@pytest.fixture
def broker(tmp_path):
    """A redis-server of this test's own (it gets killed), with appendfsync always."""
    server = RedisServer(f"broker-{tmp_path.name}", appendfsync="always").start()
    yield server
    server.stop()
    server.forget()


@pytest.fixture
def shop(launch, broker, tmp_path):
    """catalog, inventory (2 of product 1, 1000 of the others), notifications and orders, all on `broker`."""
    class Shop:
        pass

    s = Shop()
    s.catalog = launch("catalog", f"catalog-{tmp_path.name}", data_dir=str(tmp_path / "catalog"), traffic=False)
    s.inventory = launch("inventory", f"inventory-{tmp_path.name}", events=broker.url, traffic=False,
                         data_dir=str(tmp_path / "inventory"), stock={1: 2, 2: 1000, 3: 1000, 4: 1000}, **CLAIM)
    s.notifications = launch("notifications", f"notifications-{tmp_path.name}", events=broker.url, traffic=False,
                             data_dir=str(tmp_path / "notifications"), **CLAIM)
    s.orders = launch("orders", f"orders-{tmp_path.name}", events=broker.url, catalog_url=s.catalog.url,
                      data_dir=str(tmp_path / "orders"), traffic=False, **CLAIM)
    return s


def place(shop, product_id=2, quantity=1) -> dict:
    answer = shop.orders.post("/orders", json={"product_id": product_id, "quantity": quantity})
    assert answer.status_code == 202, answer.text
    return answer.json()


def statuses(shop) -> dict[int, str]:
    return {o["id"]: o["status"] for o in shop.orders.get("/orders", params={"limit": 1000}).json()["orders"]}


def settled(shop, count: int) -> bool:
    found = statuses(shop)
    return len(found) == count and "pending" not in found.values()


def test_the_saga_confirms_what_is_in_stock_and_rejects_what_is_not(shop):
    first, second, third = place(shop, 1), place(shop, 1), place(shop, 1)  # only 2 of product 1 in stock
    assert first["status"] == "pending"
    assert wait_until(lambda: settled(shop, 3)), statuses(shop)
    assert statuses(shop) == {first["id"]: "confirmed", second["id"]: "confirmed", third["id"]: "rejected"}
    assert shop.inventory.get("/stock/1").json()["available"] == 0
    assert wait_until(lambda: len(shop.notifications.get("/messages").json()["messages"]) == 6)
    texts = [m["text"] for m in shop.notifications.get("/messages", params={"order_id": third["id"]}).json()["messages"]]
    assert any("could not be fulfilled: only 0 in stock" in t for t in texts), texts


def test_a_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(shop):
    """notifications reads 50 entries at a time and sends each through a slow mail server: killed after a few,
    the rest of its batch is read and unacknowledged; after the restart it claims them and goes on."""
    shop.notifications.put("/_mail", json={"delay_ms": 40})
    placed = [place(shop)["id"] for _ in range(60)]
    assert wait_until(lambda: len(shop.notifications.get("/messages").json()["messages"]) >= 5, timeout=30)
    shop.notifications.kill()
    shop.notifications.restart()
    events = 60 * 2  # OrderPlaced and OrderConfirmed for each order

    def messages():
        return shop.notifications.get("/messages", params={"limit": 1000}).json()["messages"]

    assert wait_until(lambda: len(messages()) >= events, timeout=60), f"{len(messages())} of {events} messages"
    kept = messages()
    assert len(kept) == events and len({m["event_id"] for m in kept}) == events  # 0 lost, 0 twice
    assert sorted({m["order_id"] for m in kept}) == sorted(placed)
    assert shop.notifications.get("/_events").json()["consumers"][0]["claimed"] > 0, \
        "nothing was pending at the kill: the test did not kill mid-batch"


def test_orders_killed_between_commit_and_publish_loses_no_event(shop):
    shop.orders.put("/_events", json={"relay_paused": True})  # committed events wait in the outbox
    placed = [place(shop)["id"] for _ in range(5)]
    assert shop.orders.get("/_events").json()["outbox"]["unpublished"] == 5
    shop.orders.kill()
    shop.orders.restart()  # a new process: its relay publishes what the outbox holds
    assert wait_until(lambda: settled(shop, 5)), statuses(shop)
    assert set(statuses(shop).values()) == {"confirmed"}
    reserved = {r["order_id"] for r in shop.inventory.get("/reservations").json()["reservations"]}
    assert reserved == set(placed)


def test_a_poison_message_is_dead_lettered_with_its_reason_and_can_be_replayed(shop, broker):
    r = broker.client()
    r.xadd("orders.events", {"event_id": "bad-1", "type": "OrderPlaced", "payload": "{not json"})
    r.xadd("orders.events", {"event_id": "bad-2", "type": "Teleported", "payload": "{}"})
    shop.notifications.put("/_mail", json={"down": True})
    order = place(shop)
    assert wait_until(lambda: len(streams.dead_letters(r, "orders.events")) >= 2 * 2 + 2, timeout=30)
    dead = streams.dead_letters(r, "orders.events")
    reasons = {(d.get("event_id"), d["dead_group"]): d["dead_reason"] for d in dead}
    assert "not JSON" in reasons[("bad-1", "inventory")] and "unknown event type" in reasons[("bad-2", "notifications")]
    mail = [d for d in dead if d["dead_group"] == "notifications" and d.get("type") == "OrderPlaced"
            and d.get("event_id") not in ("bad-1", "bad-2")]
    assert mail and "MailServerDown" in mail[0]["dead_reason"] and int(mail[0]["dead_deliveries"]) > 3
    shop.notifications.put("/_mail", json={"down": False})
    for letter in mail:
        streams.replay(r, "orders.events", letter["id"])
    assert wait_until(lambda: any(m["order_id"] == order["id"] and "We have your order" in m["text"]
                                  for m in shop.notifications.get("/messages").json()["messages"]), timeout=30)
    assert all(d["id"] != mail[0]["id"] for d in streams.dead_letters(r, "orders.events"))
    assert shop.inventory.get("/_events").json()["consumers"][0]["dead_lettered"] >= 2  # and it kept running


def test_redis_killed_with_appendfsync_always_keeps_every_acknowledged_event_and_the_services_carry_on(shop, broker):
    r = broker.client()
    ids = [streams.publish(r, "audit.events", event("OrderConfirmed", {"order_id": n})) for n in range(200)]
    broker.kill()
    broker.restart()
    r = broker.client()
    assert [entry_id for entry_id, _ in r.xrange("audit.events")] == ids  # every XADD Redis answered is there
    order = place(shop)
    assert wait_until(lambda: statuses(shop).get(order["id"]) == "confirmed", timeout=30), \
        "the services did not carry on after Redis came back"


def test_a_poison_event_in_the_middle_of_a_batch_is_dead_lettered_and_the_rest_of_its_batch_applied_once(
        launch, broker, tmp_path):
    """A consumer applies a batch in one transaction, a savepoint per event: inventory reads nine OrderPlaced at
    once, and the fifth fails in the middle of its side effect (a trigger refuses its reservation, after its stock
    was taken). Its savepoint undoes its own writes only: the eight others are committed and acknowledged once,
    and the fifth is delivered again until it is dead-lettered after max_deliveries (3)."""
    import sqlite3

    inventory = launch("inventory", f"inventory-poison-{tmp_path.name}", events=broker.url, traffic=False,
                       data_dir=str(tmp_path / "inventory"), stock={2: 100, 4: 100}, **CLAIM)
    with sqlite3.connect(tmp_path / "inventory" / "inventory.db") as db:  # the fault, injected by the harness
        db.execute("CREATE TRIGGER poison BEFORE INSERT ON reservations WHEN NEW.product_id = 4 "
                   "BEGIN SELECT RAISE(ABORT, 'product 4 is poisoned'); END")
    r = broker.client()
    orders = [event("OrderPlaced", {"order_id": 9000 + n, "product_id": 4 if n == 5 else 2, "quantity": 1,
                                    "total_cents": 100}) for n in range(1, 10)]
    together = r.pipeline(transaction=True)  # MULTI/EXEC: the waiting consumer gets all nine in one read
    for placed in orders:
        streams.publish(together, "orders.events", placed)
    together.execute()

    assert wait_until(lambda: streams.dead_letters(r, "orders.events"), timeout=30), inventory.get("/_events").json()
    dead = streams.dead_letters(r, "orders.events")
    assert [d["event_id"] for d in dead] == [orders[4].event_id], dead
    assert "product 4 is poisoned" in dead[0]["dead_reason"] and int(dead[0]["dead_deliveries"]) == 4, dead[0]
    reserved = [x["order_id"] for x in inventory.get("/reservations").json()["reservations"]]
    assert sorted(reserved) == [9001, 9002, 9003, 9004, 9006, 9007, 9008, 9009]  # each once, the fifth never
    stock = {s["product_id"]: s["available"] for s in inventory.get("/stock").json()["stock"]}
    assert stock == {2: 92, 4: 100}, stock  # the poisoned event's own UPDATE was rolled back with its savepoint
    answers = [f["payload"] for _, f in r.xrange("inventory.events")]
    assert len(answers) == 8 and not any('"order_id":9005' in a for a in answers), answers  # its reply too
    counts = inventory.get("/_events").json()["consumers"][0]
    assert counts["applied"] == 8 and counts["failed"] == 3 and counts["dead_lettered"] == 1, counts
    assert wait_until(lambda: inventory.get("/_events").json()["groups"]["orders.events/inventory"]["pending"] == 0)


def test_checkout_fails_when_it_calls_a_dead_service_and_is_settled_later_when_it_publishes_an_event(
        shop, launch, broker, tmp_path):
    """Chapter 07's contrast (broker/downstream.py): the services downstream of each checkout SIGKILLed, five
    checkouts each, then the services restarted. Calling and waiting: every checkout fails, yet the orders are
    written, and nothing mails them later. With events: every checkout is accepted as pending, and each order is
    confirmed and gets its two messages once inventory and notifications are back."""
    from microcosm.broker.downstream import checkout_while_down

    mailer = launch("notifications", f"mailer-inline-{tmp_path.name}", events=broker.url, consume=False,
                    traffic=False, data_dir=str(tmp_path / "mailer-inline"))
    calling = launch("orders", f"orders-inline-{tmp_path.name}", catalog_url=shop.catalog.url, notify_url=mailer.url,
                     traffic=False, data_dir=str(tmp_path / "orders-inline"))
    run = checkout_while_down(synchronous=(calling, [mailer]),
                              evented=(shop.orders, [shop.inventory, shop.notifications]), checkouts=5)
    sync, evented = run.synchronous, run.evented
    assert (sync.accepted, sync.failed, len(sync.written), sync.messages) == (0, 5, 5, 0), sync
    assert sync.while_down == sync.once_back == {"placed": 5}, sync
    assert (evented.accepted, evented.failed, len(evented.written)) == (5, 0, 5), evented
    assert evented.while_down == {"pending": 5} and evented.once_back == {"confirmed": 5}, evented
    assert evented.messages == 10 and evented.settled_after >= 0, evented
    assert [row[0] for row in run.table().rows] == ["synchronous call (waits)", "event (orders.events)"]


# (service, method, path, body, with the launch secret, status, field named in the error)
BAD_INPUT = [
    ("inventory", "PUT", "/stock/1", {"available": -1}, False, 400, "available"),
    ("inventory", "PUT", "/stock/1", {"available": "ten"}, False, 400, "available"),
    ("inventory", "PUT", "/stock/1", None, False, 415, None),
    ("inventory", "GET", "/stock/99", None, False, 404, None),
    ("inventory", "GET", "/reservations?limit=0", None, False, 400, "limit"),
    ("notifications", "GET", "/messages?order_id=abc", None, False, 400, "order_id"),
    ("notifications", "PUT", "/_mail", {"down": True}, False, 401, None),
    ("notifications", "PUT", "/_mail", {"delay_ms": 10 ** 9}, True, 400, "delay_ms"),
    ("notifications", "PUT", "/_mail", {"down": "yes"}, True, 400, "down"),
    ("orders", "PUT", "/_events", {"relay_paused": True}, False, 401, None),
    ("orders", "PUT", "/_events", {"relay_paused": "yes"}, True, 400, "relay_paused"),
    ("orders", "POST", "/orders", {"product_id": 1, "quantity": 0}, False, 400, "quantity"),
]


def test_bad_input_to_the_event_services_gets_a_json_4xx_that_says_what_is_wrong(shop):
    from microcosm import trust

    wrong = []
    for service, method, path, body, admin, status, field in BAD_INPUT:
        instance = getattr(shop, service)
        headers = {} if admin else {trust.ADMIN_HEADER: ""}  # Service.request sends the secret unless told not to
        answer = instance.request(method, path, json=body, headers=headers) if body is not None else \
            instance.request(method, path, headers=headers, data=b"" if method == "PUT" else None)
        said = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
        if answer.status_code != status or (field and said.get("field") != field) or not said.get("message"):
            wrong.append(f"{service} {method} {path} {body}: {answer.status_code} {answer.text[:150]}")
    assert not wrong, "\n".join(wrong)


def test_the_monitor_sees_events_go_through_streams_and_a_request_traced_through_them(launch, broker, tmp_path):
    """With hop recording on: orders -> orders.events (publish) -> inventory (deliver, with its group's lag), and
    the order's request id on the POST, on its event's publish and on the consumers' deliveries."""
    import microcosm
    from microcosm.traffic.hops import newest_hops
    from microcosm.traffic.model import TrafficModel

    catalog = launch("catalog", f"catalog-seen-{tmp_path.name}", data_dir=str(tmp_path / "catalog"))
    launch("inventory", f"inventory-seen-{tmp_path.name}", events=broker.url, data_dir=str(tmp_path / "inventory"))
    orders = launch("orders", f"orders-seen-{tmp_path.name}", events=broker.url, catalog_url=catalog.url,
                    data_dir=str(tmp_path / "orders"))
    answer = orders.post("/orders", json={"product_id": 2, "quantity": 1})
    request_id = answer.headers["X-Request-ID"]
    client = microcosm.redis().client(decode_responses=False)

    def traced():
        return [h for h in newest_hops(client, 2000) if h.get("request_id") == request_id]

    assert wait_until(lambda: {(h.get("kind") or "call", h["callee"]) for h in traced()} >= {
        ("call", "orders"), ("publish", "orders.events"), ("deliver", "inventory"), ("publish", "inventory.events"),
        ("deliver", "orders")}, timeout=15), sorted((h.get("kind"), h["caller"], h["callee"]) for h in traced())
    model = TrafficModel(window=60)
    model.add(newest_hops(client, 2000))
    kinds = {(e["from"], e["to"]): e["kind"] for e in model.edges()}
    assert kinds.get((orders.name, "orders.events")) == "publish", sorted(kinds.items())[:12]
    assert "inventory" in model.nodes()["orders.events"], model.nodes()  # a stream's rows are its consumer groups
    assert any(kind == "deliver" and to.startswith("inventory-seen") for (_, to), kind in kinds.items()), kinds
    assert "inventory" in model.lags("orders.events"), model.lags("orders.events")
