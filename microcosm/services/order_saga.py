"""orders' side of the saga of chapter 07: an order waits for inventory's answer, by events, never by a call.

With `launch("orders", events=True)`, `POST /orders` writes the order as `pending` and its `OrderPlaced` event in
one transaction (the outbox), answers 202 at once, and the relay publishes the event to `orders.events`.
Inventory answers on `inventory.events`; orders consumes that in its group "orders":

    StockReserved -> the order is `confirmed`, and OrderConfirmed is published
    StockRejected -> the order is `rejected` (the compensation: nothing was taken), and OrderRejected is published

No service waits for another: if inventory is down, orders still takes orders, and they are settled when it is
back. Each answer is applied once (broker/applied.py), and only to an order that is still pending.
"""
from __future__ import annotations

import time

from ..broker.envelope import event
from ..broker.link import EventLink

STREAM = "orders.events"


def place(db, events: EventLink, item: dict, quantity: int, request_id: str) -> dict:
    """The pending order and its OrderPlaced event, committed together; the relay is woken to publish it."""
    with db.transaction() as conn:
        order_id = add_pending(conn, item, quantity, request_id)
    events.published()
    return db.one("SELECT * FROM orders WHERE id = ?", order_id)


def add_pending(conn, item: dict, quantity: int, request_id: str) -> int:
    """Inside the caller's transaction: the pending order and its OrderPlaced event in the outbox (and, in
    orders.py, its idempotency key). Wake the relay (`events.published()`) once it is committed."""
    total = item["price_cents"] * quantity
    order_id = conn.execute(
        "INSERT INTO orders (product_id, product_name, quantity, unit_price_cents, total_cents, created_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, 'pending')",
        (item["id"], item["name"], quantity, item["price_cents"], total, time.time())).lastrowid
    EventLink.add(conn, STREAM, event("OrderPlaced", {"order_id": order_id, "product_id": item["id"],
                                                      "quantity": quantity, "total_cents": total}, request_id))
    return order_id


def settle(status: str):
    """A side effect for the consumer (applied once, broker/applied.py): a pending order becomes `status`, and
    the outcome is published."""
    def apply(conn, answer) -> None:
        order_id = answer.payload["order_id"]
        changed = conn.execute("UPDATE orders SET status = ? WHERE id = ? AND status = 'pending'",
                               (status, order_id)).rowcount
        if not changed:  # no such order, or settled already: nothing to say
            return
        if status == "confirmed":
            outcome = event("OrderConfirmed", {"order_id": order_id}, answer.request_id)
        else:
            outcome = event("OrderRejected", {"order_id": order_id, "reason": answer.payload["reason"]},
                            answer.request_id)
        EventLink.add(conn, STREAM, outcome)
    return apply


def install(app, db, config: dict) -> EventLink:
    """Connect orders to the broker: its outbox relay, and its consumer of inventory's answers."""
    events = EventLink(app, db, config)
    events.consume("inventory.events", "orders", {"StockReserved": settle("confirmed"),
                                                   "StockRejected": settle("rejected")})
    return events
