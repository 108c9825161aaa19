"""The Python client's parts on their own (no network): the breaker's states on a fake clock, the budget's
bound, the backoff's ceilings, which requests are idempotent, how parts are plugged in, the CLI's options."""
from __future__ import annotations

import random

import pytest

from microcosm.clients import (CircuitBreaker, Client, JitteredBackoff, NoBackoff, NoBreaker, NoRetry, RetryBudget,
                               Unlimited, is_idempotent)
from microcosm.clients.breaker import CLOSED, HALF_OPEN, OPEN
from microcosm.clients.cli import parser


class Clock:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


def test_breaker_states_on_a_fake_clock():
    clock = Clock()
    b = CircuitBreaker(failures=2, cool_down=3.0, clock=clock)
    b.failure()
    assert b.state == CLOSED and b.allow()
    b.success()  # a success in between: the count starts again
    b.failure()
    assert b.state == CLOSED
    b.failure()
    assert b.state == OPEN and not b.allow()
    b.success()  # a late answer to a request sent before it opened
    assert b.state == OPEN
    clock.now += 3.0
    assert b.allow() and b.state == HALF_OPEN  # the probe
    assert not b.allow() and not b.allow()  # the others wait for it
    clock.now += 3.0
    assert b.allow()  # a probe that never reported back is replaced after a cool-down
    b.failure()
    assert b.state == OPEN and not b.allow()
    clock.now += 3.0
    assert b.allow()
    b.success()
    assert b.state == CLOSED and b.allow() and b.allow()
    assert [(e["was"], e["state"]) for e in b.events] == [
        (CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    with pytest.raises(ValueError):
        CircuitBreaker(failures=0)


def test_the_budget_bounds_retries_by_a_share_of_requests():
    budget = RetryBudget(ratio=0.1, burst=5)
    retries = 0
    for _ in range(10_000):  # a storm: every request wants three retries
        budget.deposit()
        for _ in range(3):
            if budget.withdraw():
                retries += 1
    assert retries <= 5 + 0.1 * 10_000 and retries >= 0.1 * 10_000 - 1
    quiet = RetryBudget(ratio=0.5, burst=2)
    for _ in range(100):
        quiet.deposit()
    assert quiet.tokens == 2  # quiet times do not save up a storm of retries
    assert all(Unlimited().withdraw() for _ in range(100))


def test_backoff_ceilings_double_up_to_the_cap_and_draws_stay_under_them():
    policy = JitteredBackoff(base=0.1, cap=1.0, max_retries=8, rng=random.Random(1))
    assert [policy.ceiling(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    for n in range(1, 9):
        assert all(0 <= policy.delay(n) <= policy.ceiling(n) for _ in range(200))
    assert policy.delay(9) is None
    assert policy.ceiling(10_000) == 1.0  # no overflow far out
    assert NoBackoff(2).delay(1) == 0.0 and NoBackoff(2).delay(3) is None
    assert NoRetry().delay(1) is None and not NoRetry().retryable("GET", {})


@pytest.mark.parametrize("method, headers, expected", [
    ("GET", {}, True), ("put", {}, True), ("DELETE", {}, True), ("HEAD", {}, True),
    ("POST", {}, False), ("PATCH", {}, False),
    ("POST", {"Idempotency-Key": "k1"}, True), ("POST", {"idempotency-key": "k1"}, True),
    ("POST", {"Idempotency-Key": ""}, False),
])
def test_which_requests_may_be_sent_twice(method, headers, expected):
    assert is_idempotent(method, headers) is expected


class Half:
    state = "closed"

    def allow(self):
        return True


class Whole(Half):
    def success(self):
        pass

    def failure(self):
        pass


def test_parts_plug_in_as_objects_classes_or_none():
    assert isinstance(Client("http://x").breaker, CircuitBreaker)
    assert isinstance(Client("http://x").retry, JitteredBackoff) and isinstance(Client("http://x").budget, RetryBudget)
    off = Client("http://x", breaker=None, retry=None, budget=None)
    assert isinstance(off.breaker, NoBreaker) and isinstance(off.retry, NoRetry) and isinstance(off.budget, Unlimited)
    assert isinstance(Client("http://x", breaker=Whole).breaker, Whole)
    mine = Whole()
    assert Client("http://x", breaker=mine).breaker is mine
    with pytest.raises(TypeError, match="no success, failure"):
        Client("http://x", breaker=Half())
    assert Client("http://x").breaker is not Client("http://x").breaker  # each client its own
    with pytest.raises(ValueError, match="http://"):
        Client("127.0.0.1:8000")


def test_a_post_gets_one_key_for_all_its_attempts():
    sent = []

    class Recorder:
        def request(self, method, url, headers, timeout, **kwargs):
            sent.append(dict(headers))
            raise __import__("requests").ConnectionError("down")

    client = Client("http://127.0.0.1:9", retry=NoBackoff(2), breaker=None, sleep=lambda s: None)
    client._local.session = Recorder()
    with pytest.raises(Exception):
        client.post("/orders", json={})
    assert len(sent) == 3 and len({h["Idempotency-Key"] for h in sent}) == 1
    assert len({h["X-Request-ID"] for h in sent}) == 1
    with pytest.raises(Exception):
        client.post("/orders", json={})
    assert sent[3]["Idempotency-Key"] != sent[0]["Idempotency-Key"]  # a new request, a new key
    with pytest.raises(Exception):
        client.post("/orders", json={}, idempotency_key=False)
    assert "Idempotency-Key" not in sent[-1] and len(sent) == 7  # no key: sent once
    with pytest.raises(Exception):
        client.get("/products")
    assert "Idempotency-Key" not in sent[-1]


def test_cli_options_go_before_or_after_the_command():
    args = parser().parse_args(["--url", "http://a", "products", "--stats", "--retries", "0"])
    assert (args.url, args.stats, args.retries, args.timeout) == ("http://a", True, 0, 5.0)
    args = parser().parse_args(["--url", "http://a", "--stats", "order", "1", "--key", "k"])
    assert (args.url, args.stats, args.product_id, args.key) == ("http://a", True, 1, "k")
