"""`python -m microcosm.serve` as a container runs it: no inherited socket, the address from the environment
(MICROCOSM_HOST, MICROCOSM_PORT, which the exported Dockerfile sets), no parent to die with."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import requests

from microcosm.runtime.ports import free_port
from microcosm.serve import _reachable, instance_name, parse


def test_the_address_comes_from_the_environment_when_no_option_gives_it(monkeypatch):
    monkeypatch.setenv("MICROCOSM_HOST", "0.0.0.0")
    monkeypatch.setenv("MICROCOSM_PORT", "8000")
    args = parse(["catalog"])
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    assert parse(["catalog", "--port", "9001", "--host", "127.0.0.1"]).port == 9001  # an option still wins


def test_without_the_environment_a_service_stays_on_loopback(monkeypatch):
    monkeypatch.delenv("MICROCOSM_HOST", raising=False)
    monkeypatch.delenv("MICROCOSM_PORT", raising=False)
    args = parse(["catalog"])
    assert (args.host, args.port) == ("127.0.0.1", 0)


def test_bound_to_every_address_it_advertises_one_others_can_reach():
    assert _reachable("127.0.0.1") == "127.0.0.1"
    address = _reachable("0.0.0.0")
    assert address not in ("0.0.0.0", "")  # its host name's address (a container's IP), never the wildcard


def test_replicas_sharing_a_command_line_are_told_apart_by_their_host_name(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "3f2a1b9c0d4e")
    assert instance_name(parse(["catalog", "--host", "0.0.0.0"])) == "catalog-3f2a1b9c0d4e"
    assert instance_name(parse(["catalog", "--host", "0.0.0.0", "--name", "catalog"])) == "catalog"
    assert instance_name(parse(["catalog", "--host", "127.0.0.1"])) == "catalog"  # on one machine, as before


def test_a_service_started_from_the_environment_answers_on_that_port(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MICROCOSM_PARENT_PID"}
    env.update(MICROCOSM_HOST="127.0.0.1", MICROCOSM_PORT=str(port), PYTHONUNBUFFERED="1")
    config = json.dumps({"data_dir": str(tmp_path)})
    child = subprocess.Popen([sys.executable, "-m", "microcosm.serve", "catalog", "--config", config], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, answer = time.monotonic() + 20, None
        while time.monotonic() < deadline and child.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.RequestException:  # not listening yet, or slow to answer on a busy machine
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200, "the service never answered on MICROCOSM_PORT"
        assert answer.json()["service"] == "catalog"
    finally:
        child.terminate()
        out, _ = child.communicate(timeout=10)
    assert f"on http://127.0.0.1:{port}" in out
