"""Locust's `shop` scenario through a real gateway: each account logs in once, the shoppers browse, fill carts
and check out, and every request Locust counted is one the services counted themselves; a stepped run has a
second-by-second history with the steps' user counts."""
from __future__ import annotations

import uuid

import pytest

import microcosm
from microcosm.load.capacity import steps
from microcosm.services.web import GATEWAY_ROUTES

from identity_helpers import CHEAP_ARGON2

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery staple"


def count(service, route: str) -> int:
    return service.metrics()["routes"].get(route, {"count": 0})["count"]


@pytest.fixture(scope="module")
def shop(launch_for_module, tmp_path_factory):
    tag, root = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("shop")

    def start(service, name, **config):
        return launch_for_module(service, f"shop-{name}-{tag}", traffic=False, **config)

    identity = start("identity", "identity", data_dir=str(root / "identity"), argon2=CHEAP_ARGON2)
    catalog = start("catalog", "catalog", data_dir=str(root / "catalog"))
    orders = start("orders", "orders", catalog_url=catalog.url, data_dir=str(root / "orders"))
    carts = start("carts", "carts", key_prefix=f"shop-{tag}:carts:", orders_url=orders.url)
    gateway = start("gateway", "gateway", identity_url=identity.url, rate_limit=False, routes=GATEWAY_ROUTES,
                    upstreams={"identity": identity.url, "catalog": catalog.url, "orders": orders.url,
                               "carts": carts.url})
    names = [f"shopper{i}-{tag}" for i in (1, 2)]
    for name in names:
        assert identity.post("/users", json={"username": name, "password": PASSWORD}).status_code == 201
    return {"identity": identity, "catalog": catalog, "orders": orders, "carts": carts, "gateway": gateway,
            "env": {"MICROCOSM_SHOPPERS": ",".join(names), "MICROCOSM_PASSWORD": PASSWORD}}


def test_every_request_of_the_mix_is_one_the_services_counted_and_each_account_logs_in_once(shop):
    catalog, carts, orders, identity = shop["catalog"], shop["carts"], shop["orders"], shop["identity"]
    before = {"browse": count(catalog, "GET /products/<int:product_id>"), "check out": count(orders, "POST /orders"),
              "log in": count(identity, "POST /token")}
    result = microcosm.load(shop["gateway"], "shop", users=4, duration=3, show=False, env=shop["env"])
    made = {e["name"]: e["requests"] for e in result.endpoints}
    assert result.failures == 0, result.endpoints
    assert made["log in"] == 2 == count(identity, "POST /token") - before["log in"]  # 4 users, 2 accounts
    assert made["check out"] == count(orders, "POST /orders") - before["check out"] > 0
    read = count(catalog, "GET /products/<int:product_id>") - before["browse"]
    assert read == made["browse"] + made["check out"]  # each order asks catalog for its product's price
    assert made["add to cart"] > 0 and made["browse"] > made["check out"]  # 6 and 1 of 10 tasks
    cart_puts = sum(r["count"] for route, r in carts.metrics()["routes"].items() if route.startswith("PUT "))
    assert cart_puts >= made["add to cart"]


def test_a_stepped_run_holds_each_user_count_in_turn(shop):
    env = {**shop["env"], "MICROCOSM_STEPS": "1,3", "MICROCOSM_STEP_S": "2"}
    result = microcosm.load(shop["gateway"], "shop", users=3, duration=4, show=False, env=env)
    users = [h["users"] for h in result.history]
    assert set(users) <= {1, 3} and 1 in users and 3 in users and users.index(3) > users.index(1)
    curve = steps(result.history, think_s=0.1)
    assert [s["users"] for s in curve] == [1, 3] and all(s["rps"] > 0 and s["mean_ms"] > 0 for s in curve)

