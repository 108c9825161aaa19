"""notifications: the messages a customer gets about an order, sent when the events say so (chapter 07).

It consumes `OrderPlaced`, `OrderConfirmed` and `OrderRejected` from `orders.events` in the consumer group
"notifications", "sends" each message through a mail server, and keeps it in its own SQLite database with the
record that the event was applied (broker/applied.py): a redelivered event stores no second message.

The mail server is pretend, and can be made slow or down on purpose (launch secret only):
`PUT /_mail {"delay_ms": 800}` or `{"down": true}`. While it is down every delivery fails, the entry stays
pending and is delivered again, and after `max_deliveries` it goes to the dead-letter stream with the reason.
(A real mail server is outside the transaction: a crash after sending and before the commit sends the mail
twice. At-least-once is the honest promise for side effects outside the database.)

    GET /messages              the messages kept, newest first (?order_id= for one order's)
    POST /messages             {"order_id", "text"}: send one now and answer when it is sent (the inline way
                               that chapter 07 compares with events)

`group=` names its consumer group (default "notifications"): instances in one group share the events, instances
in different groups each get every event.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from ..broker.link import SCHEMA as EVENTS_SCHEMA, EventLink
from .base import ApiError, Bool, Int, Str, create_service, query_int, read_json, require_admin
from .storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id       INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL,
    text     TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_order ON messages (order_id, id);
""" + EVENTS_SCHEMA

TEXTS = {"OrderPlaced": "We have your order #{order_id}: {quantity} of product {product_id}.",
         "OrderConfirmed": "Order #{order_id} is confirmed: it is on its way.",
         "OrderRejected": "Sorry, order #{order_id} could not be fulfilled: {reason}."}


class MailServerDown(RuntimeError):
    """The pretend mail server refuses to send."""


class MailServer:
    def __init__(self, delay_ms: int = 0):
        self.delay_ms, self.down, self.sent = delay_ms, False, 0
        self.lock = threading.Lock()

    def send(self, text: str) -> None:
        if self.down:
            raise MailServerDown("the mail server is down")
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        with self.lock:
            self.sent += 1


def create_app(config: dict):
    app = create_service("notifications", config)
    db = Database(Path(config["data_dir"]) / "notifications.db", SCHEMA)
    mail = MailServer(int(config.get("mail_delay_ms", 0)))
    events = EventLink(app, db, config)

    def send(happened) -> None:  # outside the transaction: a slow mail server holds no database lock
        mail.send(TEXTS[happened.type].format(**happened.payload))

    def keep(conn, happened) -> None:  # in the consumer's transaction, with the record that it was applied
        conn.execute("INSERT INTO messages (order_id, text, event_id, at) VALUES (?, ?, ?, ?)",
                     (happened.payload["order_id"], TEXTS[happened.type].format(**happened.payload),
                      happened.event_id, time.time()))

    if config.get("consume", True):  # consume=False: only the inline POST /messages (chapter 07's contrast)
        events.consume("orders.events", str(config.get("group") or "notifications"), dict.fromkeys(TEXTS, keep),
                       before=send)

    @app.post("/messages")
    def send_now():
        body = read_json(order_id=Int(min=1), text=Str(min=1, max=500))
        try:
            mail.send(body["text"])
        except MailServerDown as exc:
            raise ApiError(503, f"{exc}: try again later") from None
        new_id = db.execute("INSERT INTO messages (order_id, text, event_id, at) VALUES (?, ?, '', ?)",
                            body["order_id"], body["text"], time.time())
        return db.one("SELECT * FROM messages WHERE id = ?", new_id), 201

    @app.get("/messages")
    def messages():
        limit = query_int("limit", 100, 1, 1000)
        order_id = query_int("order_id", 0, 0, 2 ** 63 - 1)
        if order_id:
            rows = db.query("SELECT * FROM messages WHERE order_id = ? ORDER BY id DESC LIMIT ?", order_id, limit)
        else:
            rows = db.query("SELECT * FROM messages ORDER BY id DESC LIMIT ?", limit)
        return {"messages": rows, "sent": mail.sent}

    @app.put("/_mail")
    def mail_server():
        require_admin()
        body = read_json(delay_ms=Int(min=0, max=60_000, required=False), down=Bool(required=False))
        if body.get("delay_ms") is not None:
            mail.delay_ms = body["delay_ms"]
        if body.get("down") is not None:
            mail.down = body["down"]
        return {"delay_ms": mail.delay_ms, "down": mail.down, "sent": mail.sent}

    return app
