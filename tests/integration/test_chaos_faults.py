"""The chaos faults done to real processes: killed, frozen, slowed, cut off, restarted, and always put back."""
from __future__ import annotations

import statistics
import time
import uuid

import pytest
import requests

from microcosm.chaos import experiment, faults
from microcosm.runtime.infra import RedisServer
from microcosm.testing import gone, process_state


def times_ms(ask, n: int = 7, apart: float = 0.0) -> list[float]:
    """How long each of `n` calls of `ask` took (ms), `apart` seconds between two."""
    out = []
    for _ in range(n):
        time.sleep(apart)
        t0 = time.perf_counter()
        ask()
        out.append((time.perf_counter() - t0) * 1000)
    return out


@pytest.fixture(scope="module")
def shared_catalog(launch_for_module, tmp_path_factory):
    return launch_for_module("catalog", f"chaos-catalog-{uuid.uuid4().hex[:6]}", traffic=False,
                             data_dir=str(tmp_path_factory.mktemp("chaos") / "catalog"))


@pytest.fixture
def catalog(shared_catalog):
    """The module's catalog, running, unfrozen and without chaos for each test; every fault put back after."""
    if not shared_catalog.alive:
        shared_catalog.start()
    shared_catalog.resume()
    shared_catalog.chaos()
    yield shared_catalog
    faults.undo_all(restart_killed=False)


def test_kill_ends_the_process_and_undo_starts_it_again_on_the_same_url(catalog):
    pid, url = catalog.pid, catalog.url
    fault = faults.kill(catalog)
    assert gone(pid) and not catalog.alive
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/health", timeout=2)
    assert fault in faults.in_force() and fault.pid == pid and fault.action == "kill"
    fault.undo()
    assert catalog.alive and catalog.pid != pid and catalog.url == url
    assert requests.get(f"{url}/products/1", timeout=5).status_code == 200
    assert fault not in faults.in_force() and fault.undone_at >= fault.at


def test_pause_freezes_the_process_and_undo_lets_it_run(catalog):
    fault = faults.pause(catalog)
    assert process_state(catalog.pid) == "T"
    with pytest.raises(requests.Timeout):  # the connection is accepted, the answer never comes
        requests.get(f"{catalog.url}/products/1", timeout=0.5)
    fault.undo()
    assert process_state(catalog.pid) in ("S", "R")
    assert requests.get(f"{catalog.url}/products/1", timeout=5).status_code == 200


def test_resume_button_counts_the_pause_as_undone(catalog):
    paused = faults.pause(catalog)
    faults.resume(catalog)
    assert process_state(catalog.pid) in ("S", "R") and paused.undone_at is not None and not faults.in_force()


def test_slow_service_answers_slower_than_before_and_undo_restores_its_chaos(catalog):
    catalog.chaos(fail_rate=0.0, fail_status=502)  # an earlier setting the undo must bring back
    ask = lambda: requests.get(f"{catalog.url}/products/1", timeout=10)  # noqa: E731
    before = times_ms(ask)
    fault = faults.slow(catalog, ms=200)
    during = times_ms(ask)
    assert catalog.get("/_chaos").json()["delay_ms"] == 200
    fault.undo()
    after = times_ms(ask)
    assert statistics.median(during) > 3 * statistics.median(before)
    assert statistics.median(after) < statistics.median(during) / 3
    assert catalog.get("/_chaos").json() == {"delay_ms": 0, "fail_next": 0, "fail_rate": 0.0, "fail_status": 502}


def test_slow_redis_is_throttled_by_signals_and_runs_freely_after(tmp_path):
    server = RedisServer(name=f"chaos-redis-{uuid.uuid4().hex[:6]}", aof=False).start()
    try:
        client = server.client(socket_timeout=5)
        # pings spread out, so most of them land while it is frozen (back to back, they would crowd into the
        # slice it runs in)
        before = times_ms(client.ping, 15, apart=0.033)
        fault = faults.slow(server, share=0.2)
        during = times_ms(client.ping, 15, apart=0.033)
        fault.undo()
        after = times_ms(client.ping, 15, apart=0.033)
        assert statistics.median(during) > 5 * statistics.median(before)
        assert statistics.median(after) < statistics.median(during) / 5
        assert process_state(server.pid) in ("S", "R")
    finally:
        server.stop()
        server.forget()


def test_isolate_without_a_link_makes_it_unreachable_until_undone(catalog):
    fault = faults.isolate(catalog)
    assert "SIGSTOP" in fault.detail
    with pytest.raises(requests.Timeout):
        requests.get(f"{catalog.url}/products/1", timeout=0.5)
    fault.undo()
    assert requests.get(f"{catalog.url}/products/1", timeout=5).status_code == 200


def test_isolate_behind_a_link_cuts_the_link_while_the_process_runs_on(launch, catalog):
    link = launch("netem", f"chaos-link-{uuid.uuid4().hex[:6]}", upstream=catalog.url, silent_hold=2.0)
    assert requests.get(f"{link.url}/products/1", timeout=5).status_code == 200
    fault = faults.isolate(catalog, link=link)
    with pytest.raises(requests.RequestException):
        requests.get(f"{link.url}/products/1", timeout=0.5)
    assert requests.get(f"{catalog.url}/products/1", timeout=5).status_code == 200  # itself, it runs on
    fault.undo()
    assert requests.get(f"{link.url}/products/1", timeout=5).status_code == 200
    assert link.get("/_netem").json()["drop_rate"] == 0.0


def test_restart_gives_a_new_process_on_the_same_url(catalog):
    pid = catalog.pid
    fault = faults.restart(catalog)
    assert gone(pid) and catalog.pid != pid and fault.pid == catalog.pid
    assert requests.get(f"{catalog.url}/products/1", timeout=5).status_code == 200
    assert not fault.undoable


def test_an_experiment_puts_everything_back_when_its_block_raises(launch, catalog, tmp_path):
    other = launch("catalog", f"chaos-other-{uuid.uuid4().hex[:6]}", data_dir=str(tmp_path / "other"),
                   traffic=False)
    with pytest.raises(RuntimeError, match="the cell failed"):
        with experiment("two faults, then an error") as ex:
            ex.pause(catalog)
            ex.slow(other, ms=300)
            assert process_state(catalog.pid) == "T"
            raise RuntimeError("the cell failed")
    assert process_state(catalog.pid) in ("S", "R")
    assert other.get("/_chaos").json()["delay_ms"] == 0
    assert not faults.in_force() and all(f.undone_at for f in ex.faults)


def test_a_fault_on_a_stopped_process_is_refused_with_what_to_do(catalog):
    catalog.stop()
    with pytest.raises(ValueError, match="not running"):
        faults.pause(catalog)
    with pytest.raises(TypeError, match="not a process"):
        faults.kill("catalog")

