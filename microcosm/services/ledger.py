"""ledger: sales per product, kept from `OrderPlaced` events by a consumer loop you write (lab 07).

    launch("ledger", consumer="ledger_consumer.py:LedgerConsumer", events=redis_url)

The service owns its SQLite database (sales per product, and the events it has applied), makes one object of
your consumer class, `Consumer(r, db, name, record_sale, stream=, group=, max_deliveries=, claim_idle=)`, and
calls its `poll()` in a thread, round after round, for as long as it runs. An exception out of `poll()` is
logged and the next round starts half a second later (a Redis outage is waited out that way).

`record_sale(conn, event)`, handed to your class, is the side effect, to call inside your transaction. It can be
made slow (`apply_delay_ms`) and it refuses product 666 (a poison message), both on purpose.

    GET /sales      {"sales": [{product_id, orders, quantity, cents}], "polls": rounds run, "errors": last errors}
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path

from ..broker import applied
from ..broker.streams import connect
from .base import create_service
from .loader import load_object
from .storage import Database

log = logging.getLogger("microcosm.ledger")
POISON = 666
SCHEMA = """
CREATE TABLE IF NOT EXISTS sales (
    product_id INTEGER PRIMARY KEY,
    orders     INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    cents      INTEGER NOT NULL
);
""" + applied.SCHEMA


class Poison(ValueError):
    """record_sale refuses this event, every time."""


def record_sale(conn, event, delay_ms: int = 0) -> None:
    """Add one OrderPlaced to the sales of its product, in `conn`'s transaction."""
    order = event.payload
    if order["product_id"] == POISON:
        raise Poison(f"product {POISON} cannot be sold (a poison message, on purpose)")
    time.sleep(delay_ms / 1000)
    conn.execute("INSERT INTO sales (product_id, orders, quantity, cents) VALUES (?, 1, ?, ?) "
                 "ON CONFLICT (product_id) DO UPDATE SET orders = orders + 1, quantity = quantity + excluded.quantity, "
                 "cents = cents + excluded.cents", (order["product_id"], order["quantity"], order["total_cents"]))


def create_app(config: dict):
    if not config.get("consumer"):
        raise ValueError("ledger runs your consumer loop: launch('ledger', consumer='ledger_consumer.py:LedgerConsumer')")
    app = create_service("ledger", config)
    db = Database(Path(config["data_dir"]) / "ledger.db", SCHEMA)
    delay = int(config.get("apply_delay_ms", 0))
    consumer = load_object(config["consumer"])(
        connect(config["events"]), db, str(config.get("name") or "ledger"),
        lambda conn, event: record_sale(conn, event, delay), stream=config.get("stream", "orders.events"),
        group=config.get("group", "ledger"), max_deliveries=int(config.get("max_deliveries", 3)),
        claim_idle=float(config.get("claim_idle", 1.0)))
    rounds = {"polls": 0, "errors": deque(maxlen=5)}

    def run() -> None:
        while True:
            try:
                consumer.poll()
                rounds["polls"] += 1
            except Exception as exc:  # the learner's loop failed this round: say why, and go on
                rounds["errors"].append(f"{type(exc).__name__}: {exc}"[:300])
                log.warning("ledger: poll() raised %s: %s", type(exc).__name__, exc)
                time.sleep(0.5)

    threading.Thread(target=run, name="ledger-consumer", daemon=True).start()

    @app.get("/sales")
    def sales():
        return {"sales": db.query("SELECT * FROM sales ORDER BY product_id"), "polls": rounds["polls"],
                "errors": list(rounds["errors"])}

    return app
