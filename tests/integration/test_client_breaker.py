"""The client's circuit breaker against a real catalog made to fail (/_chaos) and killed: it opens after N
failures in a row, fails fast while open (nothing reaches the service: its own /metrics say so), half-opens
after its cool-down with one probe, closes when the probe succeeds and opens again when it fails. Every
transition is logged with its time. The breaker reads a fake clock the test moves, so no test waits out a
cool-down or asserts a duration. A breaker, a retry policy or a budget of one's own plugs in (lab 09)."""
from __future__ import annotations

import threading
import uuid

import pytest

from microcosm.clients import (CircuitBreaker, CircuitOpen, Client, NoRetry, Unreachable, JitteredBackoff,
                               RetryBudget)
from microcosm.clients.breaker import CLOSED, HALF_OPEN, OPEN


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def catalog(launch_for_module, tmp_path_factory):
    root = tmp_path_factory.mktemp("client-breaker")
    return launch_for_module("catalog", f"cb-catalog-{uuid.uuid4().hex[:6]}", data_dir=str(root), traffic=False)


@pytest.fixture(autouse=True)
def no_chaos(catalog):
    yield
    catalog.chaos()


def seen(service) -> int:
    return service.metrics()["routes"].get("GET /products", {}).get("count", 0)


def test_the_breaker_opens_fails_fast_half_opens_and_closes(catalog):
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cool_down=5.0, clock=clock)
    client = Client(catalog.url, retry=NoRetry(), breaker=breaker)
    assert client.get("/products").status_code == 200 and breaker.state == CLOSED
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog)
    statuses = [client.get("/products").status_code for _ in range(3)]
    assert statuses == [503, 503, 503] and breaker.state == OPEN  # three failures in a row
    assert seen(catalog) - start == 3

    for _ in range(10):  # open: each request fails at once, and none reaches catalog
        with pytest.raises(CircuitOpen, match="open"):
            client.get("/products")
    assert seen(catalog) - start == 3
    assert client.stats()["fast_failures"] == 10

    clock.now += 4.9  # not yet
    with pytest.raises(CircuitOpen):
        client.get("/products")
    clock.now += 0.2  # the cool-down is over: one probe; catalog still fails, so it opens again
    assert client.get("/products").status_code == 503 and breaker.state == OPEN
    assert seen(catalog) - start == 4
    with pytest.raises(CircuitOpen):
        client.get("/products")

    clock.now += 5.1
    catalog.chaos()  # catalog recovers: the next probe succeeds and the breaker closes
    assert client.get("/products").status_code == 200 and breaker.state == CLOSED
    assert all(client.get("/products").status_code == 200 for _ in range(5))

    path = [(e["was"], e["state"]) for e in client.breaker_events]
    assert path == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    times = [e["t"] for e in client.breaker_events]
    assert times == sorted(times)
    assert [(e["was"], e["state"]) for e in breaker.events] == path  # the breaker's own log agrees
    assert "3 failures in a row" in breaker.events[0]["why"] and "probe failed" in breaker.events[2]["why"]
    assert client.stats()["fast_failures"] == 12


def test_successes_between_failures_keep_it_closed_and_4xx_is_no_failure(catalog):
    breaker = CircuitBreaker(failures=3, clock=Clock())
    client = Client(catalog.url, retry=NoRetry(), breaker=breaker)
    for _ in range(5):
        catalog.chaos(fail_next=2)
        assert [client.get("/products").status_code for _ in range(3)] == [503, 503, 200]
    assert all(client.get("/products/999").status_code == 404 for _ in range(5))  # the caller's mistake
    assert breaker.state == CLOSED and client.breaker_events == []


