"""Lost and duplicated orders: what the shoppers were told against what orders stored.

    placed        checkouts the shoppers meant to make (one order each)
    acknowledged  checkouts answered with an order id (after however many tries)
    stored        orders in orders' own database placed since the shoppers started (ids above the newest then,
                  read from orders' `GET /orders`)
    lost          acknowledged order ids that orders does not hold: the customer was told yes, the order is gone
    duplicated    stored orders beyond one per checkout: stored - acknowledged-and-stored - in doubt
    in doubt      checkouts never answered: each may or may not have placed its one order

"duplicated" is exact when no checkout is in doubt, and a lower bound otherwise (an unanswered checkout is
counted as if it placed one order): `exact` says which. Orders anyone else placed meanwhile count as stored
too: count while the shoppers are orders' only customers.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests

LIMIT = 1000  # orders' GET /orders answers at most this many, newest first


@dataclass(frozen=True)
class OrderTally:
    placed: int
    acknowledged: int
    stored: int
    lost: int
    duplicated: int
    in_doubt: int
    exact: bool  # every checkout answered and every stored order seen: `duplicated` is a count, not a bound

    def line(self) -> str:
        bound = "" if self.exact else f" (at least; {self.in_doubt} checkouts unanswered)"
        return (f"{self.placed} checkouts, {self.acknowledged} acknowledged, {self.stored} orders stored: "
                f"{self.lost} lost, {self.duplicated} duplicated{bound}")


def stored_since(orders, since_order_id: int, timeout: float = 10.0) -> tuple[set[int], bool]:
    """The ids of orders placed after `since_order_id`, and whether that is all of them (not cut at LIMIT)."""
    url = getattr(orders, "url", orders).rstrip("/")
    answer = requests.get(f"{url}/orders", params={"limit": LIMIT}, timeout=timeout)
    answer.raise_for_status()
    rows = answer.json()["orders"]
    ids = {row["id"] for row in rows if row["id"] > since_order_id}
    complete = len(rows) < LIMIT or min(row["id"] for row in rows) <= since_order_id
    return ids, complete


def tally_orders(orders, checkouts, since_order_id: int, timeout: float = 10.0) -> OrderTally:
    """Count lost and duplicated orders from the shoppers' `checkouts` and what `orders` stores now.

    The answers are read before the orders: an order acknowledged by then was committed by then, and a checkout
    answered a moment later is in doubt here, so a shopper still busy is never miscounted as a loss."""
    answered = [c.order_id for c in list(checkouts)]  # first: an order acknowledged now is stored by now
    acked = {i for i in answered if i is not None}
    in_doubt = answered.count(None)
    stored, complete = stored_since(orders, since_order_id, timeout)
    lost = len(acked - stored)
    duplicated = max(0, len(stored) - len(acked & stored) - in_doubt)
    return OrderTally(placed=len(checkouts), acknowledged=len(acked), stored=len(stored), lost=lost,
                      duplicated=duplicated, in_doubt=in_doubt, exact=complete and in_doubt == 0)
