"""Graded tests of lab 05 (API gateway): the learner's sliding window rate limiter in Redis, under concurrency.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cell leaves sliding_window.py there, and points these tests at that folder (see conftest.py).

- `SlidingWindow(capacity, refill_per_s).allow(redis, key, now)` called directly against a real Redis, with
  the tests' own clock (`now`): the limit, the window sliding to the millisecond, refused requests not
  recorded, separate keys, a stampede of threads (atomicity), keys that expire and stay small.
- The same class loaded by a live gateway (`rate_limiter="sliding_window.py:SlidingWindow"`) in front of a
  real catalog: exactly N of M concurrent requests pass, Retry-After is honest (wait it and you are served),
  users have their own budgets (real tokens from the identity provider), and Redis SIGKILLed and restarted
  under it (the scripts Redis had loaded are gone; the limiter must work again).
No assertion is on wall-clock time: waits are deadlines for something that must happen.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from microcosm.runtime.infra import RedisServer
from microcosm.testing import wait_until

points = pytest.mark.points
TASKS = {"Task 1 · A sliding window limiter": ("",)}  # the lab's tasks, as its headings say (conftest.py)
WAIT = 10.0  # how long anything that should happen may take (generous: the machine may be busy)
T0 = 1_000_000.0  # the unit tests' clock starts here
CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}


@pytest.fixture(scope="module")
def limiter_spec(learner_file):
    return f"{learner_file('sliding_window.py')}:SlidingWindow"


@pytest.fixture(scope="module")
def SlidingWindow(learner_object):
    return learner_object("sliding_window.py", "SlidingWindow")


@pytest.fixture(scope="module")
def redis_server():
    """A redis-server of these tests' own (even where microcosm.redis() attaches to a shared one): they kill it."""
    server = RedisServer("grade05-redis").start()
    yield server
    server.stop()
    server.forget()


@pytest.fixture
def r(redis_server):
    return redis_server.client()


@pytest.fixture
def prefix(r):
    """A fresh key prefix for one test; its keys are deleted afterwards."""
    made = f"grade05:{uuid.uuid4().hex}:"
    yield made
    try:
        for key in r.scan_iter(made + "*"):
            r.delete(key)
    except Exception:
        pass


def call(limiter, r, key, now):
    """allow(), checked for the shape the gateway needs."""
    answer = limiter.allow(r, key, now)
    assert isinstance(answer, tuple) and len(answer) == 3, \
        f"allow must return (allowed, remaining, retry_after), got {answer!r}"
    allowed, remaining, retry_after = answer
    return bool(allowed), int(remaining), float(retry_after)


# --- the limiter on its own, against the real Redis -------------------------------------------------------------
@points(1)
def test_allows_exactly_the_limit_then_refuses(SlidingWindow, r, prefix):
    """5 per 10 s at one moment: 5 allowed (remaining 4..0), then refused with 0 < retry_after <= 10."""
    limiter = SlidingWindow(capacity=5, refill_per_s=0.5)
    assert limiter.limit == 5
    answers = [call(limiter, r, prefix + "ada", T0) for _ in range(6)]
    assert [a[0] for a in answers] == [True] * 5 + [False], answers
    assert [a[1] for a in answers] == [4, 3, 2, 1, 0, 0], answers
    assert 0 < answers[5][2] <= 10, f"retry_after {answers[5][2]} should be in (0, window]"


@points(2)
def test_the_window_slides_with_now(SlidingWindow, r, prefix):
    """One request a second: refused until the oldest leaves the window, to the millisecond; refusals not recorded."""
    limiter = SlidingWindow(capacity=5, refill_per_s=0.5)  # 5 per 10 s
    key = prefix + "ada"
    got = {t: call(limiter, r, key, T0 + t) for t in (0, 1, 2, 3, 4, 5, 9.99, 10, 10.5, 11, 10_000)}
    allowed = {t: a[0] for t, a in got.items()}
    assert allowed == {0: True, 1: True, 2: True, 3: True, 4: True, 5: False, 9.99: False, 10: True, 10.5: False,
                       11: True, 10_000: True}, (
        "at 10 s the request of 0 s has left the window (t <= now - window); a refused request must not count")
    assert abs(got[5][2] - 5) < 1e-3 and abs(got[9.99][2] - 0.01) < 1e-3, \
        f"retry_after should be oldest + window - now: got {got[5][2]} at 5 s, {got[9.99][2]} at 9.99 s"
    assert got[10_000][1] == 4, "long after, the whole budget is back"