def test_half_open_lets_one_probe_through(catalog):
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cool_down=1.0, clock=clock)
    client = Client(catalog.url, retry=NoRetry(), breaker=breaker)
    catalog.chaos(fail_next=1)
    client.get("/products")
    assert breaker.state == OPEN
    clock.now += 1.5
    catalog.chaos(delay_ms=400)  # the probe takes a while: the others must not pile in behind it
    start, results = seen(catalog), []
    go = threading.Barrier(6)

    def call():
        go.wait()
        try:
            results.append(client.get("/products").status_code)
        except CircuitOpen as exc:
            results.append(exc.state)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [200] + [HALF_OPEN] * 5
    assert seen(catalog) - start == 1 and breaker.state == CLOSED


def test_a_dead_service_opens_it_and_its_return_closes_it(launch, tmp_path):
    catalog = launch("catalog", "cb-dying-catalog", data_dir=str(tmp_path), traffic=False)
    clock = Clock()
    client = Client(catalog.url, retry=JitteredBackoff(max_retries=1), breaker=CircuitBreaker(failures=4, clock=clock),
                    sleep=lambda s: None)
    assert client.products()
    catalog.kill()
    for _ in range(2):  # two requests, two attempts each: four failures
        with pytest.raises(Unreachable):
            client.get("/products")
    with pytest.raises(CircuitOpen):
        client.products()
    catalog.restart()
    clock.now += 10
    assert client.products() and client.stats()["breaker"] == CLOSED
    assert [e["state"] for e in client.breaker_events] == [OPEN, HALF_OPEN, CLOSED]


def test_a_breaker_that_opens_mid_retries_stops_them(catalog):
    breaker = CircuitBreaker(failures=2, clock=Clock())
    client = Client(catalog.url, retry=JitteredBackoff(max_retries=5), breaker=breaker, sleep=lambda s: None)
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog)
    with pytest.raises(CircuitOpen):
        client.get("/products")
    assert seen(catalog) - start == 2 and client.stats()["retries"] == 1


# --- plugging in one's own parts (lab 09 does) -----------------------------------------------------------
OWN_PARTS = '''
class CountingBreaker:
    """Opens on the first failure and never half-opens (a wrong answer the lab's grader must catch)."""
    def __init__(self):
        self.state = "closed"
        self.calls = 0
    def allow(self):
        self.calls += 1
        return self.state == "closed"
    def success(self):
        pass
    def failure(self):
        self.state = "open"

class RetryEverything:
    """Retries any request, POSTs without a key too (another wrong answer)."""
    def retryable(self, method, headers):
        return True
    def delay(self, retry):
        return 0.0 if retry <= 2 else None

class Shapeless:
    def allow(self):
        return True
'''


def test_own_parts_load_from_a_file(catalog, tmp_path):
    parts = tmp_path / "mine.py"
    parts.write_text(OWN_PARTS)
    client = Client(catalog.url, breaker=f"{parts}:CountingBreaker", retry=f"{parts}:RetryEverything")
    assert type(client.breaker).__name__ == "CountingBreaker" and type(client.retry).__name__ == "RetryEverything"
    catalog.chaos(fail_next=1)
    with pytest.raises(CircuitOpen):  # opened by the first failure: its retry is refused by it
        client.get("/products")
    assert client.breaker.calls == 2
    assert client.breaker_events[0]["was"] == "closed" and client.breaker_events[0]["state"] == "open"

    start = catalog.metrics()["routes"].get("POST /products", {}).get("count", 0)
    reckless = Client(catalog.url, retry=f"{parts}:RetryEverything", breaker=None, budget=RetryBudget(burst=5),
                      sleep=lambda s: None)
    catalog.chaos(fail_rate=1.0)
    reckless.post("/products", json={"name": "x", "price_cents": 1}, idempotency_key=False)
    assert catalog.metrics()["routes"]["POST /products"]["count"] - start == 3  # the client obeyed its policy

    with pytest.raises(TypeError, match="no success, failure, state"):
        Client(catalog.url, breaker=f"{parts}:Shapeless")
    with pytest.raises(ValueError, match="file.py:name"):
        Client(catalog.url, breaker="os:system")
    with pytest.raises(TypeError, match="retryable, delay"):
        Client(catalog.url, retry=object())
