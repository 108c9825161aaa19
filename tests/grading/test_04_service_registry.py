"""Graded tests of lab 04 (service registry): the learner's heartbeat expiry and client-side cache, under failure.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cells leave expiry.py and cache.py there, and points these tests at that folder (see conftest.py).

- Task 1, `overdue(instances, now)` in expiry.py: called directly (the TTL boundary, a TTL per instance), then
  loaded by a running registry (`launch("registry", expiry="expiry.py:overdue")`) while the harness SIGKILLs an
  instance and keeps others beating, and registers many services of its own.
- Task 2, `ServiceCache(registry_url, service)` in cache.py: used from this process against a live registry that
  the harness kills, freezes (SIGSTOP) and restarts (a new epoch), then loaded by a running balancer
  (`discovery="cache.py:ServiceCache"`) that must keep its traffic flowing while the registry is dead.
"""
from __future__ import annotations

import copy
import os
import signal
import threading
import time

import pytest

from microcosm.discovery import Registration
from microcosm.testing import wait_until

points = pytest.mark.points
TASKS = {"Task 1 · Heartbeat expiry": ("overdue", "ttl", "expires"),
         "Task 2 · A client-side cache": ("cache",)}  # the lab's tasks, as its headings say (conftest.py)
TTL = 1.0  # the live instances' TTL: a heartbeat every TTL / 3
WAIT = 6.0  # how long anything that should happen may take (generous: the machine may be busy)


@pytest.fixture
def beating():
    """Registrations made from this process (no server behind them): they heartbeat every ttl / 3 until
    stopped, like a real instance's; `silent=True` registers once and never beats again."""
    made = []

    def register(registry, service, instance_id, *, ttl=TTL, silent=False):
        r = Registration(registry.url, service, instance_id, f"http://127.0.0.1:{10000 + len(made)}", ttl=ttl,
                         start=not silent)
        if silent:
            r.register()
        made.append(r)
        return r

    yield register
    for r in made:
        r.deregister()  # stops its heartbeats; says goodbye if the registry still knows it


def listed(registry, service) -> set[str]:
    return {i["id"] for i in registry.get(f"/services/{service}").json()["instances"]}


def events(registry, kind=None) -> list[dict]:
    return [e for e in registry.get("/events").json()["events"] if kind is None or e["event"] == kind]


# --- Task 1: overdue(instances, now), called directly ---------------------------------------------------
@pytest.fixture(scope="module")
def overdue(learner_object):
    return learner_object("expiry.py", "overdue")


def instance(instance_id, last_heartbeat, ttl):
    return {"id": instance_id, "url": f"http://127.0.0.1:{8000 + len(instance_id)}", "metadata": {}, "ttl": ttl,
            "registered_at": last_heartbeat - 30, "last_heartbeat": last_heartbeat}


def ids(result) -> list:
    assert result is not None, "overdue returned None: return a list of ids (an empty one when none is overdue)"
    result = list(result)
    assert all(isinstance(i, str) for i in result), f"overdue should return instance ids (strings), got {result!r}"
    return sorted(result)


@points(1)
def test_overdue_finds_the_silent_instances(overdue):
    """Silent for longer than the TTL: overdue; heard from lately: not; nothing given, nothing overdue."""
    now = 1_700_000_000.0
    instances = {i["id"]: i for i in (instance("fresh", now - 0.5, 3.0), instance("long-gone", now - 60, 3.0),
                                      instance("just-late", now - 3.2, 3.0), instance("this-moment", now, 3.0))}
    before = copy.deepcopy(instances)
    assert ids(overdue(instances, now)) == ["just-late", "long-gone"]
    assert instances == before, "overdue changed the instances it was given"
    assert ids(overdue({}, now)) == []
    assert ids(overdue({"fresh": instances["fresh"]}, now)) == []


@points(1, must_pass=True)
def test_exactly_the_ttl_is_still_in_time(overdue):
    """Silent for exactly the TTL: not overdue; a microsecond more: overdue."""
    last = 1_700_000_000.25
    on_the_dot = {"x": instance("x", last, 3.0)}
    assert ids(overdue(on_the_dot, last + 3.0)) == [], "an instance silent for exactly its TTL is not overdue yet"
    assert ids(overdue(on_the_dot, last + 3.0 + 1e-6)) == ["x"], "silent for its TTL and a bit more: overdue"
    assert ids(overdue({"y": instance("y", 100.0, 2.5)}, 102.5)) == []
    assert ids(overdue({"y": instance("y", 100.0, 2.5)}, 102.5001)) == ["y"]


