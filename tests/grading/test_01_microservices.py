"""Graded tests of lab 01 (microservices): the learner's `reviews` service and retry policy, under failure.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder,
whose %%writefile cells leave reviews.py and resilience.py there, and points these tests at that folder
(see conftest.py). Like the tests of MIT 6.5840, they are the harness that breaks things: they start the
learner's code as real processes, SIGKILL and restart the service, make catalog fail on purpose and kill it,
and judge what the learner's code does then. The policy is also called directly, with a fake attempt and a
recording sleep: it is the learner's own function, so that tests it, not a stand-in.
"""
from __future__ import annotations

import sqlite3
import time

import pytest
import requests

from microcosm.services.base import UpstreamError

points = pytest.mark.points
TASKS = {"Task 1 · The `reviews` service": ("review", "bad_input"),
         "Task 2 · A retry policy for `orders`": ("policy", "order", "catalog", "retried")}  # the lab's tasks, as its headings say (conftest.py)
PRODUCT_ROUTE = "GET /products/<int:product_id>"


# --- Task 1: the reviews service -------------------------------------------------------------------
@pytest.fixture(scope="module")
def reviews_data(tmp_path_factory):
    return tmp_path_factory.mktemp("reviews-data")


@pytest.fixture(scope="module")
def reviews(learner_file, launch_for_module, reviews_data):
    return launch_for_module(str(learner_file("reviews.py")), "reviews", data_dir=str(reviews_data))


def post_review(reviews, product_id, rating, text):
    answer = reviews.post("/reviews", json={"product_id": product_id, "rating": rating, "text": text})
    assert answer.status_code == 201, f"POST /reviews answered {answer.status_code}, not 201: {answer.text[:200]}"
    return answer.json()


def product_reviews(reviews, product_id):
    answer = reviews.get(f"/products/{product_id}/reviews")
    assert answer.status_code == 200, f"GET /products/{product_id}/reviews answered {answer.status_code}: {answer.text[:200]}"
    return answer.json()


@points(2)
def test_post_review_answers_201_with_the_review(reviews):
    """POST /reviews stores a review and answers 201 with it (an empty text is a review too)."""
    review = post_review(reviews, 101, 4, "Bright enough to read by.")
    assert isinstance(review.get("id"), int), f"the review has no integer 'id': {review}"
    assert {k: review.get(k) for k in ("product_id", "rating", "text")} == \
        {"product_id": 101, "rating": 4, "text": "Bright enough to read by."}, review
    other = post_review(reviews, 101, 2, "")
    assert other["id"] != review["id"], "two reviews got the same id"


@points(2)
def test_product_reviews_count_and_average(reviews):
    """GET /products/<id>/reviews lists the product's reviews oldest first, with count and average."""
    texts = ["first", "second", "third"]
    for rating, text in zip((5, 4, 4), texts):
        post_review(reviews, 102, rating, text)
    post_review(reviews, 103, 1, "another product")
    summary = product_reviews(reviews, 102)
    assert summary.get("product_id") == 102
    assert summary.get("count") == 3, f"count should be 3: {summary}"
    assert [r.get("text") for r in summary.get("reviews", [])] == texts, "reviews of product 102, oldest first"
    assert summary.get("average") == pytest.approx(4.33, abs=0.006), f"average of 5, 4, 4 is 4.33: {summary}"
    empty = product_reviews(reviews, 104)
    assert (empty.get("count"), empty.get("reviews"), empty.get("average")) == (0, [], None), \
        f"a product with no reviews: count 0, reviews [], average null; got {empty}"


BAD_BODIES = [
    ({"product_id": 105, "rating": 0, "text": "zero"}, "rating"),
    ({"product_id": 105, "rating": 6, "text": "six"}, "rating"),
    ({"product_id": 105, "rating": "5", "text": "string"}, "rating"),
    ({"product_id": 105, "rating": 4.5, "text": "float"}, "rating"),
    ({"product_id": 105, "rating": True, "text": "bool"}, "rating"),
    ({"product_id": 0, "rating": 3, "text": "id zero"}, "product_id"),
    ({"product_id": "105", "rating": 3, "text": "id string"}, "product_id"),
    ({"product_id": 105, "rating": 3, "text": "x" * 501}, "text"),
    ({"product_id": 105, "rating": 3, "text": 42}, "text"),
    ({"product_id": 105, "rating": 3}, "text"),
    ({"rating": 3, "text": "no product"}, "product_id"),
    ({"product_id": 105, "rating": 3, "text": "ok", "stars": 5}, "stars"),
]


