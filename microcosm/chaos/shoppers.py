"""A small steady load that remembers every answer: shoppers browsing the catalog and checking out orders.

    with Shoppers(catalog=system["catalog-lb"], orders=system["orders"], users=4) as shop:
        ...faults...
    shop.observations      # every request: when, what, status (0: no answer), milliseconds
    shop.checkouts         # every order a shopper meant to place: its key, attempts, the order id it was given

Each shopper thread loops: `GET /products/<id>` from the catalog, and every `checkout_every`-th turn a checkout,
`POST /orders`, tried up to `attempts` times until it is answered (a 5xx or no answer within `timeout` is tried
again after a short wait; a 4xx is not). With `keyed=True` every checkout sends one `Idempotency-Key` with all
its attempts, so orders places it once whatever happens; with `keyed=False` a retry after a timeout may place
it twice: what the scorecard's "duplicated orders" counts (tally.py).

It is plain threads with `requests` in this kernel, not Locust (microcosm.load): the scorecard needs each
checkout's key and answer, which a Locust process does not hand back; a few users are enough to see faults.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

import requests

from ..services.idempotency import HEADER


class Observation(NamedTuple):
    at: float    # time.time() when the request was sent
    kind: str    # "browse" or "checkout"
    status: int  # the answer's status code, 0 when there was none (refused, reset, timed out)
    ms: float    # how long until the answer (or the failure)


@dataclass
class Checkout:
    key: str | None        # the Idempotency-Key sent with every attempt (None: sent without one)
    started: float
    attempts: int = 0
    order_id: int | None = None  # the order id the answer carried: acknowledged
    status: int = 0               # the last attempt's status


def _url(target) -> str:
    url = getattr(target, "url", target)
    if not isinstance(url, str) or not url.startswith("http"):
        raise ValueError(f"give a launched service or an http:// URL, not {target!r}")
    return url.rstrip("/")


def newest_order_id(orders) -> int:
    """The highest order id orders holds now (0 for none): orders above it were placed after this moment."""
    answer = requests.get(f"{_url(orders)}/orders", params={"limit": 1}, timeout=5)
    answer.raise_for_status()
    rows = answer.json()["orders"]
    return rows[0]["id"] if rows else 0


@dataclass
class Shoppers:
    catalog: object
    orders: object | None = None
    users: int = 4
    checkout_every: int = 3       # one checkout every this many turns (0: browse only)
    keyed: bool = True
    timeout: float = 1.0          # seconds a shopper waits for an answer
    attempts: int = 8             # tries per checkout
    retry_pause: float = 0.25     # seconds between two tries of a checkout
    think: float = 0.02           # seconds between two turns
    products: tuple = (1, 2, 3, 4)
    observations: list = field(default_factory=list, init=False)
    checkouts: list = field(default_factory=list, init=False)

    def __post_init__(self):
        if not isinstance(self.users, int) or self.users < 1:
            raise ValueError(f"users must be a whole number of at least 1, got {self.users!r}")
        self.catalog_url = _url(self.catalog)
        self.orders_url = _url(self.orders) if self.orders is not None else None
        if self.checkout_every and self.orders_url is None:
            raise ValueError("checkouts need orders=: the orders service (or checkout_every=0 to browse only)")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.started = self.stopped = None
        self.since_order_id = 0

    # --- life --------------------------------------------------------------------------------------------
    def start(self) -> "Shoppers":
        if self.orders_url is not None:
            self.since_order_id = newest_order_id(self.orders_url)
        self.started = time.time()
        self._threads = [threading.Thread(target=self._shop, args=(i,), daemon=True, name=f"shopper-{i}")
                         for i in range(self.users)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> "Shoppers":
        """Stop after each shopper's current request (a checkout in progress finishes its tries)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.stopped = time.time()
        return self

    def __enter__(self) -> "Shoppers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # --- one shopper ---------------------------------------------------------------------------------------
    def _ask(self, session, kind: str, method: str, url: str, **kwargs):
        sent = time.time()
        t0 = time.perf_counter()
        try:
            answer = session.request(method, url, timeout=self.timeout, **kwargs)
            status = answer.status_code
        except requests.RequestException:
            answer, status = None, 0
        with self._lock:
            self.observations.append(Observation(sent, kind, status, (time.perf_counter() - t0) * 1000))
        return answer, status

    def _shop(self, i: int) -> None:
        rng = random.Random(i)
        turn = 0
        with requests.Session() as session:
            while not self._stop.is_set():
                turn += 1
                self._ask(session, "browse", "GET", f"{self.catalog_url}/products/{rng.choice(self.products)}")
                if self.checkout_every and turn % self.checkout_every == 0:
                    self._checkout(session, rng)
                self._stop.wait(self.think)

    def _checkout(self, session, rng) -> None:
        checkout = Checkout(str(uuid.uuid4()) if self.keyed else None, time.time())
        with self._lock:
            self.checkouts.append(checkout)
        headers = {HEADER: checkout.key} if checkout.key else {}
        body = {"product_id": rng.choice(self.products), "quantity": 1}
        while checkout.attempts < self.attempts:
            checkout.attempts += 1
            answer, checkout.status = self._ask(session, "checkout", "POST", f"{self.orders_url}/orders",
                                                json=body, headers=headers)
            if answer is not None and answer.status_code < 300:
                checkout.order_id = answer.json().get("id")
                return
            if answer is not None and answer.status_code < 500:
                return  # refused for what it is (a 4xx): trying again would not help
            time.sleep(self.retry_pause)  # not the stop event: a checkout in progress finishes its tries

    # --- what was seen -----------------------------------------------------------------------------------
    def seen(self, since: float | None = None, until: float | None = None) -> list[Observation]:
        """The observations of requests sent in [since, until) (all of them by default)."""
        with self._lock:
            return [o for o in self.observations
                    if (since is None or o.at >= since) and (until is None or o.at < until)]
