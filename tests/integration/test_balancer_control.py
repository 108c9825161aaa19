"""microcosm.services.balancer.control: what a cell gives a balancer and reads back, against a real one."""
import uuid
from collections import Counter
from pathlib import Path

import pytest

from microcosm.services.balancer.control import backend, backends, served, status

ECHO = str(Path(__file__).parent / "services" / "echo_service.py")


def test_served_counts_what_each_backend_answered(launch):
    tag = uuid.uuid4().hex[:6]
    echoes = [launch(ECHO, f"echo-{tag}-{i}", traffic=False) for i in (1, 2)]
    lb = launch("balancer", f"lb-{tag}", upstream="echo", backends=backends(echoes), traffic=False)
    assert [b["id"] for b in status(lb)["backends"]] == [e.name for e in echoes]  # named, not by port
    before = served(lb)
    answered = Counter(lb.get("/echo").headers["X-Backend"] for _ in range(6))
    after = served(lb)
    assert {name: after[name] - before[name] for name in after} == answered == {e.name: 3 for e in echoes}
    assert backend(lb, echoes[1].name)["state"] == "up" and backend(lb, echoes[1].name)["url"] == echoes[1].url
    with pytest.raises(KeyError):
        backend(lb, "no-such-backend")
