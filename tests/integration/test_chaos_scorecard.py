"""The scorecard's figures against independent counts: the services' own /metrics and orders' own database."""
from __future__ import annotations

import time
import uuid

import pytest

from microcosm.chaos import SLOs, Shoppers, experiment, scorecard, tally_orders
from microcosm.chaos.from_hops import answered
from microcosm.testing import wait_until

PRODUCT_ROUTE = "GET /products/<int:product_id>"
ORDERS_ROUTE = "POST /orders"


@pytest.fixture(scope="module")
def shop(catalog_and_orders):
    return catalog_and_orders


@pytest.fixture(autouse=True)
def no_chaos_left(shop):
    yield
    for service in shop:
        service.chaos()


def route(service, name: str) -> dict:
    return service.metrics()["routes"].get(name, {"count": 0, "statuses": {}})


def until(condition) -> None:
    assert wait_until(condition, every=0.02), "the load did not get there in time"


def test_failures_and_requests_equal_the_services_own_counts(shop):
    catalog, _ = shop
    before = route(catalog, PRODUCT_ROUTE)
    with Shoppers(catalog, users=2, checkout_every=0) as shoppers:
        until(lambda: len(shoppers.observations) >= 20)
        catalog.chaos(fail_next=7)  # the next 7 requests fail with a 503, whoever sends them
        until(lambda: len(shoppers.observations) >= 60)
    after = route(catalog, PRODUCT_ROUTE)
    card = scorecard(shoppers.seen(), SLOs(availability=0.99))
    assert card.requests == after["count"] - before["count"]
    assert card.failures == after["statuses"].get("503", 0) - before["statuses"].get("503", 0) == 7
    assert card.availability == (card.requests - 7) / card.requests
    assert card.budget == pytest.approx(0.01 * card.requests)
    assert card.budget_left == pytest.approx(0.01 * card.requests - 7)
    assert card.verdicts["availability"] is (7 <= 0.01 * card.requests)
    assert "error budget" in card._repr_html_() and "7 spent" in str(card)


def test_checkouts_retried_with_a_key_lose_and_duplicate_nothing(shop):
    catalog, orders = shop
    before = route(orders, ORDERS_ROUTE)
    with Shoppers(catalog, orders, users=2, checkout_every=1, retry_pause=0.05) as shoppers:
        until(lambda: len(shoppers.checkouts) >= 3)
        orders.chaos(fail_next=4)
        until(lambda: len(shoppers.checkouts) >= 12)
    after = route(orders, ORDERS_ROUTE)
    count = tally_orders(orders, shoppers.checkouts, shoppers.since_order_id)
    checkouts = [o for o in shoppers.seen() if o.kind == "checkout"]
    assert len(checkouts) == after["count"] - before["count"]
    assert sum(o.status == 503 for o in checkouts) == after["statuses"]["503"] - before["statuses"].get("503", 0) == 4
    assert count.placed == count.acknowledged == count.stored == len(shoppers.checkouts)
    assert (count.lost, count.duplicated, count.exact) == (0, 0, True)
    stored = orders.get("/orders", params={"limit": 1000}).json()["orders"]
    assert count.stored == sum(o["id"] > shoppers.since_order_id for o in stored)


@pytest.mark.parametrize("keyed", [True, False])  # keyed first: unkeyed tries still in orders' hands when its test
# ends would be placed during the next one's count
def test_a_timed_out_checkout_retried_without_a_key_is_a_duplicated_order(shop, keyed):
    catalog, orders = shop
    shoppers = Shoppers(catalog, orders, users=1, checkout_every=1, keyed=keyed, timeout=0.3, retry_pause=0.1)
    with experiment("orders slower than the shoppers' patience", shoppers,
                    predict={"duplicated orders": keyed}) as ex:
        with shoppers:
            ex.slow(orders, ms=600)  # each try times out at the shopper, and orders places it all the same
            until(lambda: any(c.attempts >= 2 for c in shoppers.checkouts))
            retried = next(c for c in shoppers.checkouts if c.attempts >= 2)
            time.sleep(0.6)  # the second try is placed too
            ex.undo()
            until(lambda: retried.order_id is not None)
    count = ex.card.orders
    stored = orders.get("/orders", params={"limit": 1000}).json()["orders"]
    stored = [o for o in stored if o["id"] > shoppers.since_order_id]
    assert count.exact and count.stored == len(stored) and count.acknowledged == count.placed
    if keyed:
        assert count.stored == count.placed and count.duplicated == 0
    else:
        assert count.duplicated == len(stored) - count.placed >= 1
    assert ex.card.verdicts["duplicated orders"] is keyed
    assert ex.verdict() == [f"duplicated orders: predicted {'met' if keyed else 'missed'}, "
                            f"was {'met' if keyed else 'missed'} ✔ as predicted"]


def test_p99_judged_from_what_the_shoppers_waited(shop):
    catalog, _ = shop
    with Shoppers(catalog, users=2, checkout_every=0) as shoppers:
        with experiment("catalog slowed", shoppers, slos=SLOs(p99_ms=150), predict={"p99": False}) as ex:
            ex.slow(catalog, ms=300)
            until(lambda: sum(o.ms >= 300 for o in shoppers.observations) >= 6)
    slow = sorted(o.ms for o in shoppers.seen(ex.started, ex.ended))
    assert ex.card.p99_ms == slow[-(len(slow) // 100) - 1] if len(slow) >= 100 else ex.card.p99_ms == slow[-1]
    assert ex.card.p99_ms >= 300 and ex.card.verdicts["p99"] is False and ex.predictions_right == 1


def test_the_services_hop_records_give_the_same_counts_and_never_a_longer_p99(launch, tmp_path, redis_server):
    catalog = launch("catalog", f"hops-catalog-{uuid.uuid4().hex[:6]}", data_dir=str(tmp_path / "catalog"))
    with Shoppers(catalog, users=2, checkout_every=0) as shoppers:
        until(lambda: len(shoppers.observations) >= 10)
        catalog.chaos(fail_next=5)
        until(lambda: len(shoppers.observations) >= 40)
    client_side = scorecard(shoppers.seen(), SLOs())
    client = redis_server.client()
    # hop times are the service's clock read at the start of its work: a little after the shopper sent it
    window = (shoppers.started, shoppers.stopped + 1)
    assert wait_until(lambda: len(answered(client, catalog.name, *window)) == client_side.requests)
    server_side = scorecard(answered(client, catalog.name, *window), SLOs())
    assert (server_side.requests, server_side.failures) == (client_side.requests, client_side.failures)
    assert server_side.failures == 5
    assert server_side.p99_ms <= client_side.p99_ms  # each request's own time is within what its client waited
