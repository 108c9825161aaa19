"""Graded tests of lab 03 (load balancer): the learner's least-connections and power-of-two strategies.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder,
whose %%writefile cells leave least_connections.py and power_of_two.py there, and points these tests at that
folder (see conftest.py).

Two kinds of test, as in MIT 6.5840's labs, where the harness is the one that breaks things:
- the learner's `pick` called directly with the balancer's own `Backend` and `RequestInfo` objects (the very
  shape the balancer passes), with chosen in-flight counts;
- a real balancer process loading the learner's file, in front of three real catalog instances: one slowed
  down with chaos, one killed. Where the requests went is read from the balancer's `/_balancer/status`
  (requests served per backend), never from wall-clock times.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests

from microcosm.services.balancer import Backend, RequestInfo
from microcosm.services.balancer.control import backend, backends as backend_list, served
from microcosm.testing import wait_until

points = pytest.mark.points
TASKS = {"Task 1 · Least connections": ("least_connections",),
         "Task 2 · Power of two choices": ("power_of_two",)}  # the lab's tasks, as its headings say (conftest.py)
STRATEGIES = {"least_connections": ("least_connections.py", "LeastConnections"),
              "power_of_two": ("power_of_two.py", "PowerOfTwo")}
REQUEST = RequestInfo("GET", "/products/1", {}, {}, "127.0.0.1")


# --- the learner's pick(), called directly ------------------------------------------------------------
def backends(*in_flight):
    """The balancer's own Backend objects (nobody listens at their URLs: pick must not call them)."""
    made = []
    for i, n in enumerate(in_flight, 1):
        backend = Backend(f"http://127.0.0.1:{9000 + i}", id=f"b{i}")
        backend.in_flight = n
        made.append(backend)
    return made


@pytest.fixture(scope="module")
def make(learner_object):
    """make("least_connections") -> a new strategy object from the learner's file, as the balancer makes it."""
    def new(kind):
        return learner_object(*STRATEGIES[kind])()
    return new


def picks(strategy, candidates, n):
    """n picks from the same list; each must be one of the objects given (identity, not a copy or an id)."""
    out = []
    for _ in range(n):
        chosen = strategy.pick(candidates, REQUEST)
        assert any(chosen is b for b in candidates), \
            f"pick returned {chosen!r}, which is not one of the backend objects it was given"
        out.append(chosen.id)
    return Counter(out)


@points(3, must_pass=True)
def test_least_connections_picks_the_least_busy(make):
    """Least connections: the backend with the fewest in flight, whatever its place in the list."""
    strategy = make("least_connections")
    for in_flight, expected in [((3, 0, 5), "b2"), ((0, 4, 4), "b1"), ((7, 2, 9, 1), "b4"), ((5,), "b1"),
                                ((2, 1), "b2")]:
        got = picks(strategy, backends(*in_flight), 20)
        assert set(got) == {expected}, f"in flight {in_flight}: picked {dict(got)}, expected always {expected}"


@points(3)
def test_least_connections_breaks_ties_at_random(make):
    """Least connections: among backends tied for the fewest, each is picked (no instance starves), no other."""
    strategy = make("least_connections")
    got = picks(strategy, backends(0, 0, 0), 300)
    assert set(got) == {"b1", "b2", "b3"} and min(got.values()) >= 50, \
        f"three idle backends, 300 picks: {dict(got)}; a tie must be broken at random"
    got = picks(strategy, backends(2, 0, 3, 0), 200)
    assert set(got) == {"b2", "b4"}, f"in flight (2, 0, 3, 0), 200 picks: {dict(got)}; expected b2 and b4 only"


@points(1)
def test_least_connections_uses_only_the_list_it_is_given(make):
    """Least connections: each call chooses among that call's backends (a retry leaves the failed one out)."""
    strategy = make("least_connections")
    first = backends(0, 1, 1)
    picks(strategy, first, 5)
    retry = [first[1], first[2]]  # b1 failed: the balancer asks again without it
    got = picks(strategy, retry, 30)
    assert set(got) <= {"b2", "b3"}, f"picked {dict(got)} from a list without b1"


@points(2)
def test_power_of_two_with_one_or_two_backends(make):
    """Power of two: one backend is returned; of two, the less busy always wins (the pair is both of them)."""
    strategy = make("power_of_two")
    assert set(picks(strategy, backends(4), 10)) == {"b1"}
    for in_flight, expected in [((0, 9), "b1"), ((9, 0), "b2"), ((3, 2), "b2")]:
        got = picks(strategy, backends(*in_flight), 100)
        assert set(got) == {expected}, (f"in flight {in_flight}: picked {dict(got)}; the two chosen must be "
                                        f"different backends, and the less busy one wins")


@points(2)
def test_power_of_two_never_picks_the_busiest(make):
    """Power of two: the single busiest backend loses to whichever backend it is paired with."""
    strategy = make("power_of_two")
    got = picks(strategy, backends(0, 1, 2, 9), 600)
    assert "b4" not in got, f"in flight (0, 1, 2, 9), 600 picks: {dict(got)}; b4 can never win a pair"
    got = picks(strategy, backends(0, 0, 0), 300)
    assert set(got) == {"b1", "b2", "b3"} and min(got.values()) >= 50, f"three idle backends, 300 picks: {dict(got)}"


