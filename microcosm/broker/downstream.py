"""Checkout while the services downstream of it are down: a synchronous call against an event (chapter 07).

Chapter 02's checkout calls each service it needs and waits for it, so it fails when one of them is down. With
events, orders writes the order and its event and answers at once; the services downstream consume the event
when they are back. `checkout_while_down` kills the services downstream of each style (SIGKILL), places the
same checkouts through both, restarts what it killed, and counts what happened:

    run = checkout_while_down(synchronous=(orders_inline, [notifications_inline]),
                              evented=(orders, [inventory, notifications]))
    run.table()
    run.synchronous.failed, run.evented.accepted, run.evented.confirmed, ...
"""
from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..show import table


@dataclass
class Outcome:
    """What one style of checkout did with its downstream services killed, and after they were back."""
    style: str
    down: list[str]
    checkouts: int
    accepted: int = 0            # answered 2xx
    failed: int = 0              # answered 5xx: the customer was told checkout failed
    written: list[int] = field(default_factory=list)  # ids of the orders written, whatever the answer said
    while_down: Counter = field(default_factory=Counter)  # their statuses while the services were down
    once_back: Counter = field(default_factory=Counter)   # their statuses once the services were back
    messages: int = 0            # messages about these orders, once the services were back
    settled_after: float = math.nan  # seconds from the services being back until nothing was left to do


@dataclass
class Run:
    synchronous: Outcome
    evented: Outcome

    def table(self):
        def counted(statuses: Counter) -> str:
            return ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())) or "-"

        return table([(o.style, ", ".join(o.down), o.checkouts, o.accepted, o.failed, len(o.written),
                       counted(o.while_down), counted(o.once_back), o.messages)
                      for o in (self.synchronous, self.evented)],
                     ["checkout", "killed", "checkouts", "accepted (2xx)", "failed (5xx)", "orders written",
                      "their status while down", "once back", "messages once back"])


def _newest(orders) -> int:
    found = orders.get("/orders", params={"limit": 1}).json()["orders"]
    return found[0]["id"] if found else 0


def _place(style: str, orders, down: list, checkouts: int, product_id: int) -> Outcome:
    outcome = Outcome(style, [s.name for s in down], checkouts)
    before = _newest(orders)
    for _ in range(checkouts):
        answer = orders.post("/orders", json={"product_id": product_id, "quantity": 1})
        outcome.accepted += answer.ok
        outcome.failed += answer.status_code >= 500
    outcome.written = [o["id"] for o in orders.get("/orders", params={"limit": 1000}).json()["orders"]
                       if o["id"] > before]
    outcome.while_down = _statuses(orders, outcome.written)
    return outcome


def _statuses(orders, ids) -> Counter:
    return Counter(orders.get(f"/orders/{i}").json()["status"] for i in ids)


def _messages(down: list, ids) -> int:
    mailer = next((s for s in down if s.service_name == "notifications"), None)
    if mailer is None:
        return 0
    kept = mailer.get("/messages", params={"limit": 1000}).json()["messages"]
    return sum(1 for m in kept if m["order_id"] in set(ids))


def checkout_while_down(synchronous: tuple, evented: tuple, checkouts: int = 10, product_id: int = 2,
                        timeout: float = 30.0) -> Run:
    """`synchronous` and `evented` are (orders, [services downstream of it]): each list is killed, `checkouts`
    orders are placed through each orders, then everything killed is restarted and the evented orders are
    followed until none is pending and each has its two messages (or `timeout` seconds)."""
    (sync_orders, sync_down), (event_orders, event_down) = synchronous, evented
    for service in [*sync_down, *event_down]:
        service.kill()
    try:
        sync = _place("synchronous call (waits)", sync_orders, sync_down, checkouts, product_id)
        event = _place("event (orders.events)", event_orders, event_down, checkouts, product_id)
    finally:  # restarted side by side: each waits for its own health check
        with ThreadPoolExecutor(len(sync_down) + len(event_down)) as pool:
            list(pool.map(lambda service: service.restart(), [*sync_down, *event_down]))
    back, deadline = time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        event.once_back, event.messages = _statuses(event_orders, event.written), _messages(event_down, event.written)
        if not event.once_back["pending"] and event.messages >= 2 * len(event.written):
            event.settled_after = time.monotonic() - back
            break
        time.sleep(0.1)
    sync.once_back, sync.messages = _statuses(sync_orders, sync.written), _messages(sync_down, sync.written)
    return Run(sync, event)
