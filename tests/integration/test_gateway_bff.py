"""The backend for frontend (`GET /api/mobile/home`) over real processes: identity, catalog, carts, orders, a
gateway; and the web vs mobile screens measured through the network proxy (microcosm/clients/profiles.py)."""
from __future__ import annotations

import uuid

import pytest
import requests

from identity_helpers import ADMIN, CHEAP_ARGON2, user_token
from microcosm.clients import profiles

ORIGIN = "http://shop.example"


class Shop:
    pass


@pytest.fixture(scope="module")
def shop(launch_for_module, tmp_path_factory):
    tag, root = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("bff")

    def start(service, name, **config):
        return launch_for_module(service, f"bff-{name}-{tag}", traffic=False, **config)

    s = Shop()
    s.identity = start("identity", "identity", data_dir=str(root / "identity"), admin_secret=ADMIN,
                       publish_delay=1.0, argon2=CHEAP_ARGON2)
    s.carts = start("carts", "carts", key_prefix=f"bff-{tag}:carts:")
    s.catalog = start("catalog", "catalog", data_dir=str(root / "catalog"))
    s.orders = start("orders", "orders", catalog_url=s.catalog.url, data_dir=str(root / "orders"))
    s.gateway = start("gateway", "gateway", identity_url=s.identity.url, rate_limit=False, cors_origins=[ORIGIN],
                      upstreams={"carts": s.carts.url, "catalog": s.catalog.url, "orders": s.orders.url})
    for i in range(12):
        assert s.catalog.post("/products", json={"name": f"product {i} with a long descriptive name",
                                                 "price_cents": 100 + i}).status_code == 201
    s.token = user_token(s.identity, "ada")
    s.auth = {"Authorization": f"Bearer {s.token}"}
    g = s.gateway.url
    assert requests.put(f"{g}/api/carts/ada/items/1", json={"quantity": 2}, headers=s.auth).status_code == 200
    assert requests.put(f"{g}/api/carts/ada/items/3", json={"quantity": 1}, headers=s.auth).status_code == 200
    placed = requests.post(f"{g}/api/orders", json={"product_id": 2, "quantity": 1}, headers=s.auth)
    assert placed.status_code in (201, 202), placed.text
    s.order = placed.json()["id"]
    return s


def test_one_answer_with_what_the_screen_shows(shop):
    answer = requests.get(f"{shop.gateway.url}/api/mobile/home", params={"order": shop.order}, headers=shop.auth)
    assert answer.status_code == 200, answer.text
    screen = answer.json()
    assert screen["user"] == "ada"
    assert len(screen["products"]) == 6
    assert all(set(p) == {"id", "name", "price_cents"} for p in screen["products"])
    assert screen["cart_count"] == 3
    assert screen["latest_order"] == {"id": shop.order, "status": "placed"}
    assert screen["partial"] is False and screen["missing"] == []


def test_no_order_given_or_unknown_order_is_null(shop):
    for params in ({}, {"order": 10**9}):
        answer = requests.get(f"{shop.gateway.url}/api/mobile/home", params=params, headers=shop.auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["latest_order"] is None


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "21"}, "limit"), ({"limit": "six"}, "limit"), ({"order": "-1"}, "order"),
    ({"order": "x"}, "order"), ({"order": str(2**63)}, "order"), ({"limit": "1e3"}, "limit"),
])
def test_bad_input_is_a_400_naming_it(shop, params, field):
    answer = requests.get(f"{shop.gateway.url}/api/mobile/home", params=params, headers=shop.auth)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}])
def test_a_token_is_required(shop, headers):
    answer = requests.get(f"{shop.gateway.url}/api/mobile/home", headers=headers)
    assert answer.status_code == 401
    assert "error" in answer.json()


def test_the_mobile_screen_is_smaller_than_the_web_screen_through_the_proxy(shop, launch):
    netem = launch("netem", upstream=shop.gateway.url, delay_down_ms=20, delay_up_ms=20)
    figures = profiles.compare(netem, shop.token, "ada", order=shop.order, preflight=True, origin=ORIGIN)
    web, mobile = figures["web"], figures["mobile"]
    assert web["round_trips"] == 5 and mobile["round_trips"] == 1  # 3 GETs + 2 preflights vs one GET
    assert mobile["bytes"] < web["bytes"] and mobile["bytes_down"] < web["bytes_down"]
    assert web["added_latency_ms"] == 5 * 40 and mobile["added_latency_ms"] == 40  # the proxy's own accounting
    assert "fewer bytes" in profiles.verdict(figures) and "mobile" in profiles.table(figures)


def test_carts_or_orders_away_is_a_partial_screen_catalog_away_is_a_503(shop, launch, refused_url):
    nowhere = refused_url()
    gateway = launch("gateway", f"bff-partial-{uuid.uuid4().hex[:8]}", identity_url=shop.identity.url,
                     rate_limit=False, traffic=False,
                     upstreams={"carts": nowhere, "catalog": shop.catalog.url, "orders": nowhere})
    answer = requests.get(f"{gateway.url}/api/mobile/home", params={"order": shop.order}, headers=shop.auth)
    assert answer.status_code == 200, answer.text
    screen = answer.json()
    assert len(screen["products"]) == 6 and screen["cart_count"] is None and screen["latest_order"] is None
    assert screen["partial"] is True and sorted(screen["missing"]) == ["cart_count", "latest_order"]
    no_catalog = launch("gateway", f"bff-nocat-{uuid.uuid4().hex[:8]}", identity_url=shop.identity.url,
                        rate_limit=False, traffic=False,
                        upstreams={"carts": shop.carts.url, "catalog": nowhere, "orders": shop.orders.url})
    answer = requests.get(f"{no_catalog.url}/api/mobile/home", headers=shop.auth)
    assert answer.status_code in (502, 503) and "catalog" in answer.json()["message"]
