"""The Python client's retries, against real services made to fail with /_chaos: only idempotent requests are
retried (a POST only with its Idempotency-Key), the waits are capped exponential backoff with full jitter, and
the retry budget keeps a failing service's load near normal. Requests are counted where they land: the
service's own /metrics. The client's `sleep` is replaced by a recorder, so no test waits for a backoff or
asserts a duration."""
from __future__ import annotations

import random
import statistics
import threading
import time
import uuid

import pytest
import requests

from microcosm.clients import Client, JitteredBackoff, NoBackoff, NoRetry, RetryBudget, Unreachable


@pytest.fixture(scope="module")
def shop(catalog_and_orders):
    return catalog_and_orders


@pytest.fixture(autouse=True)
def no_chaos(shop):
    yield
    for service in shop:
        service.chaos()


def seen(service, route: str) -> int:
    """How many `route` requests the service has answered (its own count, failures included)."""
    return service.metrics()["routes"].get(route, {}).get("count", 0)


def order_count(orders) -> int:
    return len(requests.get(f"{orders.url}/orders?limit=1000", timeout=10).json()["orders"])


class Waits(list):
    """A client's `sleep` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_a_get_is_retried_until_it_succeeds(shop):
    catalog, _ = shop
    waits = Waits()
    client = Client(catalog.url, retry=JitteredBackoff(base=0.05, cap=0.4, max_retries=3), breaker=None, sleep=waits)
    before = seen(catalog, "GET /products")
    catalog.chaos(fail_next=2)
    assert client.get("/products").status_code == 200
    assert seen(catalog, "GET /products") - before == 3  # two failures, then the answer
    assert client.stats()["attempts"] == 3 and client.stats()["retries"] == 2 and len(waits) == 2
    assert [a["outcome"] for a in client.attempts] == ["503", "503", "200"]
    assert [a["wait"] for a in client.attempts[:2]] == pytest.approx(waits)


def test_a_post_without_a_key_is_never_retried(shop):
    _, orders = shop
    client = Client(orders.url, retry=NoBackoff(max_retries=5), breaker=None, sleep=Waits())
    before, placed = seen(orders, "POST /orders"), order_count(orders)
    orders.chaos(fail_next=3)
    answer = client.post("/orders", json={"product_id": 1, "quantity": 1}, idempotency_key=False)
    assert answer.status_code == 503  # the failure is the caller's to judge
    assert seen(orders, "POST /orders") - before == 1  # sent once, never again
    assert client.stats()["retries"] == 0 and "not idempotent" in client.attempts[-1]["then"]
    orders.chaos()
    assert order_count(orders) == placed


def test_a_post_with_a_key_is_retried_and_places_one_order(shop):
    _, orders = shop
    client = Client(orders.url, retry=NoBackoff(max_retries=5), breaker=None, sleep=Waits())
    before, placed = seen(orders, "POST /orders"), order_count(orders)
    orders.chaos(fail_next=2)
    order = client.place_order(1, quantity=1)  # a new Idempotency-Key, the same on each attempt
    assert seen(orders, "POST /orders") - before == 3
    assert order_count(orders) == placed + 1 and order["quantity"] == 1


def test_a_lost_answer_retried_with_its_key_gives_one_order(shop):
    """The order is placed but its answer comes too late for the client (a read timeout). The retry, with the
    same key, gets the stored answer: one order. Without a key the client cannot retry at all."""
    _, orders = shop
    placed, before = order_count(orders), seen(orders, "POST /orders")

    def all_answered(count: int) -> None:  # until orders has finished every attempt (the late ones too)
        deadline = time.monotonic() + 10
        while seen(orders, "POST /orders") - before < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def heal(seconds):  # while the client waits to retry, the network recovers
        orders.chaos()

    client = Client(orders.url, timeout=(1.0, 0.2), retry=JitteredBackoff(base=0.01, cap=0.01, max_retries=3),
                    breaker=None, sleep=heal)
    orders.chaos(delay_ms=600)  # the request waits 0.6 s before it is handled: past the client's 0.2 s
    order = client.place_order(1, quantity=3, key=f"lost-{uuid.uuid4()}")
    assert client.attempts[0]["outcome"] == "timeout" and client.stats()["retries"] >= 1
    all_answered(client.stats()["attempts"])
    assert order_count(orders) == placed + 1 and order["quantity"] == 3

    no_key = Client(orders.url, timeout=(1.0, 0.2), retry=JitteredBackoff(base=0.01, cap=0.01), breaker=None,
                    sleep=heal)
    orders.chaos(delay_ms=600)
    with pytest.raises(Unreachable, match="not idempotent"):
        no_key.place_order(1, quantity=3, key=False)
    assert no_key.stats()["attempts"] == 1
    all_answered(client.stats()["attempts"] + 1)
    assert order_count(orders) == placed + 2  # placed all the same: the client was told it failed


def test_waits_are_capped_exponential_backoff_with_full_jitter(shop):
    catalog, _ = shop
    waits = Waits()
    policy = JitteredBackoff(base=0.05, cap=0.4, max_retries=6, rng=random.Random(9))
    client = Client(catalog.url, retry=policy, budget=None, breaker=None, sleep=waits)
    catalog.chaos(fail_rate=1.0)
    for _ in range(25):
        assert client.get("/products/1").status_code == 503  # gave up after 6 retries: the last answer
    assert len(waits) == 25 * 6 and client.stats()["gave_up"] == 25
    by_retry = {n: [] for n in range(1, 7)}
    for entry in client.attempts:
        if "wait" in entry:
            by_retry[entry["attempt"]].append(entry["wait"])
    ceilings = {n: policy.ceiling(n) for n in by_retry}
    assert [ceilings[n] for n in range(1, 7)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.4, 0.4])  # doubling, capped
    for n, drawn in by_retry.items():
        assert len(drawn) == 25 and all(0 <= w <= ceilings[n] for w in drawn)
        assert len(set(drawn)) == 25  # jitter: no two clients wait the same
        assert min(drawn) < ceilings[n] / 2 < max(drawn)  # full jitter: from near 0 up to the ceiling
    assert statistics.mean(by_retry[4]) > statistics.mean(by_retry[1])  # later retries wait longer
    # the seconds slept are the waits logged, in order
    assert waits == pytest.approx([e["wait"] for e in client.attempts if "wait" in e])


def test_the_budget_stops_a_retry_storm(shop):
    catalog, _ = shop
    catalog.chaos(fail_rate=1.0)
    before = seen(catalog, "GET /products")
    storm = Client(catalog.url, retry=NoBackoff(max_retries=3), budget=None, breaker=None)
    for _ in range(60):
        storm.get("/products")
    naive_load = seen(catalog, "GET /products") - before
    assert naive_load == 60 * 4  # every failure retried three times: four times the load

    before = seen(catalog, "GET /products")
    budget = RetryBudget(ratio=0.1, burst=5)
    careful = Client(catalog.url, retry=NoBackoff(max_retries=3), budget=budget, breaker=None)
    for _ in range(200):
        careful.get("/products")
    stats = careful.stats()
    load = seen(catalog, "GET /products") - before
    assert load == stats["attempts"] == 200 + stats["retries"]  # what the client counted is what arrived
    assert stats["retries"] <= 5 + 0.1 * 200  # the bucket: its burst, then a tenth of requests
    assert stats["retry_ratio"] <= 0.125
    assert stats["gave_up"] == 200
    # a request not stopped by the budget had all its three retries: so most were stopped by it
    assert stats["budget_refusals"] >= 200 - stats["retries"] / 3
    assert any("budget" in e.get("then", "") for e in careful.attempts)


def test_the_budget_lets_a_few_failures_be_retried(shop):
    catalog, _ = shop
    client = Client(catalog.url, retry=NoBackoff(max_retries=3), budget=RetryBudget(ratio=0.1, burst=5),
                    breaker=None)
    for _ in range(20):
        client.get("/products")
    catalog.chaos(fail_next=3)  # a blip
    assert all(client.get("/products").status_code == 200 for _ in range(3))
    assert client.stats()["retries"] == 3 and client.stats()["budget_refusals"] == 0


def test_a_dead_service_is_unreachable_after_the_retries(shop, launch, tmp_path):
    catalog = launch("catalog", "cr-dead-catalog", data_dir=str(tmp_path / "c"), traffic=False)
    url = catalog.url
    catalog.kill()
    waits = Waits()
    client = Client(url, retry=JitteredBackoff(max_retries=2), breaker=None, sleep=waits)
    with pytest.raises(Unreachable) as caught:
        client.get("/products")
    assert caught.value.attempts == 3 and len(waits) == 2
    assert {a["outcome"] for a in client.attempts} == {"unreachable"}
    once = Client(url, retry=NoRetry(), breaker=None)
    with pytest.raises(Unreachable, match="the policy retries no GET"):
        once.get("/products")
    assert once.stats()["attempts"] == 1


def test_a_client_is_safe_to_share_between_threads(shop):
    catalog, _ = shop
    client = Client(catalog.url, breaker=None)
    errors = []

    def work():
        try:
            for _ in range(10):
                assert client.get("/products").status_code == 200
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and client.stats()["requests"] == 40 == client.stats()["attempts"]
