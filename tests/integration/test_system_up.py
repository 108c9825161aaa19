"""microcosm.up() / down() and `python -m microcosm up|status|down`, over real processes.

The whole system is started once for the module (`system`): every component answers, and it is wired as the
topology says (a shopper's journey through the CDN's page and the gateway to orders and the broker's
consumers). Then: up() twice is the same system; a component that fails to start is named with its log and
leaves nothing running; down() leaves no process; and the terminal command, in a process of its own, stops the
system on SIGINT, SIGTERM, SIGKILL, or `down` from another process, leaving no orphans.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import psutil
import pytest
import requests

import microcosm
from microcosm.clients import Client
from microcosm.system import Component, SystemStartError, Topology, url
from microcosm.traffic.monitor import STREAM
from microcosm.testing import gone, refuses_connections, wait_until

pytestmark = pytest.mark.timeout(180)

PASSWORD = "correct horse battery staple"


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


@pytest.fixture(scope="module")
def system():
    microcosm.down()
    yield microcosm.up()
    microcosm.down()


def test_every_component_of_the_whole_system_runs_and_answers(system):
    assert system.alive and [c.name for c in system.topology.order()][:2] == ["redis", "zookeeper"]
    for process in system.processes():
        assert process.alive, process.name
        if hasattr(process, "url") and process.url.startswith("http"):
            assert requests.get(process.url + "/health", timeout=5).status_code == 200, process.name
    assert system["redis"].client().ping()
    zk = system["zookeeper"].client()
    try:
        assert zk.get("/") is not None
    finally:  # else its thread reconnects for as long as this process lives, to a ZooKeeper that has gone
        zk.stop()
        zk.close()
    expected = {"catalog", "balancer", "orders", "identity", "carts", "inventory", "notifications", "web", "gateway"}
    registered = wait_until(lambda: expected <= set(system["registry"].get("/services").json()["services"]),
                            timeout=10)  # each registers from a thread of its own, right after it starts
    assert registered, system["registry"].get("/services").json()


def test_each_instance_was_launched_once_what_it_needs_answered_and_independent_ones_together(system):
    timings, topology = system.timings, system.topology
    assert set(timings) == {p.name for p in system.processes()}
    for component in topology:
        for name in component.instance_names():
            launched, ready = timings[name]
            for need in topology.needs(component.name):
                for other in topology[need].instance_names():
                    assert timings[other][1] <= launched, (name, "launched before", other, "was ready")
            assert launched < ready <= system.start_seconds
    catalogs = [timings["catalog-1"], timings["catalog-2"]]  # neither waits for the other: they overlap
    assert max(c[0] for c in catalogs) < min(c[1] for c in catalogs)
    shown = repr(system.timeline())
    assert shown.splitlines()[0].split() == ["instance", "waited", "for", "launched", "at", "(s)", "ready", "at", "(s)"]


def test_a_shopper_goes_from_the_cdn_through_the_gateway_to_the_consumers(system):
    cdn, gateway = system["cdn"], system["gateway"]
    page = requests.get(cdn.url + "/", timeout=5)
    assert page.status_code == 200 and f"connect-src 'self' {gateway.url}" in page.headers["Content-Security-Policy"]
    assert requests.get(cdn.url + "/config.json", timeout=5).json()["gateway_url"] == gateway.link
    preflight = requests.options(gateway.url + "/api/orders", timeout=5, headers={
        "Origin": cdn.url, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
    assert preflight.headers.get("Access-Control-Allow-Origin") == cdn.url
    assert requests.get(gateway.url + "/api/orders", timeout=5).status_code == 401  # tokens are checked
    name = f"shopper{uuid.uuid4().hex[:6]}"
    assert system["identity"].post("/users", json={"username": name, "password": PASSWORD}).status_code == 201
    token = Client(gateway.url + "/api").login(name, PASSWORD)
    shopper = Client(gateway.url + "/api", token=token)
    products = shopper.get("/products")
    assert products.status_code == 200 and products.headers.get("RateLimit-Limit")  # the rate limit counts
    order = shopper.place_order(product_id=1, quantity=1)
    settled = wait_until(lambda: shopper.order(order["id"])["status"] != "pending", timeout=20)
    assert settled, "inventory never answered the OrderPlaced event"
    lb = system["catalog-lb"].get("/_balancer/status").json()
    assert sorted(b["url"] for b in lb["backends"]) == sorted(c.url for c in system["catalog"])


def test_every_service_records_its_hops_in_the_systems_redis_for_the_traffic_view(system):
    services = [p for p in system.processes() if getattr(p, "config", None) is not None]
    assert services and all(p.config.get("traffic_redis") == system["redis"].url for p in services)
    store = system["redis"].client()
    before = store.xlen(STREAM)
    assert requests.get(system["catalog-lb"].url + "/products/1", timeout=5).status_code == 200
    assert wait_until(lambda: store.xlen(STREAM) > before, timeout=5), "no hop recorded: the monitor would be empty"


def test_the_handle_names_services_and_shows_a_table(system):
    assert [c.name for c in system["catalog"]] == ["catalog-1", "catalog-2"]
    assert system.catalog_lb is system["catalog-lb"] and system["catalog-2"] is system["catalog"][1]
    assert system.gateway.service_name == "gateway"
    with pytest.raises(KeyError, match="no component or instance 'warehouse'"):
        system["warehouse"]
    page = system._repr_html_()
    for process in system.processes():
        assert f">{process.name}<" in page and f">{process.pid}<" in page
    assert f"<a href='{system.gateway.link}'" in page and "RSS MB" in page
    assert f"{len(system.processes())} of {len(system.processes())} processes running" in repr(system)


def test_up_twice_returns_the_running_system(system):
    pids = sorted(p.pid for p in system.processes())
    assert microcosm.up() is system
    assert sorted(p.pid for p in system.processes()) == pids


def test_up_after_a_crash_starts_again_only_what_died(system):
    others = {p.name: p.pid for p in system.processes() if p.name != "notifications"}
    system["notifications"].kill()
    assert not system.alive
    again = microcosm.up()
    assert again.alive and again["notifications"].alive
    assert {p.name: p.pid for p in again.processes() if p.name != "notifications"} == others


def test_up_with_a_smaller_topology_keeps_what_it_shares_and_stops_the_rest():
    whole = microcosm.system.current()
    pids = {p.name: p.pid for p in whole.processes()}
    part = microcosm.up(microcosm.system.SYSTEM.only("catalog-lb"))
    kept = {p.name: p.pid for p in part.processes()}
    assert set(kept) == {"redis", "registry", "catalog-1", "catalog-2", "catalog-lb"}
    assert kept == {name: pids[name] for name in kept}  # the same processes, not started again
    assert wait_until(lambda: all(gone(pid) for name, pid in pids.items() if name not in kept), timeout=10)
    assert microcosm.system.current() is part and part.alive


def test_down_stops_every_process_of_the_system(system):
    system = microcosm.system.current()  # the one up() gave after the crash above (the same processes)
    pids = [p.pid for p in system.processes()]
    urls = [p.url for p in system.processes() if getattr(p, "url", "").startswith("http")]
    microcosm.down()
    assert wait_until(lambda: all(gone(pid) for pid in pids), timeout=10)
    assert all(refuses_connections(u) for u in urls)
    assert not set(pids) & children()
    microcosm.down()  # twice: nothing to do


def test_a_component_that_fails_to_start_is_named_and_nothing_is_left_running():
    before = children()
    broken = Topology(
        Component("redis"),
        Component("sys-catalog", "catalog"),
        Component("sys-gateway", "gateway", upstreams={"catalog": url("sys-catalog")}, cors_origins=["not an origin"]),
        Component("sys-edge", "cdn", origin=url("sys-gateway")),  # needs the broken one: never started
    )
    with pytest.raises(SystemStartError) as caught:
        microcosm.up(broken)
    assert caught.value.component == "sys-gateway"
    message = str(caught.value)
    assert message.startswith("'sys-gateway' did not start") and "nothing is left running" in message
    assert "--- last log lines ---" in message and "'not an origin' is not an origin" in message
    assert wait_until(lambda: children() <= before, timeout=10), children() - before
    assert microcosm.runtime.process.started("sys-edge") is None
    assert microcosm.system.current() is None


# --- the terminal command ----------------------------------------------------------------------------------------
SMALL = ["--only", "catalog-lb"]  # redis, registry, catalog-1, catalog-2, catalog-lb


@pytest.fixture
def terminal(tmp_path):
    """Run `python -m microcosm ...` as another process would, with a state file of this test's own."""
    env = dict(os.environ, MICROCOSM_STATE=str(tmp_path / "system.json"), MICROCOSM_RUN_DIR=str(tmp_path / "run"))
    for name in ("MICROCOSM_REDIS_URL", "MICROCOSM_ZK_HOSTS", "MICROCOSM_PARENT_PID"):
        env.pop(name, None)
    started = []

    def run(*args, wait=True):
        argv = [sys.executable, "-m", "microcosm", *args]
        if wait:
            return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        # SIGINT ignored, as a non-interactive shell starts a background job (and as some test runners' workers
        # pass it on): the supervisor must still stop on Ctrl-C
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        started.append(proc)
        return proc

    run.state = tmp_path / "system.json"
    yield run
    state = run.state.exists() and json.loads(run.state.read_text())
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if state and state.get("phase") == "up":
        for row in state["instances"]:
            if row.get("pid") and not gone(row["pid"]):
                os.killpg(row["pid"], signal.SIGKILL)


