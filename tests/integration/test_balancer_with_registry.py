"""The balancer fed by the registry, with real processes: two "Done when" items of issue 4.

- With the registry stopped, requests through the balancer keep succeeding on cached discovery.
- A newly launched instance receives traffic within one second of becoming healthy, timed by the system's
  own clocks: the registry's `registered` event and the first hop the new instance recorded for a request
  the balancer sent it (not the test's sleeps).

(test_balancer.py::test_backends_come_from_the_registry_and_a_new_instance_gets_traffic checks that the
backends come from the registry at all; these go further.)
"""
import threading
import time

import pytest

import microcosm
from microcosm.traffic.hops import STREAM, read_hops
from microcosm.testing import wait_until


def backends(lb) -> dict:
    return {b["id"]: b for b in lb.get("/_balancer/status").json()["backends"]}


# "stop" is a clean stop (SIGTERM): waitress stops serving at once but finishes its held long polls, so the
# registry must not expire the instances it no longer hears meanwhile, or its watchers would cache the
# shrunken list (Registry.close()).
@pytest.mark.parametrize("outage", ["kill", "stop"])
def test_traffic_keeps_flowing_on_cached_discovery_while_the_registry_is_down(launch, tmp_path, outage):
    registry = launch("registry")
    catalogs = [launch("catalog", f"catalog-{i}", data_dir=str(tmp_path), registry_url=registry.url, registry_ttl=1.0)
                for i in (1, 2, 3)]
    lb = launch("balancer", "lb", upstream="catalog", registry_url=registry.url)
    names = {c.name for c in catalogs}
    assert wait_until(lambda: set(backends(lb)) == names, timeout=10), backends(lb)
    before = {name: b["served"] for name, b in backends(lb).items()}

    getattr(registry, outage)()  # SIGKILL, or a clean SIGTERM: either way nobody answers at its address
    assert not registry.alive
    result = microcosm.load(lb, "browse", users=5, duration=3, show=False)

    assert result.requests > 20, repr(result)
    assert result.failures == 0, f"requests failed while the registry was down: {result!r}"
    after = backends(lb)
    assert set(after) == names, "the balancer forgot backends when the registry went away"
    assert all(after[name]["served"] > before[name] for name in names), \
        f"not every cached backend served during the outage: {before} -> { {n: b['served'] for n, b in after.items()} }"
    assert lb.get("/_balancer/status").json()["source"] == "registry"


def test_a_new_instance_gets_traffic_within_a_second_of_registering(launch, tmp_path, redis_server):
    registry = launch("registry")
    launch("catalog", "catalog-1", data_dir=str(tmp_path), registry_url=registry.url)
    lb = launch("balancer", "lb-new", upstream="catalog", registry_url=registry.url)
    assert wait_until(lambda: set(backends(lb)) == {"catalog-1"}, timeout=10)
    redis = redis_server.client(decode_responses=False)
    newest = redis.xrevrange(STREAM, count=1)
    since = newest[0][0].decode() if newest else "0"

    stop, statuses = threading.Event(), []

    def keep_asking():  # steady traffic through the balancer, as callers would send it
        while not stop.is_set():
            statuses.append(lb.get("/products/1").status_code)
            time.sleep(0.005)

    traffic = threading.Thread(target=keep_asking, daemon=True)
    traffic.start()
    try:
        new = launch("catalog", "catalog-new", data_dir=str(tmp_path), registry_url=registry.url)

        def first_hop():
            hops, _ = read_hops(redis, since=since)
            served = [h["ts"] for h in hops
                      if h["instance"] == new.name and h["caller_instance"] == "lb-new" and h["status"] == 200]
            return min(served) if served else None

        first = wait_until(first_hop, timeout=10)
    finally:
        stop.set()
        traffic.join(timeout=15)

    registered = [e["at"] for e in registry.get("/events").json()["events"]
                  if e["event"] == "registered" and e["id"] == new.name]
    assert registered, "the new instance never registered"
    assert first is not None, "the new instance never got a request from the balancer"
    delay = first - registered[0]
    assert delay < 1.0, f"the new instance got its first request {delay:.2f} s after it registered"
    assert statuses and all(s == 200 for s in statuses), f"statuses meanwhile: {sorted(set(statuses))}"
