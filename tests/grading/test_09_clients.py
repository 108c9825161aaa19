"""Graded tests of lab 09 (clients): the learner's circuit breaker, and the retry policy and retry budget, each
plugged into the Python client (microcosm.clients.Client) and run against a real catalog made flaky, failing,
dead and recovering.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cells leave breaker.py and retries.py there, and points these tests at that folder (see conftest.py).

What reached the service is read from the service: catalog's own /metrics count every request it answered, so
"nothing reaches a dead service while the breaker is open" and "the budget keeps the load under 1.125 times
normal" are counted where the load lands, never taken from the learner's objects. The breaker reads a clock the
test moves (`clock=`), so no test waits out a cool-down; the client's `sleep` records the waits instead of
sleeping. Catalog is made to fail with /_chaos, frozen with SIGSTOP while a probe is out, SIGKILLed and restarted.
The distribution of the waits is tested on 4,000 draws per retry, with bounds many standard deviations wide: a
fixed or half-jittered wait cannot pass, a fully jittered one cannot fail by bad luck (odds under 1e-10).
No test asserts a time. An answer not written yet (NotImplementedError) fails its task's tests at once.
"""
from __future__ import annotations

import threading
import uuid

import pytest

from microcosm.clients import CircuitOpen, Client, NoBackoff, Unreachable
from microcosm.testing import wait_until

points = pytest.mark.points
TASKS = {"Task 1 · The circuit breaker": ("breaker",),
         "Task 2 · Retries: full jitter and a budget": ("retry", "budget")}  # the lab's headings (conftest.py)
DRAWS = 4000  # waits drawn per retry number in the distribution tests


class Clock:
    """The breaker's clock, moved by the test."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Waits(list):
    """A client's `sleep` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def not_written(name: str, exc: NotImplementedError):
    pytest.fail(f"{name} is not written yet: {exc or 'NotImplementedError'}")


def tried(name: str, *calls):
    """Call each of `calls` once: an unwritten answer fails at once; a wrong one is left to the tests."""
    try:
        for call in calls:
            call()
    except NotImplementedError as exc:
        not_written(name, exc)
    except Exception:
        pass


@pytest.fixture(scope="module")
def Breaker(learner_object):
    cls = learner_object("breaker.py", "Breaker")
    probe = cls(failures=2, cool_down=1.0, clock=Clock())
    tried("breaker.py's Breaker", probe.allow, probe.success, probe.failure)
    return cls


@pytest.fixture(scope="module")
def Backoff(learner_object):
    cls = learner_object("retries.py", "Backoff")
    probe = cls()
    tried("retries.py's Backoff", lambda: probe.retryable("GET", {}), lambda: probe.delay(1))
    return cls


@pytest.fixture(scope="module")
def Budget(learner_object):
    cls = learner_object("retries.py", "Budget")
    probe = cls()
    tried("retries.py's Budget", probe.deposit, probe.withdraw)
    return cls


@pytest.fixture(scope="module")
def catalog(launch_for_module, lab_dir):
    return launch_for_module("catalog", f"grade09-catalog-{uuid.uuid4().hex[:6]}", traffic=False)


@pytest.fixture(autouse=True)
def no_chaos(catalog):
    yield
    catalog.resume()
    catalog.chaos()


def seen(service, route: str = "GET /products") -> int:
    """How many `route` requests the service has answered (its own count, failures included)."""
    return service.metrics()["routes"].get(route, {}).get("count", 0)


def breaker_client(catalog, breaker, **options) -> Client:
    """A client with the learner's breaker and no retries: each call is one attempt, or none."""
    return Client(catalog.url, retry=None, budget=None, breaker=breaker, **options)


def fails_fast(client, path: str = "/products") -> bool:
    try:
        client.get(path, timeout=(0.5, 0.5))
    except CircuitOpen:
        return True
    except Unreachable:
        return False
    return False


def opened(client, catalog, failures: int):
    """Catalog fails every request; up to `failures` GETs (fewer if it opens sooner) open the breaker."""
    catalog.chaos(fail_rate=1.0)
    for _ in range(failures):
        try:
            client.get("/products")
        except CircuitOpen:
            break
    assert client.breaker.state == "open", \
        f"{failures} failures in a row (failures={failures}): the breaker is {client.breaker.state!r}, not 'open'"


def open_client(catalog, Breaker, failures: int = 2, cool_down: float = 5.0) -> tuple[Client, Clock]:
    """A client with a new breaker of the learner's on a clock of its own, opened by a failing catalog."""
    clock = Clock()
    client = breaker_client(catalog, Breaker(failures=failures, cool_down=cool_down, clock=clock))
    opened(client, catalog, failures)
    return client, clock


