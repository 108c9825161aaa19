"""An X-Request-ID made at the edge travels with every call a request causes, and metrics count it."""
import time

import pytest


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_the_callers_request_id_reaches_catalog_through_orders(orders, catalog):
    answer = orders.post("/orders", json={"product_id": 2, "quantity": 1}, headers={"X-Request-ID": "trace-me-42"})
    assert answer.status_code == 201 and answer.headers["X-Request-ID"] == "trace-me-42"
    assert wait_for(lambda: "[request trace-me-42, from orders]" in catalog.logs(50))
    assert "[request trace-me-42, from client]" in orders.logs(50)


def test_a_request_without_an_id_gets_one_made_at_the_edge(catalog):
    first, second = catalog.get("/products"), catalog.get("/products")
    assert len(first.headers["X-Request-ID"]) == 32
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("given", ["x" * 200, "two words", "new\tline", "ünïcode", "<script>", ""])
def test_a_request_id_that_is_not_sensible_is_replaced_not_copied_on(launch, given):
    catalog = launch("catalog", "ids-catalog")
    lb = launch("balancer", "ids-lb", upstream="catalog", backends=[catalog.url])
    for target in (catalog, lb):
        answer = target.get("/products", headers={"X-Request-ID": given.encode("utf-8")})
        assert answer.status_code == 200
        made = answer.headers["X-Request-ID"]
        assert made != given and len(made) == 32 and made.isalnum()


def test_metrics_count_requests_and_errors_by_route(orders, catalog):
    for _ in range(3):
        orders.post("/orders", json={"product_id": 1, "quantity": 1})
    orders.get("/orders/999999")
    routes = orders.metrics()["routes"]
    assert routes["POST /orders"]["count"] == 3 and routes["POST /orders"]["statuses"] == {"201": 3}
    assert routes["GET /orders/<int:order_id>"]["statuses"] == {"404": 1}
    assert routes["POST /orders"]["latency_ms"]["p50"] > 0
    assert catalog.metrics()["routes"]["GET /products/<int:product_id>"]["count"] == 3


def test_chaos_makes_a_service_fail_on_purpose_and_clears(catalog):
    catalog.chaos(fail_next=2, fail_status=500)
    statuses = [catalog.get("/products/1").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert catalog.get("/health").status_code == 200  # health and metrics are never faulted
    assert catalog.chaos() == {"delay_ms": 0, "fail_next": 0, "fail_rate": 0.0, "fail_status": 503}