@points(1, must_pass=True)
def test_each_instance_is_judged_by_its_own_ttl(overdue):
    """Five instances silent for 5 s with TTLs 1, 4.9, 5, 5.1 and 60: only the first two are overdue."""
    now = 1_700_000_500.0
    instances = {f"ttl-{ttl:g}": instance(f"ttl-{ttl:g}", now - 5.0, ttl) for ttl in (1.0, 4.9, 5.0, 5.1, 60.0)}
    assert ids(overdue(instances, now)) == ["ttl-1", "ttl-4.9"]


# --- Task 1, plugged in: a running registry with the learner's expiry -----------------------------------
@pytest.fixture
def expiry_spec(learner_file, overdue):
    try:  # the registry calls it ten times a second; if it raises, the registry's reaper stops for good
        ids(overdue({}, time.time()))
    except Exception as exc:
        pytest.fail(f"overdue({{}}, now) raised {type(exc).__name__}: {exc}; a registry loading it could never expire anyone")
    return f"{learner_file('expiry.py')}:overdue"


@points(3)
def test_registry_drops_a_sigkilled_instance_after_its_ttl_and_never_a_live_one(launch, expiry_spec):
    """SIGKILL one of three catalog instances: the registry drops it no sooner than its TTL after its last
    heartbeat and soon after; the two that keep beating are never dropped."""
    registry = launch("registry", "graded-registry", expiry=expiry_spec)
    catalogs = [launch("catalog", f"graded-catalog-{i}", registry_url=registry.url, registry_ttl=TTL,
                       data_dir=str(registry.config["data_dir"]) + "-catalog") for i in (1, 2, 3)]
    assert wait_until(lambda: listed(registry, "catalog") == {c.name for c in catalogs}), \
        f"the three instances did not all register: {listed(registry, 'catalog')}"
    started = time.time()
    catalogs[1].kill()
    expired = wait_until(lambda: [e for e in events(registry, "expired") if e["id"] == "graded-catalog-2"])
    assert expired, (f"graded-catalog-2 was SIGKILLed and is still registered after {WAIT:g} s "
                     f"(its TTL is {TTL:g} s): {listed(registry, 'catalog')}")
    silent_for = expired[0]["at"] - expired[0]["last_heartbeat"]
    assert silent_for >= TTL, f"dropped {silent_for:.2f} s after its last heartbeat: before its TTL of {TTL:g} s"
    assert silent_for <= TTL + 0.6, f"dropped {silent_for:.2f} s after its last heartbeat: well past its TTL of {TTL:g} s"
    # the live ones beat every TTL / 3: watch them for three TTLs in all, they must never be dropped
    while time.time() - started < 3 * TTL:
        time.sleep(0.1)
    wrongly = sorted({e["id"] for e in events(registry, "expired")} - {"graded-catalog-2"})
    assert not wrongly, f"live instances (heartbeat every {TTL / 3:.2f} s, TTL {TTL:g} s) were dropped: {wrongly}"
    assert listed(registry, "catalog") == {"graded-catalog-1", "graded-catalog-3"}


@points(2)
def test_registry_expires_many_services_each_by_its_own_ttl(launch, beating, expiry_spec):
    """Three services, each with beating instances, silent ones (TTL 1 s) and a silent one with a 60 s TTL:
    exactly the short-TTL silent ones are dropped, in every service."""
    registry = launch("registry", "graded-registry", expiry=expiry_spec)
    silent, kept = set(), {}
    for service in ("alpha", "beta", "gamma"):
        kept[service] = set()
        for n in range(3):
            beating(registry, service, f"{service}-live-{n}")
            kept[service].add(f"{service}-live-{n}")
        for n in range(2):
            beating(registry, service, f"{service}-silent-{n}", silent=True)
            silent.add(f"{service}-silent-{n}")
        beating(registry, service, f"{service}-patient", ttl=60.0, silent=True)
        kept[service].add(f"{service}-patient")
    everyone = silent | set().union(*kept.values())
    assert wait_until(lambda: {e["id"] for e in events(registry, "registered")} == everyone), \
        "the instances did not all register"
    gone = wait_until(lambda: silent <= {e["id"] for e in events(registry, "expired")} and
                      {e["id"] for e in events(registry, "expired")})
    assert gone and silent <= gone, (f"instances silent past their {TTL:g} s TTL were not dropped within "
                                     f"{WAIT:g} s: {sorted(silent - set(gone or ()))}")
    time.sleep(TTL)  # one more TTL: the live ones keep beating, the patient ones have 60 s
    wrongly = sorted({e["id"] for e in events(registry, "expired")} - silent)
    assert not wrongly, f"dropped although beating, or within a 60 s TTL: {wrongly}"
    for service, expected in kept.items():
        assert listed(registry, service) == expected, f"{service}: listed {sorted(listed(registry, service))}"