def probe(client, **options) -> int:
    """The cool-down is over: the next call is the probe, sent; its status."""
    try:
        return client.get("/products", **options).status_code
    except CircuitOpen:
        pytest.fail("the cool-down is over and the breaker still refuses: it never half-opens")


# --- Task 1 · The circuit breaker -------------------------------------------------------------------------
@points(3, must_pass=True)
def test_breaker_opens_after_n_failures_in_a_row_and_then_nothing_reaches_catalog(catalog, Breaker):
    """Breaker(failures=3): two 503s leave it closed, the third opens it; then 20 calls fail fast, catalog sees none."""
    client = breaker_client(catalog, Breaker(failures=3, cool_down=5.0, clock=Clock()))
    assert client.get("/products").status_code == 200 and client.breaker.state == "closed", \
        f"a new breaker, one good answer: it is {client.breaker.state!r}, not 'closed'"
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog)
    for n in (1, 2):
        assert client.get("/products").status_code == 503
        assert client.breaker.state == "closed", f"it opened after {n} failure(s); failures=3 should take three"
    assert client.get("/products").status_code == 503 and client.breaker.state == "open", \
        f"three failures in a row and the breaker is {client.breaker.state!r}, not 'open'"
    refused = sum(fails_fast(client) for _ in range(20))
    assert refused == 20, f"open: {20 - refused} of 20 requests were sent anyway"
    assert seen(catalog) - start == 3, f"catalog saw {seen(catalog) - start} requests: 3 failures, then none"


@points(2, must_pass=True)
def test_breaker_counts_failures_in_a_row_a_success_or_a_4xx_starts_again(catalog, Breaker):
    """Breaker(failures=3): 503, 503, then a 200 or a 404 (a caller's mistake) restart the count; 3 in a row open it."""
    client = breaker_client(catalog, Breaker(failures=3, cool_down=5.0, clock=Clock()))
    start = seen(catalog, "GET /products")
    for good in ("/products", "/products/999999") * 3:
        catalog.chaos(fail_next=2)
        assert [client.get("/products").status_code for _ in range(2)] == [503, 503]
        status = client.get(good).status_code
        assert status in (200, 404), f"GET {good} answered {status}"
        assert client.breaker.state == "closed", \
            f"503, 503, {status}: the breaker is {client.breaker.state!r}; a {status} ends the run of failures"
    assert seen(catalog, "GET /products") - start == 15, "every request should have reached catalog"
    catalog.chaos(fail_next=3)
    assert [client.get("/products").status_code for _ in range(3)] == [503] * 3
    assert client.breaker.state == "open", f"three failures in a row: {client.breaker.state!r}, not 'open'"


@points(1)
def test_breaker_stays_open_until_the_cool_down_is_over(catalog, Breaker):
    """Breaker(cool_down=10): opened at t, it refuses at t+0, t+3, t+6 and t+9.9, and sends nothing."""
    client, clock = open_client(catalog, Breaker, cool_down=10.0)
    start, t = seen(catalog), clock.now
    for after in (0.0, 3.0, 6.0, 9.9):
        clock.now = t + after
        assert fails_fast(client), f"{after} s after it opened (cool_down=10) a request was sent"
    assert seen(catalog) == start


@points(3, must_pass=True)
def test_breaker_after_the_cool_down_one_probe_goes_and_its_failure_opens_it_for_another(catalog, Breaker):
    """Cool-down over: one request (the probe) reaches catalog; it fails: open again, for a whole new cool-down."""
    client, clock = open_client(catalog, Breaker)
    clock.now += 5.1
    start = seen(catalog)
    status = probe(client)
    assert status == 503 and seen(catalog) - start == 1, "the probe should reach catalog (which still fails)"
    assert client.breaker.state == "open", f"the probe failed: the breaker is {client.breaker.state!r}, not 'open'"
    assert all(fails_fast(client) for _ in range(5)), "the probe failed, yet requests are sent"
    clock.now += 4.9  # 10 s after it first opened, 4.9 s after the probe failed
    assert fails_fast(client), "the failed probe should start a new cool-down: a request went 4.9 s after it"
    clock.now += 0.2
    assert client.get("/products").status_code == 503, "after the new cool-down, a second probe should go"
    assert seen(catalog) - start == 2 and client.breaker.state == "open"


