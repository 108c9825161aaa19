"""shop: shoppers through the gateway, as the web shop's page calls it: log in, browse, add to cart, check out.

Each account logs in once, when its first user starts (the password grant, POST /api/token: identity's argon2
hash, slow on purpose); the account's other users share its token, as tabs of one browser do. Then each user
loops over one request per task with a think time between tasks:

    browse         GET  /api/products/<id>                       6 of 10 tasks
    add to cart    PUT  /api/carts/<user>/items/<id>             3 of 10
    check out      POST /api/orders (with an Idempotency-Key)    1 of 10 (orders asks catalog, publishes an event)

One request per task keeps Little's law simple: users = requests/s x (response time + think time). The think
time is MICROCOSM_THINK_S seconds on average (default 0.1; uniform from 0 to twice that). The shoppers' accounts
must exist: MICROCOSM_SHOPPERS names them (comma-separated; user i of the run takes name i modulo their number)
and MICROCOSM_PASSWORD is their password. Set by `microcosm.load(gateway, "shop", env={...})`.

For a capacity curve, MICROCOSM_STEPS="2,4,8,16" runs that many users in turn, MICROCOSM_STEP_S seconds each
(default 2), in one run (a Locust load shape: the users and duration given to load() are then not used).
"""
import itertools
import os
import random
import uuid
from urllib.parse import urlencode

from gevent.lock import BoundedSemaphore
from locust import FastHttpUser, LoadTestShape, between, task

SHOPPERS = [name for name in os.environ.get("MICROCOSM_SHOPPERS", "").split(",") if name]
PASSWORD = os.environ.get("MICROCOSM_PASSWORD", "")
THINK = float(os.environ.get("MICROCOSM_THINK_S", "0.1"))
STEPS = [int(n) for n in os.environ.get("MICROCOSM_STEPS", "").split(",") if n.strip()]
STEP_S = float(os.environ.get("MICROCOSM_STEP_S", "2"))
_numbers = itertools.count()
_tokens: dict[str, str] = {}  # account -> its access token, once it logged in
_logging_in = {name: BoundedSemaphore() for name in SHOPPERS}  # one log-in at a time per account


class Shopper(FastHttpUser):
    wait_time = between(0, 2 * THINK)

    def on_start(self):
        if not SHOPPERS:
            raise RuntimeError("set MICROCOSM_SHOPPERS (accounts that exist at the identity provider)")
        self.username = SHOPPERS[next(_numbers) % len(SHOPPERS)]
        self.log_in()

    @property
    def auth(self) -> dict:
        """The account's token (logging in first if it has none yet: a refused log-in is tried again)."""
        if self.username not in _tokens:
            self.log_in()
        return {"Authorization": f"Bearer {_tokens[self.username]}"} if self.username in _tokens else {}

    def log_in(self):
        with _logging_in[self.username]:
            if self.username not in _tokens:
                self._password_grant()

    def _password_grant(self):
        form = urlencode({"grant_type": "password", "username": self.username, "password": PASSWORD})
        with self.client.post("/api/token", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              name="log in", catch_response=True) as r:
            if r.status_code == 200:
                _tokens[self.username] = r.json()["access_token"]
            else:
                r.failure(f"log in answered {r.status_code}: {r.text[:200]}")

    @task(6)
    def browse(self):
        self.client.get(f"/api/products/{random.randint(1, 4)}", headers=self.auth, name="browse")

    @task(3)
    def add_to_cart(self):
        self.client.put(f"/api/carts/{self.username}/items/{random.randint(1, 4)}", json={"quantity": 1},
                        headers=self.auth, name="add to cart")

    @task(1)
    def check_out(self):
        self.client.post("/api/orders", json={"product_id": random.randint(1, 4), "quantity": 1},
                         headers={**self.auth, "Idempotency-Key": str(uuid.uuid4())}, name="check out")


if STEPS:
    class Steps(LoadTestShape):
        """MICROCOSM_STEPS users in turn, MICROCOSM_STEP_S seconds each, every user of a step started at once."""

        def tick(self):
            step = int(self.get_run_time() // STEP_S)
            return (STEPS[step], 100) if step < len(STEPS) else None