# --- Task 2: the client-side cache, used from here ---------------------------------------------------
@pytest.fixture(scope="module")
def ServiceCache(learner_object):
    return learner_object("cache.py", "ServiceCache")


@pytest.fixture
def registry(launch):
    return launch("registry", "graded-registry")


def cached_ids(cache) -> set[str]:
    found = cache.instances()
    assert isinstance(found, list), f"instances() should return a list, got {type(found).__name__}"
    return {i["id"] for i in found}


def refresh_in_time(cache, limit=10.0):
    """cache.refresh() in a thread: its answer, or a failure if it has not returned after `limit` seconds."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(answer=cache.refresh()), daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"refresh() did not return within {limit:g} s: it hangs")
    if "answer" not in out:
        pytest.fail("refresh() raised (see the thread's traceback above): it must return False, not raise")
    return out["answer"]


@points(2)
def test_cache_lists_what_the_registry_lists(ServiceCache, registry, beating):
    """refresh() takes the registry's list (ids, URLs, epoch); instances() gives it until the next refresh;
    a new instance appears and a deregistered one vanishes after a refresh; other services stay apart."""
    a, b = beating(registry, "catalog", "cat-a"), beating(registry, "catalog", "cat-b")
    beating(registry, "orders", "ord-a")
    assert wait_until(lambda: listed(registry, "catalog") == {"cat-a", "cat-b"})
    cache = ServiceCache(registry.url, "catalog")
    assert cache.refresh() is True, "refresh() should return True when the registry answered"
    assert cached_ids(cache) == {"cat-a", "cat-b"}
    assert {i["id"]: i["url"] for i in cache.instances()} == {"cat-a": a.url, "cat-b": b.url}
    assert cache.stale is False, "stale should be False right after a successful refresh"
    cache.instances().clear()
    assert cached_ids(cache) == {"cat-a", "cat-b"}, "instances() should return a new list: clearing it emptied the cache"
    assert cache.epoch == registry.get("/services/catalog").json()["epoch"], "epoch should be the registry's"
    beating(registry, "catalog", "cat-c")
    assert wait_until(lambda: "cat-c" in listed(registry, "catalog"))
    assert cached_ids(cache) == {"cat-a", "cat-b"}, "instances() should give the last refresh's list, not ask again"
    assert cache.refresh() is True and cached_ids(cache) == {"cat-a", "cat-b", "cat-c"}, "a new instance was missed"
    b.deregister()
    assert cache.refresh() is True and cached_ids(cache) == {"cat-a", "cat-c"}, "a deregistered instance is still there"
    other = ServiceCache(registry.url, "orders")
    assert other.refresh() is True and cached_ids(other) == {"ord-a"}, "a cache of 'orders' lists orders' instances"


@points(2, must_pass=True)
def test_cache_keeps_serving_when_the_registry_is_killed(ServiceCache, registry, beating):
    """Registry SIGKILLed: refresh() returns False (it does not raise), instances() still gives the last list,
    stale is True; a cache that never reached the registry is empty and stale."""
    beating(registry, "catalog", "cat-a"), beating(registry, "catalog", "cat-b")
    assert wait_until(lambda: listed(registry, "catalog") == {"cat-a", "cat-b"})
    cache = ServiceCache(registry.url, "catalog")
    assert cache.refresh() is True and cached_ids(cache) == {"cat-a", "cat-b"}
    registry.kill()
    for _ in range(3):
        assert refresh_in_time(cache) is False, "refresh() should return False when the registry is down"
        assert cached_ids(cache) == {"cat-a", "cat-b"}, "the last known instances should still be served"
        assert cache.stale is True, "stale should be True after a failed refresh"
    never = ServiceCache(registry.url, "catalog")
    assert refresh_in_time(never) is False and never.instances() == [] and never.stale is True


@points(1, must_pass=True)
def test_cache_refresh_gives_up_on_a_frozen_registry(ServiceCache, registry, beating):
    """Registry frozen (SIGSTOP: it accepts connections and never answers): refresh() gives up after its
    timeout and returns False, keeping the last list."""
    beating(registry, "catalog", "cat-a")
    assert wait_until(lambda: listed(registry, "catalog") == {"cat-a"})
    cache = ServiceCache(registry.url, "catalog", timeout=0.5)
    assert cache.refresh() is True and cached_ids(cache) == {"cat-a"}
    os.killpg(registry.pid, signal.SIGSTOP)
    try:
        assert refresh_in_time(cache, limit=6.0) is False, "a registry that does not answer: refresh() is False"
        assert cached_ids(cache) == {"cat-a"} and cache.stale is True
    finally:
        os.killpg(registry.pid, signal.SIGCONT)


@points(2)
def test_cache_catches_up_after_a_registry_restart(ServiceCache, registry, beating):
    """Registry killed and started again, empty, with a new epoch: once the instances have registered again,
    refresh() gives the whole list and the new epoch; an instance new since the restart appears too."""
    beating(registry, "catalog", "cat-a"), beating(registry, "catalog", "cat-b")
    assert wait_until(lambda: listed(registry, "catalog") == {"cat-a", "cat-b"})
    cache = ServiceCache(registry.url, "catalog")
    assert cache.refresh() is True
    old_epoch = cache.epoch
    registry.kill()
    assert refresh_in_time(cache) is False
    registry.restart()
    assert wait_until(lambda: listed(registry, "catalog") == {"cat-a", "cat-b"}), "the instances did not re-register"
    assert refresh_in_time(cache) is True and cached_ids(cache) == {"cat-a", "cat-b"}
    assert cache.stale is False and cache.epoch != old_epoch, "after a restart the registry has a new epoch"
    beating(registry, "catalog", "cat-c")
    assert wait_until(lambda: "cat-c" in listed(registry, "catalog"))
    assert cache.refresh() is True and cached_ids(cache) == {"cat-a", "cat-b", "cat-c"}


# --- Task 2, plugged in: a balancer that discovers with the learner's cache ---------------------------
@points(3)
def test_balancer_with_your_cache_keeps_traffic_flowing_without_the_registry(launch, learner_file, ServiceCache):
    """A balancer loads ServiceCache: it finds two catalog instances; with the registry SIGKILLed every
    request still succeeds, on both; after a restart it finds a third instance launched since."""
    registry = launch("registry", "graded-registry")
    try:  # the balancer calls refresh() twice a second and instances() after it
        ServiceCache(registry.url, "catalog").refresh()
        ServiceCache(registry.url, "catalog").instances()
    except Exception as exc:
        pytest.fail(f"ServiceCache(...).refresh() or instances() raised {type(exc).__name__}: {exc}; "
                    f"a balancer using it would never find a backend")
    data = str(registry.config["data_dir"]) + "-catalog"
    catalogs = [launch("catalog", f"graded-catalog-{i}", registry_url=registry.url, registry_ttl=TTL, data_dir=data)
                for i in (1, 2)]
    lb = launch("balancer", "graded-lb", upstream="catalog", registry_url=registry.url,
                discovery=f"{learner_file('cache.py')}:ServiceCache", discovery_every=0.2)

    def backends():
        return {b["id"] for b in lb.get("/_balancer/status").json()["backends"]}

    assert wait_until(lambda: backends() == {"graded-catalog-1", "graded-catalog-2"}), \
        f"the balancer did not find the two instances through your cache: its backends are {sorted(backends())}"
    registry.kill()
    answers = []
    for _ in range(40):
        answer = lb.get("/products/1")
        answers.append((answer.status_code, answer.headers.get("X-Backend")))
        time.sleep(0.03)
    failed = [status for status, _ in answers if status != 200]
    assert not failed, f"with the registry down, {len(failed)} of 40 requests failed ({sorted(set(failed))})"
    assert {backend for _, backend in answers} == {"graded-catalog-1", "graded-catalog-2"}
    registry.restart()
    launch("catalog", "graded-catalog-3", registry_url=registry.url, registry_ttl=TTL, data_dir=data)
    assert wait_until(lambda: backends() == {"graded-catalog-1", "graded-catalog-2", "graded-catalog-3"}), \
        f"after the registry came back, the new instance never reached the balancer: {sorted(backends())}"
    seen = {lb.get("/products/1").headers.get("X-Backend") for _ in range(9)}
    assert "graded-catalog-3" in seen, f"the new instance got no traffic: {seen}"