@points(2, must_pass=True)
def test_bad_input_gets_400_naming_the_field(reviews):
    """Every malformed review gets a 400 JSON error naming the field; none is stored."""
    for body, field in BAD_BODIES:
        answer = reviews.post("/reviews", json=body)
        assert answer.status_code == 400, f"{body} answered {answer.status_code}, not 400: {answer.text[:200]}"
        assert answer.json().get("field") == field, f"{body}: the error should name field {field!r}: {answer.text[:200]}"
    answer = reviews.post("/reviews", data="product_id=105&rating=3&text=form",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415, f"a form body answered {answer.status_code}, not 415"
    answer = reviews.post("/reviews", data="{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, f"malformed JSON answered {answer.status_code}, not 400"
    assert product_reviews(reviews, 105)["count"] == 0, "a rejected review was stored"


@points(1)
def test_reviews_keeps_its_data_in_its_own_sqlite_file(reviews, reviews_data):
    """The service's data is in reviews.db in its data_dir."""
    post_review(reviews, 106, 5, "on disk")
    path = reviews_data / "reviews.db"
    assert path.is_file(), f"no reviews.db in the service's data_dir ({sorted(p.name for p in reviews_data.iterdir())})"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables, "reviews.db has no table"


@points(3, must_pass=True)
def test_acknowledged_reviews_survive_sigkill_and_restart(reviews):
    """SIGKILL the service right after its 201s, start it again: every acknowledged review is there."""
    written = [post_review(reviews, 107, 1 + i % 5, f"review {i}") for i in range(6)]
    before = product_reviews(reviews, 107)
    reviews.kill()
    assert not reviews.alive
    reviews.restart()
    after = product_reviews(reviews, 107)
    assert after.get("count") == 6, f"after SIGKILL and restart, {after.get('count')} of 6 reviews are left"
    assert after == before, "the reviews changed across the restart"
    assert {r["id"] for r in written} == {r.get("id") for r in after["reviews"]}
    newer = post_review(reviews, 107, 5, "after the crash")
    assert newer["id"] not in {r["id"] for r in written}, "an id was given twice across the restart"


# --- Task 2: the retry policy, called directly ------------------------------------------------------
@pytest.fixture(scope="module")
def policy(learner_object):
    return learner_object("resilience.py", "retry_with_backoff")


class Upstream:
    """A fake attempt(): plays a script of outcomes (a status, or DOWN for an UpstreamError), then repeats
    the last one. Counts its calls and keeps what it returned and raised."""

    def __init__(self, *script):
        self.script, self.calls, self.answers, self.errors = script, 0, [], []

    def __call__(self):
        outcome = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if outcome is DOWN:
            self.errors.append(UpstreamError("catalog", f"catalog is unreachable (call {self.calls})"))
            raise self.errors[-1]
        answer = requests.Response()
        answer.status_code = outcome
        self.answers.append(answer)
        return answer


DOWN = object()


@points(1)
def test_policy_returns_a_success_at_once(policy):
    """A 200 on the first call is returned, with no wait."""
    upstream, delays = Upstream(200), []
    answer = policy(upstream, sleep=delays.append)
    assert answer is upstream.answers[0] and upstream.calls == 1 and delays == []


@points(1)
def test_policy_retries_an_unreachable_upstream(policy):
    """UpstreamError twice, then 200: three calls, two waits, the 200 returned."""
    upstream, delays = Upstream(DOWN, DOWN, 200), []
    answer = policy(upstream, sleep=delays.append)
    assert upstream.calls == 3, f"{upstream.calls} calls, expected 3"
    assert answer is upstream.answers[-1] and len(delays) == 2


@points(1)
def test_policy_retries_502_503_504(policy):
    """502, 503, 504, then 200: four calls (the default attempts), the 200 returned."""
    upstream, delays = Upstream(502, 503, 504, 200), []
    answer = policy(upstream, sleep=delays.append)
    assert upstream.calls == 4, f"{upstream.calls} calls, expected 4"
    assert answer.status_code == 200 and len(delays) == 3


@points(1, must_pass=True)
def test_policy_does_not_retry_other_answers(policy):
    """400, 404, 409, 422, 500 and 201 are returned after one call, no wait."""
    for status in (400, 404, 409, 422, 500, 201):
        upstream, delays = Upstream(status, 200), []
        answer = policy(upstream, sleep=delays.append)
        assert upstream.calls == 1, f"a {status} answer was retried ({upstream.calls} calls)"
        assert answer.status_code == status and delays == []


@points(1)
def test_policy_gives_up_raising_the_last_upstream_error(policy):
    """Always unreachable: `attempts` calls, then the last UpstreamError is raised; no wait after the last."""
    for attempts in (4, 2):
        upstream, delays = Upstream(DOWN), []
        with pytest.raises(UpstreamError) as raised:
            policy(upstream, attempts=attempts, sleep=delays.append)
        assert upstream.calls == attempts, f"attempts={attempts}: {upstream.calls} calls"
        assert raised.value is upstream.errors[-1], "the error raised is not the last one"
        assert len(delays) == attempts - 1, f"attempts={attempts}: waited {len(delays)} times, expected {attempts - 1}"


@points(1)
def test_policy_gives_up_returning_the_last_5xx(policy):
    """Always 503: after 4 calls (the default) the last 503 answer is returned."""
    upstream, delays = Upstream(503), []
    answer = policy(upstream, sleep=delays.append)
    assert upstream.calls == 4 and answer is upstream.answers[-1] and len(delays) == 3


@points(1)
def test_policy_lets_other_exceptions_through(policy):
    """An exception that is not an UpstreamError propagates after one call."""
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("a bug, not a network failure")

    with pytest.raises(KeyError):
        policy(broken, sleep=lambda s: None)
    assert len(calls) == 1


@points(2, must_pass=True)
def test_policy_backoff_is_exponential_capped_and_fully_jittered(policy):
    """Retry n waits uniform(0, min(max_delay, base_delay * 2**n)): within bounds, and spread over them."""
    caps = [min(0.4, 0.1 * 2 ** n) for n in range(5)]
    runs = []
    for _ in range(60):
        delays = []
        with pytest.raises(UpstreamError):
            policy(Upstream(DOWN), attempts=6, base_delay=0.1, max_delay=0.4, sleep=delays.append)
        assert len(delays) == 5, f"6 attempts should wait 5 times, waited {len(delays)}"
        for n, (delay, cap) in enumerate(zip(delays, caps)):
            assert 0 <= delay <= cap + 1e-9, f"retry {n} waited {delay:.3f} s, outside 0..{cap} s"
        runs.append(delays)
    for n, cap in enumerate(caps):
        waits = [run[n] for run in runs]
        assert min(waits) < cap / 2 < max(waits), (
            f"over 60 tries retry {n} waited {min(waits):.3f}..{max(waits):.3f} s: full jitter spreads the "
            f"waits over the whole range 0..{cap} s")


# --- Task 2, plugged in: orders with the learner's policy, catalog broken on purpose -----------------
@pytest.fixture(scope="module")
def shop(learner_file, launch_for_module):
    policy_file = learner_file("resilience.py")
    catalog = launch_for_module("catalog", "catalog")
    orders = launch_for_module("orders", "orders", catalog_url=catalog.url,
                               retry_policy=f"{policy_file}:retry_with_backoff")
    return catalog, orders


def catalog_calls(catalog) -> int:
    return catalog.metrics()["routes"].get(PRODUCT_ROUTE, {}).get("count", 0)


def order(orders, product_id=1, quantity=1, timeout=30):
    try:
        return orders.post("/orders", json={"product_id": product_id, "quantity": quantity}, timeout=timeout)
    except requests.Timeout:
        pytest.fail(f"orders did not answer within {timeout} s: it hangs")


def order_with_catalog_failing(shop, **chaos):
    """One order while catalog fails as `chaos` says (its faults cleared after): orders' answer, and how many
    times catalog was asked for the product."""
    catalog, orders = shop
    before = catalog_calls(catalog)
    catalog.chaos(**chaos)
    try:
        answer = order(orders)
    finally:
        catalog.chaos()
    return answer, catalog_calls(catalog) - before


@points(2)
def test_order_goes_through_two_catalog_failures(shop):
    """catalog answers 503 twice, then works: the order is placed, catalog was asked 3 times."""
    answer, calls = order_with_catalog_failing(shop, fail_next=2)
    assert answer.status_code == 201, f"orders answered {answer.status_code}: {answer.text[:200]}"
    assert calls == 3, f"catalog was asked {calls} times, expected 3"


@points(2)
def test_order_gives_up_on_a_failing_catalog(shop):
    """catalog always answers 503: orders gives up after 4 calls (the default) with a JSON error."""
    answer, calls = order_with_catalog_failing(shop, fail_rate=1.0)
    assert calls == 4, f"catalog was asked {calls} times, expected 4 (the default attempts)"
    assert answer.status_code in (502, 503), f"orders answered {answer.status_code}: {answer.text[:200]}"
    assert answer.json().get("upstream") == "catalog", answer.text[:200]


@points(1)
def test_unknown_product_is_not_retried(shop):
    """catalog's 404 is an answer: one call, and orders says 422."""
    catalog, orders = shop
    before = catalog_calls(catalog)
    answer = order(orders, product_id=999)
    assert answer.status_code == 422, f"orders answered {answer.status_code}: {answer.text[:200]}"
    assert catalog_calls(catalog) - before == 1, "a 404 from catalog was retried"


@points(2)
def test_dead_catalog_gets_a_prompt_503(shop):
    """catalog killed (SIGKILL): orders answers 503 with a JSON error naming catalog, without hanging."""
    catalog, orders = shop
    catalog.kill()
    try:
        started = time.monotonic()
        answer = order(orders)
        took = time.monotonic() - started
    finally:
        catalog.restart()
    assert answer.status_code == 503, f"orders answered {answer.status_code}: {answer.text[:200]}"
    body = answer.json()
    assert body.get("upstream") == "catalog" and body.get("message"), f"not a clear error: {body}"
    assert took < 15, f"orders took {took:.1f} s to say catalog is down"