def wait_up(terminal) -> dict:
    assert wait_until(lambda: terminal.state.exists() and json.loads(terminal.state.read_text()).get("phase") == "up",
                      timeout=60), "the supervisor never said it was up"
    return json.loads(terminal.state.read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_the_terminal_command_runs_until_a_signal_and_leaves_no_orphan(terminal, sig):
    supervisor = terminal("up", *SMALL, wait=False)
    state = wait_up(terminal)
    pids = [r["pid"] for r in state["instances"]]
    assert [r["name"] for r in state["instances"]] == ["redis", "registry", "catalog-1", "catalog-2", "catalog-lb"]
    assert requests.get(state["instances"][-1]["url"] + "/products", timeout=15).status_code == 200
    shown = terminal("status")
    assert shown.returncode == 0 and "5 of 5 processes running" in shown.stdout, shown.stdout
    assert f"supervisor pid {supervisor.pid}" in shown.stdout
    os.killpg(supervisor.pid, sig)  # to its process group, as a terminal's Ctrl-C does (its instances have their own)
    try:  # its instances have 5 s to finish, then Redis 5 s: a loaded machine may need more than that
        output, _ = supervisor.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        supervisor.kill()
        output, _ = supervisor.communicate()
        pytest.fail(f"the supervisor did not stop within 60 s of {sig.name}; it wrote:\n{output}")
    assert wait_until(lambda: all(gone(pid) for pid in pids), timeout=10), \
        (f"an instance outlived its supervisor: {[p for p in pids if not gone(p)]}", output)
    if sig != signal.SIGKILL:  # a clean way out: the supervisor stopped them and said so
        assert supervisor.returncode == 0 and "microcosm is down." in output, output
        assert "5 of 5 processes running" in output and "Ctrl-C here" in output  # the table it printed once up
        assert not terminal.state.exists()
    after = terminal("status")
    assert after.returncode == 3, after.stdout  # a stale state file counts as down (and is removed)
    assert not terminal.state.exists()


def test_up_detached_then_down_from_another_process(terminal):
    first = terminal("up", "--detach", *SMALL)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "microcosm is up in the background" in first.stdout and "catalog-lb" in first.stdout
    state = json.loads(terminal.state.read_text())
    again = terminal("up", *SMALL)  # harmless: says what runs, starts nothing
    assert again.returncode == 0 and "already up" in again.stdout
    assert json.loads(terminal.state.read_text()) == state
    stopped = terminal("down")
    assert stopped.returncode == 0 and "microcosm is down (5 processes" in stopped.stdout, stopped.stdout
    assert all(gone(pid) for pid in [state["pid"]] + [r["pid"] for r in state["instances"]])
    assert not terminal.state.exists()
    assert "not up" in terminal("down").stdout


def test_the_terminal_command_says_which_component_failed(terminal, tmp_path):
    shop = tmp_path / "shop.py"
    shop.write_text("from microcosm.system import Component, Topology, url\n"
                    "SHOP = Topology(Component('redis'), Component('catalog'),\n"
                    "                Component('lb', 'balancer', backends=[url('catalog')], strategy='no_such'))\n")
    failed = terminal("up", "--topology", f"{shop}:SHOP")
    assert failed.returncode == 1
    assert "'lb' did not start" in failed.stdout and "--- last log lines ---" in failed.stdout, failed.stdout
    assert "microcosm is down." in failed.stdout and not terminal.state.exists()


def test_the_console_script_is_the_same_command(terminal):
    script = os.path.join(os.path.dirname(sys.executable), "microcosm")  # pyproject's [project.scripts]
    answer = subprocess.run([script, "status"], env={**os.environ, "MICROCOSM_STATE": str(terminal.state)},
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode == 3 and answer.stdout.strip() == "microcosm is not up.", answer.stdout + answer.stderr
