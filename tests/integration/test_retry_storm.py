"""The retry storm of chapter 09 and bench/client_retries.py (microcosm/clients/storm.py) against a real catalog
made to fail by its /_chaos route: load amplification is what catalog's own /metrics counted, so with every
request failing each style's cost is known exactly: once per request without retries, four times with three
retries (backoff or not: jitter spaces retries out, it does not bound them), and at most the budget's share more
with a retry budget. A healthy catalog pays nothing extra in any style."""
from __future__ import annotations

import pytest

from microcosm.clients import storm

CLIENTS, REQUESTS = 3, 10


@pytest.fixture(scope="module")
def catalog(catalog_and_orders):
    catalog, _ = catalog_and_orders
    yield catalog
    catalog.chaos()


def test_a_catalog_failing_everything_pays_four_times_for_retries_and_a_budget_bounds_it(catalog):
    catalog.chaos(fail_rate=1.0)  # cleared by the next test's chaos() and at the end of the module
    made = CLIENTS * REQUESTS
    figures = {style: storm.storm(catalog, style, CLIENTS, REQUESTS) for style in ("none", "naive", "jitter", "budget")}
    assert all(f["made"] == made and f["success"] == 0 for f in figures.values())
    assert figures["none"]["served"] == made and figures["none"]["amplification"] == 1.0
    for style in ("naive", "jitter"):  # 3 retries each, with or without backoff
        assert figures[style]["served"] == 4 * made and figures[style]["retries"] == 3 * made, style
        assert figures[style]["amplification"] == 4.0
    budget = figures["budget"]  # RetryBudget(ratio=0.1, burst=3) per client: retries <= 3 + 0.1 x requests
    assert 0 < budget["retries"] <= CLIENTS * (3 + 0.1 * REQUESTS)
    assert budget["served"] == made + budget["retries"] and budget["budget_refusals"] > 0
    assert budget["amplification"] <= 1 + (3 + 0.1 * REQUESTS) / REQUESTS


def test_a_healthy_catalog_pays_nothing_extra_in_any_style(catalog):
    catalog.chaos()
    for style in storm.STYLES:
        figures = storm.storm(catalog, style, CLIENTS, REQUESTS)
        assert (figures["served"], figures["success"], figures["retries"]) == (CLIENTS * REQUESTS, 1.0, 0), style
        assert figures["p50_ms"] <= figures["p99_ms"]


def test_served_reads_the_route_from_the_service_own_metrics(catalog):
    before = storm.served(catalog)
    for product in (1, 2, 3):
        catalog.get(f"/products/{product}")
    catalog.get("/products")  # another route: not counted
    assert storm.served(catalog) - before == 3