@points(1)
def test_each_key_has_its_own_budget(SlidingWindow, r, prefix):
    """Exhausting one caller's key leaves another's untouched."""
    limiter = SlidingWindow(capacity=3, refill_per_s=0.1)
    assert [call(limiter, r, prefix + "ada", T0)[0] for _ in range(4)] == [True, True, True, False]
    assert [call(limiter, r, prefix + "bob", T0)[0] for _ in range(4)] == [True, True, True, False]
    assert call(limiter, r, prefix + "ada", T0 + 1)[0] is False


@points(3, must_pass=True)
def test_exactly_the_limit_passes_a_stampede(SlidingWindow, r, prefix):
    """40 threads released at once on one key, five times over: exactly 10 allowed each time (atomicity)."""
    limiter = SlidingWindow(capacity=10, refill_per_s=1)
    results = []
    for round_ in range(5):
        key, start = f"{prefix}stampede:{round_}", threading.Barrier(40)

        def one(_):
            start.wait()
            return call(limiter, r, key, T0)[0]

        with ThreadPoolExecutor(40) as pool:
            results.append(sum(pool.map(one, range(40))))
    assert results == [10] * 5, f"allowed per stampede of 40 with a limit of 10: {results}"


@points(2, must_pass=True)
def test_keys_expire_and_stay_small(SlidingWindow, r, prefix):
    """Every key written has a TTL within the window; a key's size does not grow with traffic; keys do vanish."""
    limiter = SlidingWindow(capacity=5, refill_per_s=0.5)  # 10 s window
    call(limiter, r, prefix + "small", T0)
    for i in range(5):
        call(limiter, r, prefix + "full", T0 + i * 0.01)
    full_size = sum(r.memory_usage(k) or 0 for k in r.scan_iter(prefix + "full*"))
    for i in range(400):  # 40 s of a caller knocking 10 times a second
        call(limiter, r, prefix + "busy", T0 + i * 0.1)
    keys = list(r.scan_iter(prefix + "*"))
    assert keys, "the limiter wrote nothing to Redis under the key it was given (or its prefix)"
    for key in keys:
        ttl = r.pttl(key)
        assert 0 < ttl <= 11_000, f"{key} has TTL {ttl} ms: every key should expire within the window (10 s)"
    busy_size = sum(r.memory_usage(k) or 0 for k in r.scan_iter(prefix + "busy*"))
    assert busy_size <= 2 * full_size + 512, \
        f"after 400 requests the key takes {busy_size} bytes, vs {full_size} for 5: old entries are not removed"
    short = SlidingWindow(capacity=1, refill_per_s=4)  # a 0.25 s window, on the real clock
    call(short, r, prefix + "short", time.time())
    assert wait_until(lambda: not list(r.scan_iter(prefix + "short*")), timeout=WAIT), "keys of a 0.25 s window never expired"


# --- in a live gateway ----------------------------------------------------------------------------------------
@pytest.fixture
def start_gateway(launch, limiter_spec, redis_server, prefix):
    def _start(capacity, refill_per_s, **config):
        catalog = launch("catalog", "catalog", traffic=False)
        gateway = launch("gateway", "gateway", upstreams={"catalog": catalog.url, **config.pop("upstreams", {})},
                         redis_url=redis_server.url, rate_limiter=limiter_spec, rate_limit_prefix=prefix,
                         rate_limit={"capacity": capacity, "refill_per_s": refill_per_s}, traffic=False, **config)
        assert gateway.get("/_gateway").json()["rate_limiter"] == "SlidingWindow"
        return gateway

    return _start


def burst(gateway, n, threads=10, headers=None):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: gateway.get("/api/products", headers=headers or {}, timeout=WAIT), range(n)))


