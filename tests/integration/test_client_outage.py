"""Callers through a hang (microcosm/clients/outage.py, chapter 09) against a real catalog paused with SIGSTOP
and resumed: the caller without a breaker sends every call to the hung service; the one with a breaker sends a
few, refuses the rest without sending them, and closes again once the service is back; both get answers at the
end. What is checked is what happened to each call, never how long it took."""
from __future__ import annotations

import threading
import uuid

import pytest

from microcosm.clients import CircuitBreaker, outage

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def catalog(launch, tmp_path):
    return launch("catalog", f"outage-catalog-{uuid.uuid4().hex[:6]}", data_dir=str(tmp_path), traffic=False)


def test_a_breaker_sends_less_to_a_hung_service_and_closes_when_it_is_back(catalog):
    run = outage.through_a_hang(catalog, {"plain": None, "guarded": CircuitBreaker(failures=2, cool_down=0.5)},
                                before=0.3, hang=1.5, after=0.3, read_timeout=0.3)
    assert catalog.status == "running"  # resumed
    plain, guarded = run.attempts("plain", "2. hung"), run.attempts("guarded", "2. hung")
    assert plain and all(a["outcome"] != outage.REFUSED for a in plain)  # every call went to the hung service
    assert any(a["outcome"] == "timeout" for a in plain)
    refused = [a for a in guarded if a["outcome"] == outage.REFUSED]
    assert refused and len(refused) < len(guarded)  # a few sent (to open it, and probes), the rest refused
    assert all(a["ms"] == 0.0 for a in refused)
    assert run.path("guarded")[:2] == ["closed", "open"] and run.path("guarded")[-1] == "closed"
    assert "half_open" in run.path("guarded") and run.closed_after("guarded") >= 0
    assert run.path("plain") == ["closed"] and run.closed_after("plain") is None
    for name in ("plain", "guarded"):
        done_before = [a for a in run.attempts(name) if a["t"] < run.hung_at]  # ended before the pause
        assert done_before and all(a["outcome"] == "200" for a in done_before)
        assert run.attempts(name)[-1]["outcome"] == "200"  # answered again at the end
    rows = {(r[0], r[1]): r for r in run.rows()}
    assert len(rows) == 6 and rows[("guarded", "2. hung")][5] == len(refused)
    assert sum(r[2] for r in run.rows()) == sum(len(run.attempts(n)) for n in ("plain", "guarded"))
    assert run.chart("guarded").transitions


def test_the_service_is_resumed_and_the_callers_stop_when_the_run_is_interrupted(catalog):
    class Interrupted(Exception):
        pass

    class InterruptedWhileHung:  # the catalog, and a learner pressing Interrupt once it is paused
        url = catalog.url

        def pause(self):
            catalog.pause()
            raise Interrupted

        def resume(self):
            catalog.resume()

    with pytest.raises(Interrupted):
        outage.through_a_hang(InterruptedWhileHung(), {"plain": None}, before=0.2, hang=5.0, read_timeout=0.2)
    assert catalog.status == "running" and catalog.get("/products/1").status_code == 200
    assert not [t for t in threading.enumerate() if t.name.startswith("outage-")]  # the callers stopped
