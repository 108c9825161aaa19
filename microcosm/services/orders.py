"""orders: places orders. Owns its SQLite database; asks catalog for prices over HTTP, never reads its data.

How hard it tries to reach catalog is a *retry policy*: a function `policy(attempt)` that calls `attempt()`
(one HTTP call to catalog) as often as it sees fit. The default tries once. The lab of chapter 01 writes a
better one (timeouts, backoff, jitter) and plugs it in with `launch("orders", retry_policy="file.py:name")`.

With `launch("orders", events=True)` (chapter 07) an order is `pending` until inventory answers by events:
order_saga.py. With `notify_url=` (chapter 07's contrast) it calls notifications inline instead, and waits.

A `POST /orders` that carries an `Idempotency-Key` header is safe to send again (chapter 09): the key and the
answer are committed with the order, and a repeat gets the same answer without a second order
(idempotency.py; config `idempotency_ttl` in seconds, a day by default, and `idempotency_max_keys`).
"""
import sqlite3
import time
from pathlib import Path

from flask import g

from . import idempotency
from .base import ApiError, Int, UpstreamError, call, create_service, found, query_int, read_json
from .loader import load_object
from .storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id               INTEGER PRIMARY KEY,
    product_id       INTEGER NOT NULL,
    product_name     TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    total_cents      INTEGER NOT NULL,
    created_at       REAL NOT NULL,
    status           TEXT NOT NULL DEFAULT 'placed'  -- with events (chapter 07): pending, confirmed, rejected
);
"""


def try_once(attempt):
    """The simplest retry policy: no retry at all."""
    return attempt()


def create_app(config: dict):
    app = create_service("orders", config)
    events = None
    if config.get("events"):  # chapter 07; the broker's client is loaded only then
        from ..broker.link import SCHEMA as EVENTS_SCHEMA
        from . import order_saga

        db = Database(Path(config["data_dir"]) / "orders.db", SCHEMA + idempotency.SCHEMA + EVENTS_SCHEMA)
        events = order_saga.install(app, db, config)
    else:
        db = Database(Path(config["data_dir"]) / "orders.db", SCHEMA + idempotency.SCHEMA)
    keys = idempotency.IdempotencyKeys(db, ttl=float(config.get("idempotency_ttl", 86400)),
                                       max_keys=int(config.get("idempotency_max_keys", 100_000)))
    if "status" not in {column["name"] for column in db.query("PRAGMA table_info(orders)")}:
        try:  # a database from before orders had a status
            db.execute("ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'placed'")
        except sqlite3.OperationalError:  # another instance added it first
            pass
    catalog_url = config["catalog_url"].rstrip("/")
    policy = load_object(config["retry_policy"]) if config.get("retry_policy") else try_once
    notify_url = (config.get("notify_url") or "").rstrip("/")

    def product(product_id: int) -> dict:
        answer = policy(lambda: call("GET", f"{catalog_url}/products/{product_id}", upstream="catalog"))
        if answer.status_code == 404:
            raise ApiError(422, f"catalog has no product with id {product_id}", field="product_id")
        if answer.status_code != 200:
            raise UpstreamError("catalog", f"catalog answered {answer.status_code}", 502)
        return answer.json()

    def save(conn, item: dict, quantity: int) -> int:
        """The order's row, inside the caller's transaction (with events: pending, and its OrderPlaced)."""
        if events is not None:  # chapter 07: pending until inventory answers, by events (order_saga.py)
            return order_saga.add_pending(conn, item, quantity, g.request_id)
        return conn.execute(
            "INSERT INTO orders (product_id, product_name, quantity, unit_price_cents, total_cents, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (item["id"], item["name"], quantity, item["price_cents"], item["price_cents"] * quantity,
             time.time())).lastrowid

    @app.post("/orders")
    def place_order():
        body = read_json(product_id=Int(min=1), quantity=Int(min=1, max=1000))
        if (earlier := keys.replay(body)) is not None:  # this Idempotency-Key was answered: the same answer
            return earlier
        item = product(body["product_id"])
        status = 202 if events is not None else 201
        with db.transaction() as conn:  # the order, its event (with events) and its key: all or nothing
            if (earlier := keys.claim(conn)) is not None:  # a twin with the same key got there first
                return earlier
            order_id = save(conn, item, body["quantity"])
            order = dict(conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone())
            keys.answer(conn, order, status)
        if events is not None:
            events.published()  # wake the outbox's relay
        if notify_url:  # chapter 07's "before": the customer's mail sent inline, checkout waits for it
            sent = call("POST", f"{notify_url}/messages", upstream="notifications",
                        json={"order_id": order_id, "text": f"We have your order #{order_id}."})
            if sent.status_code >= 500:  # the order is saved, yet the customer is told checkout failed
                raise UpstreamError("notifications", f"notifications answered {sent.status_code}", 502)
        return order, status

    @app.get("/orders")
    def list_orders():
        limit = query_int("limit", 100, 1, 1000)
        return {"orders": db.query("SELECT * FROM orders ORDER BY id DESC LIMIT ?", limit)}

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int):
        return found(db.one("SELECT * FROM orders WHERE id = ?", order_id), f"no order with id {order_id}")

    return app
