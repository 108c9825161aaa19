"""inventory: how many of each product are in stock, reserved by events, never by a call (chapter 07).

It consumes `OrderPlaced` from the stream `orders.events` in the consumer group "inventory" and answers with an
event on `inventory.events`: `StockReserved` (the stock is taken) or `StockRejected` (not enough, or no such
product). Reserving and writing the answer happen in one transaction of its own SQLite database, together with
the record that the event was applied (broker/applied.py, broker/outbox.py): killed at any moment, it neither
loses a reservation nor makes one twice. Several instances (`scale("inventory", 3)`) share the group's work.

    GET /stock               every product's available count
    GET /stock/<product_id>  one product's
    PUT /stock/<product_id>  {"available": n}: restock (or correct) a product
    GET /reservations        the reservations made, newest first
"""
from __future__ import annotations

import time
from pathlib import Path

from ..broker.envelope import event
from ..broker.link import SCHEMA as EVENTS_SCHEMA, EventLink
from .base import Int, create_service, found, query_int, read_json
from .storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    product_id INTEGER PRIMARY KEY,
    available  INTEGER NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id   INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    at         REAL NOT NULL
);
""" + EVENTS_SCHEMA
STARTING_STOCK = {1: 10, 2: 10, 3: 10, 4: 10}  # catalog's four starter products


def reserve(conn, placed) -> None:
    """Take the ordered quantity from stock if there is enough, and say so with an event, in `conn`'s transaction."""
    order = placed.payload
    row = conn.execute("SELECT available FROM stock WHERE product_id = ?", (order["product_id"],)).fetchone()
    answer = {k: order[k] for k in ("order_id", "product_id", "quantity")}
    if row is not None and row["available"] >= order["quantity"]:
        conn.execute("UPDATE stock SET available = available - ? WHERE product_id = ?",
                     (order["quantity"], order["product_id"]))
        conn.execute("INSERT INTO reservations (order_id, product_id, quantity, at) VALUES (?, ?, ?, ?)",
                     (order["order_id"], order["product_id"], order["quantity"], time.time()))
        reply = event("StockReserved", answer, placed.request_id)
    else:
        why = "no such product" if row is None else f"only {row['available']} in stock"
        reply = event("StockRejected", {**answer, "reason": why}, placed.request_id)
    EventLink.add(conn, "inventory.events", reply)


def create_app(config: dict):
    app = create_service("inventory", config)
    db = Database(Path(config["data_dir"]) / "inventory.db", SCHEMA)
    for product_id, available in (config.get("stock") or STARTING_STOCK).items():
        db.execute("INSERT OR IGNORE INTO stock (product_id, available) VALUES (?, ?)", int(product_id), int(available))
    events = EventLink(app, db, config)
    events.consume("orders.events", "inventory", {"OrderPlaced": reserve})  # each applied once, in a batch

    @app.get("/stock")
    def all_stock():
        return {"stock": db.query("SELECT * FROM stock ORDER BY product_id")}

    @app.get("/stock/<int:product_id>")
    def one_stock(product_id: int):
        return found(db.one("SELECT * FROM stock WHERE product_id = ?", product_id), f"no stock of product {product_id}")

    @app.put("/stock/<int:product_id>")
    def restock(product_id: int):
        body = read_json(available=Int(min=0, max=1_000_000_000))
        db.execute("INSERT INTO stock (product_id, available) VALUES (?, ?) ON CONFLICT (product_id) "
                   "DO UPDATE SET available = excluded.available", product_id, body["available"])
        return db.one("SELECT * FROM stock WHERE product_id = ?", product_id)

    @app.get("/reservations")
    def reservations():
        limit = query_int("limit", 100, 1, 1000)
        return {"reservations": db.query("SELECT * FROM reservations ORDER BY order_id DESC LIMIT ?", limit)}

    return app