@points(2, must_pass=True)
def test_breaker_a_successful_probe_closes_it_and_the_count_starts_from_zero(catalog, Breaker):
    """Catalog recovers: the probe succeeds, the breaker closes, requests flow; one failure later does not reopen."""
    client, clock = open_client(catalog, Breaker)
    catalog.chaos()  # catalog recovers
    clock.now += 5.1
    start = seen(catalog)
    assert probe(client) == 200
    assert client.breaker.state == "closed", f"the probe succeeded: {client.breaker.state!r}, not 'closed'"
    assert all(client.get("/products").status_code == 200 for _ in range(10))
    assert seen(catalog) - start == 11
    catalog.chaos(fail_next=1)
    assert client.get("/products").status_code == 503
    assert client.breaker.state == "closed", "closed again, one failure (failures=2) opened it: the count of " \
                                             "failures from before it opened was kept"
    path = [(e["was"], e["state"]) for e in client.breaker_events]
    assert path[:1] == [("closed", "open")] and path[-1:] == [("half_open", "closed")], \
        f"the client saw the breaker go {path}: closed -> open, ..., half_open -> closed when the probe succeeded"


@points(2, must_pass=True)
def test_breaker_one_probe_at_a_time_while_it_is_out_the_others_fail_fast(catalog, Breaker):
    """The probe held up (catalog SIGSTOPped): the state is half_open, 5 more calls fail fast; resumed, it closes."""
    client, clock = open_client(catalog, Breaker)
    catalog.chaos()
    clock.now += 5.1
    start, sent = seen(catalog), client.stats()["attempts"]
    out: dict = {}

    def send_probe():
        try:
            out["status"] = client.get("/products", timeout=(2.0, 30.0)).status_code
        except Exception as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    catalog.pause()  # SIGSTOP: the probe is sent and waits for an answer
    thread = threading.Thread(target=send_probe, daemon=True)
    try:
        thread.start()
        assert wait_until(lambda: client.stats()["attempts"] > sent or out, timeout=10) and "error" not in out, \
            f"the cool-down is over and no probe was sent: {out.get('error')!r}"
        state = client.breaker.state
        refused = sum(fails_fast(client) for _ in range(5))  # a request let through would time out here
    finally:
        catalog.resume()
    thread.join(timeout=30)
    assert state == "half_open", f"while the probe was out the breaker was {state!r}, not 'half_open'"
    assert refused == 5, f"while the probe was out, {5 - refused} of 5 more requests were sent (one probe at a time)"
    assert out.get("status") == 200 and client.breaker.state == "closed", \
        f"the probe got {out}; the breaker is {client.breaker.state!r}"
    assert seen(catalog) - start == 1, f"catalog saw {seen(catalog) - start} requests: the probe alone"


@points(2)
def test_breaker_catalog_killed_it_opens_probes_the_dead_and_closes_once_restarted(launch, Breaker):
    """Catalog SIGKILLed: 3 unreachable, open, fail fast, a probe fails, open; restarted: the next probe closes it."""
    dying = launch("catalog", f"grade09-dying-{uuid.uuid4().hex[:6]}", traffic=False)
    clock = Clock()
    client = breaker_client(dying, Breaker(failures=3, cool_down=5.0, clock=clock))
    assert client.get("/products").status_code == 200
    dying.kill()
    for _ in range(3):
        with pytest.raises(Unreachable):
            client.get("/products")
    assert client.breaker.state == "open", f"3 attempts unanswered: the breaker is {client.breaker.state!r}"
    assert all(fails_fast(client) for _ in range(10)) and client.stats()["attempts"] == 4, \
        f"the client sent {client.stats()['attempts'] - 4} requests to the dead catalog while open"
    clock.now += 5.1
    with pytest.raises(Unreachable):  # the probe: still dead
        client.get("/products")
    assert client.breaker.state == "open" and fails_fast(client)
    dying.restart()  # the same port, a new process: its /metrics count from zero
    clock.now += 5.1
    start = seen(dying)
    assert client.get("/products").status_code == 200 and client.breaker.state == "closed"
    assert all(client.get("/products").status_code == 200 for _ in range(5))
    assert client.stats()["attempts"] == 11 and seen(dying) - start == 6


@points(1)
def test_breaker_loaded_by_the_client_from_its_file_with_its_defaults(catalog, learner_file, Breaker):
    """Client(url, breaker="breaker.py:Breaker"): the defaults, 5 failures in a row open it; then none reach catalog."""
    client = breaker_client(catalog, f"{learner_file('breaker.py')}:Breaker")
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog)
    for n in range(1, 5):
        assert client.get("/products").status_code == 503 and client.breaker.state == "closed", \
            f"it opened after {n} failure(s): the default is 5"
    assert client.get("/products").status_code == 503 and client.breaker.state == "open"
    assert all(fails_fast(client) for _ in range(5)) and seen(catalog) - start == 5