@points(3)
def test_a_live_gateway_lets_exactly_the_limit_through(start_gateway, r, prefix):
    """30 concurrent requests through the gateway, limit 8 per 80 s: 8 answered 200, 22 a proper 429."""
    gateway = start_gateway(capacity=8, refill_per_s=0.1)
    answers = burst(gateway, 30)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 8, 429: 22}, f"statuses: {dict(statuses)}"
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["error"] == "too_many_requests"
            assert 1 <= int(answer.headers["Retry-After"]) <= 80, f"Retry-After {answer.headers['Retry-After']}"
            assert answer.headers["RateLimit-Limit"] == "8" and answer.headers["RateLimit-Remaining"] == "0"
    keys = list(r.scan_iter(prefix + "*"))
    assert keys, "no key under the gateway's rate_limit_prefix in Redis"
    for key in keys:
        assert 0 < r.pttl(key) <= 81_000, f"{key}: TTL {r.pttl(key)} ms (the window is 80 s)"


@points(2)
def test_wait_retry_after_and_you_are_served_again(start_gateway):
    """Limit 3 per second: a burst of 6 lets 3 through; after waiting Retry-After seconds, a request passes."""
    gateway = start_gateway(capacity=3, refill_per_s=3)
    answers = burst(gateway, 6, threads=6)
    statuses = Counter(a.status_code for a in answers)
    assert statuses[200] == 3, f"statuses: {dict(statuses)}"
    refused = [a for a in answers if a.status_code == 429]
    retry_after = max(int(a.headers["Retry-After"]) for a in refused)
    assert retry_after == 1, f"Retry-After {retry_after} for a 1 s window (it should be in (0, window], rounded up)"
    time.sleep(retry_after)
    again = gateway.get("/api/products")
    assert again.status_code == 200, f"after waiting Retry-After ({retry_after} s): {again.status_code}"


@points(1)
def test_users_have_their_own_budgets_in_the_gateway(launch, start_gateway):
    """Two users with real tokens: ada exhausting her budget does not touch bob's."""
    identity = launch("identity", "identity", argon2=CHEAP_ARGON2, traffic=False)
    gateway = start_gateway(capacity=2, refill_per_s=0.02, identity_url=identity.url)
    tokens = {}
    for user in ("ada", "bob"):
        identity.post("/users", json={"username": user, "password": "correct horse battery"})
        login = identity.post("/login", json={"username": user, "password": "correct horse battery"})
        assert login.status_code == 200, login.text
        tokens[user] = {"Authorization": f"Bearer {login.json()['access_token']}"}
    ada = [gateway.get("/api/orders", headers=tokens["ada"]).status_code for _ in range(3)]
    bob = [gateway.get("/api/orders", headers=tokens["bob"]).status_code for _ in range(3)]
    # orders is not running: a request let through is a 503 from the gateway, a refused one a 429
    assert ada == [503, 503, 429] and bob == [503, 503, 429], f"ada {ada}, bob {bob}"


@points(2)
def test_the_limiter_works_again_after_redis_is_killed_and_restarted(start_gateway, redis_server):
    """SIGKILL Redis under the gateway (requests still answered), start it again: the limiter must limit again."""
    gateway = start_gateway(capacity=4, refill_per_s=0.05)  # 4 per 80 s
    assert [gateway.get("/api/products").status_code for _ in range(2)] == [200, 200]
    redis_server.kill()
    try:
        during = [gateway.get("/api/products", timeout=WAIT).status_code for _ in range(3)]
        assert during == [200] * 3, f"while Redis is down the gateway lets requests through: {during}"
    finally:
        redis_server.start()  # same port, same data (up to the last second of writes)
    limited = wait_until(lambda: "RateLimit-Limit" in gateway.get("/api/products").headers, timeout=WAIT, every=0.2)
    assert limited, ("after Redis came back, the gateway's limiter kept failing (requests let through without "
                     "RateLimit headers): Redis forgot its scripts; does your code load its script again?")
    statuses = Counter(a.status_code for a in burst(gateway, 10))
    assert statuses[429] >= 6 and statuses[200] <= 3, f"after the restart, a burst of 10: {dict(statuses)}"