@points(3, must_pass=True)
def test_power_of_two_is_two_random_choices(make):
    """Power of two: with in flight (0, 5, 5) the idle one wins about 2/3 of the picks (it is in 2 of 3 pairs).

    Least connections would pick it every time, a random pick a third of the time."""
    strategy = make("power_of_two")
    got = picks(strategy, backends(0, 5, 5), 3000)
    share = got["b1"] / 3000
    assert 0.6 < share < 0.73, (f"the idle backend won {share:.0%} of 3000 picks ({dict(got)}); power of two "
                                f"choices gives it about 67%: two different backends at random, the less busy")


# --- a real balancer with the learner's strategy, in front of real catalog instances -------------------
@pytest.fixture(scope="module")
def catalogs(launch_for_module, tmp_path_factory):
    data = str(tmp_path_factory.mktemp("catalog-data"))
    return [launch_for_module("catalog", f"catalog-{i}", data_dir=data) for i in (1, 2, 3)]


@pytest.fixture
def balancer(learner_file, catalogs, launch):
    def start(kind, **config):
        file, name = STRATEGIES[kind]
        return launch("balancer", f"lb-{kind}", upstream="catalog", strategy=f"{learner_file(file)}:{name}",
                      backends=backend_list(catalogs), **config)

    yield start
    for c in catalogs:  # leave them as found: up, and without faults
        if not c.alive:
            c.restart()
        c.chaos()


def first_error(lb) -> str:
    answer = lb.get("/products/1")
    return f"{answer.status_code}: {answer.text[:200]}"


def load_for(lb, seconds: float, threads: int = 8) -> Counter:
    """Concurrent GETs through the balancer for `seconds`: the status codes seen."""
    statuses = Counter()
    end = time.monotonic() + seconds

    def worker():
        with requests.Session() as session:
            while time.monotonic() < end:
                statuses[session.get(lb.url + "/products/1", timeout=15).status_code] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return statuses


@points(2)
@pytest.mark.parametrize("kind", STRATEGIES)
def test_live_a_slow_instance_gets_clearly_less_traffic(balancer, catalogs, kind):
    """Live: catalog-2 answers after 300 ms; under concurrent load it gets under 15% of the requests (round robin: 33%)."""
    lb = balancer(kind)
    catalogs[1].chaos(delay_ms=300)
    statuses = load_for(lb, 3.0)
    assert set(statuses) == {200}, f"status codes seen: {dict(statuses)}; for example {first_error(lb)}"
    counts = served(lb)
    total = sum(counts.values())
    assert total >= 60, f"only {total} requests went through in 3 s: {counts}"
    assert counts["catalog-2"] / total < 0.15, \
        f"the slow catalog-2 served {counts['catalog-2']} of {total} requests: {counts}"


@points(1)
@pytest.mark.parametrize("kind", STRATEGIES)
def test_live_no_instance_starves_when_all_are_equal(balancer, kind):
    """Live: 90 requests one after another (every backend idle at each pick): each instance serves at least 12."""
    lb = balancer(kind)
    codes = Counter(lb.get("/products/1").status_code for _ in range(90))
    assert set(codes) == {200}, f"status codes seen: {dict(codes)}; for example {first_error(lb)}"
    counts = served(lb)
    assert min(counts.values()) >= 12, f"requests served: {counts}; ties must be broken at random"


@points(1)
@pytest.mark.parametrize("kind", STRATEGIES)
def test_live_a_dead_instance_is_never_picked(balancer, catalogs, kind):
    """Live: catalog-3 killed and marked down by health checks: every request succeeds, catalog-3 serves none."""
    lb = balancer(kind, health_interval=0.2)
    catalogs[2].kill()
    assert wait_until(lambda: backend(lb, "catalog-3")["state"] == "down"), \
        "the balancer's health checks did not mark the killed catalog-3 down"
    before = served(lb)
    statuses = load_for(lb, 1.0, threads=4)
    after = served(lb)
    assert set(statuses) == {200}, f"status codes seen: {dict(statuses)}; for example {first_error(lb)}"
    assert after["catalog-3"] == before["catalog-3"], f"the dead catalog-3 served requests: {after}"
    assert sum(after.values()) - sum(before.values()) >= 20, f"too few requests went through: {after}"


@points(1)
@pytest.mark.parametrize("kind", STRATEGIES)
def test_live_a_refused_request_is_retried_among_the_others(balancer, catalogs, kind):
    """Live: catalog-1 killed, no health checks to notice: each refused GET is retried on another, then it is ejected."""
    lb = balancer(kind, health_interval=60)
    catalogs[0].kill()
    codes = Counter(lb.get("/products/1").status_code for _ in range(30))
    assert set(codes) == {200}, f"status codes seen: {dict(codes)}; for example {first_error(lb)}"
    entry = backend(lb, "catalog-1")
    assert entry["served"] == 0 and entry["failures"] >= 1, f"catalog-1: {entry}"
    assert entry["state"] == "ejected", f"after refusing, catalog-1 should be ejected: {entry}"