# --- Task 2 · Retries: full jitter and a budget -----------------------------------------------------------
def retry_client(catalog, retry, budget=None, **options) -> Client:
    return Client(catalog.url, retry=retry, budget=budget, breaker=None, **options)


NEW_PRODUCT = {"name": "grader's test product", "price_cents": 100}


@points(1)
def test_retry_a_failing_get_is_retried_until_it_succeeds(catalog, Backoff):
    """Catalog fails the next 2 requests: a GET reaches it 3 times, with 2 waits, and returns the 200."""
    waits = Waits()
    client = retry_client(catalog, Backoff(base=0.01, cap=0.05, max_retries=3), sleep=waits)
    catalog.chaos(fail_next=2)
    start = seen(catalog)
    assert client.get("/products").status_code == 200
    assert seen(catalog) - start == 3 and len(waits) == 2, \
        f"catalog saw the GET {seen(catalog) - start} times (2 failures, then the answer: 3), {len(waits)} waits"


@points(2, must_pass=True)
def test_retry_a_post_without_an_idempotency_key_is_sent_once(catalog, Backoff):
    """A POST (or PATCH) with no Idempotency-Key is never retried: catalog failing, it sees the POST once."""
    client = retry_client(catalog, Backoff(base=0.01, cap=0.05, max_retries=3), sleep=Waits())
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog, "POST /products")
    assert client.post("/products", json=NEW_PRODUCT, idempotency_key=False).status_code == 503
    assert seen(catalog, "POST /products") - start == 1, \
        f"a POST without a key reached catalog {seen(catalog, 'POST /products') - start} times: " \
        f"twice may mean two orders"
    policy = Backoff()
    for method in ("POST", "PATCH"):
        headers = {"X-Caller": "client", "X-Request-ID": uuid.uuid4().hex, "Content-Type": "application/json"}
        assert not policy.retryable(method, headers), f"{method} without an Idempotency-Key is called retryable"


@points(1)
def test_retry_a_post_with_an_idempotency_key_is_retried(catalog, Backoff):
    """A POST carrying an Idempotency-Key (any letter case) is retried: catalog failing, it sees 1 + max_retries."""
    client = retry_client(catalog, Backoff(base=0.01, cap=0.05, max_retries=3), sleep=Waits())
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog, "POST /products")
    assert client.post("/products", json=NEW_PRODUCT, idempotency_key=f"grade-{uuid.uuid4()}").status_code == 503
    assert seen(catalog, "POST /products") - start == 4, \
        f"a POST with a key reached catalog {seen(catalog, 'POST /products') - start} times, not 1 + 3 retries"
    policy = Backoff()
    for name in ("Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"):
        assert policy.retryable("POST", {"X-Caller": "client", name: "k-1"}), f"a POST with {name}: is retryable"


@points(1)
def test_retry_the_idempotent_methods_are_retryable(Backoff):
    """GET, HEAD, OPTIONS, PUT and DELETE are retryable without a key (idempotent by the rules of HTTP)."""
    policy = Backoff()
    wrong = [m for m in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE") if not policy.retryable(m, {"X-Caller": "c"})]
    assert not wrong, f"called not retryable: {wrong}"


@points(1)
def test_retry_gives_up_after_max_retries(catalog, Backoff):
    """max_retries=2: delay(1), delay(2) are waits, delay(3) is None; a failing GET reaches catalog 3 times."""
    policy = Backoff(base=0.01, cap=0.05, max_retries=2)
    assert policy.delay(1) is not None and policy.delay(2) is not None, "max_retries=2: retries 1 and 2 should wait"
    assert policy.delay(3) is None and policy.delay(9) is None, "max_retries=2: delay(3) should be None (give up)"
    client = retry_client(catalog, policy, sleep=Waits())
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog)
    assert client.get("/products").status_code == 503 and seen(catalog) - start == 3


def ceiling(retry: int, base: float = 0.1, cap: float = 0.8) -> float:
    return min(cap, base * 2 ** (retry - 1))


def draws(Backoff, retries: int = 8) -> dict[int, list[float]]:
    """{retry: DRAWS waits} from one Backoff(base=0.1, cap=0.8, max_retries=retries)."""
    policy = Backoff(base=0.1, cap=0.8, max_retries=retries)
    return {n: [policy.delay(n) for _ in range(DRAWS)] for n in range(1, retries + 1)}


@points(2, must_pass=True)
def test_retry_waits_reach_up_to_a_ceiling_that_doubles_to_the_cap(catalog, Backoff):
    """base=0.1, cap=0.8: retry n waits at most min(0.8, 0.1·2^(n-1)), and the longest of 4,000 waits nears it."""
    for n, waits in draws(Backoff).items():
        top = ceiling(n)
        outside = [w for w in waits if not isinstance(w, (int, float)) or not 0 <= w <= top + 1e-9]
        assert not outside, f"retry {n} waited {outside[:3]} (s): it must stay within 0..{top:g} s"
        assert max(waits) >= 0.9 * top, \
            f"retry {n}: the longest of {DRAWS} waits is {max(waits):.3f} s; the ceiling min(0.8, 0.1·2^{n - 1}) " \
            f"is {top:g} s (the ceiling doubles each retry, up to the cap)"
    waits = Waits()  # and as the client uses it: against a failing catalog, every wait under its ceiling
    client = retry_client(catalog, Backoff(base=0.1, cap=0.8, max_retries=5), sleep=waits)
    catalog.chaos(fail_rate=1.0)
    for _ in range(10):
        assert client.get("/products").status_code == 503
    assert len(waits) == 50, f"10 GETs, 5 retries each: {len(waits)} waits"
    over = [(e["attempt"], e["wait"]) for e in client.attempts
            if "wait" in e and e["wait"] > ceiling(e["attempt"]) + 1e-9]
    assert not over, f"(retry, wait) over the ceiling in the client: {over[:5]}"


@points(2, must_pass=True)
def test_retry_waits_are_fully_jittered_uniform_from_zero_to_the_ceiling(Backoff):
    """4,000 waits per retry, evenly spread: mean near ceiling/2, 1/4 under ceiling/4, 3/4 under 3/4 of the ceiling."""
    for n, waits in draws(Backoff).items():
        top = ceiling(n)
        assert len(set(waits)) >= 50, \
            f"retry {n}: {len(set(waits))} different waits of {DRAWS}: without jitter, clients that failed together " \
            f"come back together"
        mean = sum(waits) / DRAWS
        assert abs(mean - top / 2) <= 0.05 * top, \
            f"retry {n}: the mean wait is {mean:.3f} s; full jitter, uniform(0, {top:g}), averages {top / 2:g} s"
        for share in (0.25, 0.75):
            below = sum(w < share * top for w in waits) / DRAWS
            assert abs(below - share) <= 0.05, \
                f"retry {n}: {below:.1%} of waits are under {share * top:g} s; " \
                f"uniform(0, {top:g}) puts {share:.0%} there"


@points(3, must_pass=True)
def test_budget_keeps_a_retry_storm_at_the_server_under_burst_plus_ratio(catalog, Budget):
    """Budget(ratio=0.1, burst=5), catalog failing all, 150 GETs of 3 retries each: catalog sees ≤ 150 + 5 + 15."""
    client = retry_client(catalog, NoBackoff(max_retries=3), Budget(ratio=0.1, burst=5))
    catalog.chaos(fail_rate=1.0)
    start = seen(catalog)
    for _ in range(150):
        assert client.get("/products").status_code == 503
    load = seen(catalog) - start
    assert load <= 150 + 5 + 15, f"catalog saw {load} requests for 150 GETs ({load / 150:.2f}x): the budget " \
                                 f"(ratio=0.1, burst=5) allows 170 at most (no budget: 600)"
    assert load >= 150 + 10, f"catalog saw {load} requests: the budget should still allow about ratio x requests " \
                             f"= 15 retries, and its burst"


@points(1)
def test_budget_lets_a_blip_be_retried(catalog, Budget):
    """A fresh budget (ratio=0.1, burst=5), catalog failing the next 3: three GETs each retried once, all 200."""
    client = retry_client(catalog, NoBackoff(max_retries=3), Budget(ratio=0.1, burst=5))
    catalog.chaos(fail_next=3)
    start = seen(catalog)
    statuses = [client.get("/products").status_code for _ in range(3)]
    assert statuses == [200, 200, 200] and seen(catalog) - start == 6, \
        f"{statuses}, catalog saw {seen(catalog) - start} GETs: the budget refused a blip's retries"


@points(1)
def test_budget_a_quiet_spell_banks_no_more_than_the_burst(Budget):
    """Budget(ratio=0.5, burst=3): after 1,000 requests, 3 retries go, the 4th is refused; 2 more requests, 1 more."""
    budget = Budget(ratio=0.5, burst=3)
    for _ in range(1000):
        budget.deposit()
    allowed = sum(bool(budget.withdraw()) for _ in range(10))
    assert allowed == 3, f"after a quiet spell, {allowed} retries in a row were allowed: the bucket holds 3 at most"
    budget.deposit()
    budget.deposit()
    assert [bool(budget.withdraw()) for _ in range(2)] == [True, False], "two requests at 0.5 make one retry"
