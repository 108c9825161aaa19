"""The load balancer with real processes over HTTP: strategies, health, ejection, retries, proxying, faults."""
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

import microcosm
from microcosm.traffic.hops import newest_hops
from microcosm.testing import wait_until

ECHO = str(Path(__file__).parent / "services" / "echo_service.py")


def status(lb) -> dict:
    return lb.get("/_balancer/status").json()


def served(lb) -> dict:
    return {b["url"]: b["served"] for b in status(lb)["backends"]}


def state_of(lb, url) -> str:
    return next(b["state"] for b in status(lb)["backends"] if b["url"] == url)


@pytest.fixture
def silent_backend():
    """A backend that accepts connections and never answers a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])  # read nothing, answer nothing
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


@pytest.fixture(scope="module")
def catalogs(launch_for_module, tmp_path_factory):
    """Three catalog instances sharing one database, for the tests that do not kill them."""
    data = str(tmp_path_factory.mktemp("catalog"))
    return [launch_for_module("catalog", f"lb-catalog-{i}", data_dir=data) for i in (1, 2, 3)]


@pytest.fixture
def fresh_catalogs(launch, tmp_path):
    """Three catalog instances of this test's own (to kill, restart or slow down)."""
    return [launch("catalog", f"catalog-{i}", data_dir=str(tmp_path)) for i in (1, 2, 3)]


@pytest.fixture
def balancer(launch):
    def make(backends, **config):
        return launch("balancer", "lb", upstream="catalog", backends=backends, **config)
    return make


# --- strategies ------------------------------------------------------------------------------------
def test_round_robin_spreads_evenly(balancer, catalogs):
    lb = balancer([c.url for c in catalogs])
    for _ in range(30):
        assert lb.get("/products/1").status_code == 200
    assert sorted(served(lb).values()) == [10, 10, 10]
    assert status(lb)["strategy"] == "round_robin"


def test_weighted_round_robin_follows_the_weights(balancer, catalogs):
    lb = balancer([{"url": catalogs[0].url, "weight": 3}, catalogs[1].url, catalogs[2].url],
                  strategy="weighted_round_robin")
    for _ in range(50):
        assert lb.get("/products/2").status_code == 200
    counts = served(lb)
    assert counts[catalogs[0].url] == 30 and counts[catalogs[1].url] == 10 and counts[catalogs[2].url] == 10


def test_weights_can_come_from_config_by_url(balancer, catalogs):
    lb = balancer([c.url for c in catalogs[:2]], strategy="weighted_round_robin",
                  weights={catalogs[1].url: 4})
    for _ in range(25):
        lb.get("/products/1")
    assert served(lb) == {catalogs[0].url: 5, catalogs[1].url: 20}


def backend_of(lb, user: str) -> str:
    answer = lb.get("/products/1", headers={"X-User": user})
    assert answer.status_code == 200
    return answer.headers["X-Backend"]


def test_consistent_hash_is_sticky_and_moves_few_keys_when_a_backend_joins(balancer, catalogs, launch, tmp_path):
    lb = balancer([c.url for c in catalogs[:3]], strategy="consistent_hash",
                  strategy_options={"key": "header:X-User"})
    users = [f"user-{i}" for i in range(60)]
    before = {u: backend_of(lb, u) for u in users}
    assert {u: backend_of(lb, u) for u in users} == before  # sticky: every user stays where it was
    assert len(set(before.values())) == 3  # and the users are spread over all three
    extra = launch("catalog", "lb-catalog-4", data_dir=catalogs[0].config["data_dir"])
    answer = lb.put("/_balancer/backends", json={"backends": [c.url for c in catalogs] + [extra.url]})
    assert answer.status_code == 200
    after = {u: backend_of(lb, u) for u in users}
    moved = [u for u in users if after[u] != before[u]]
    new_id = extra.url.split("//")[1]
    assert all(after[u] == new_id for u in moved)  # keys only move to the newcomer, never between old ones
    assert 0 < len(moved) <= len(users) * 0.45  # about a quarter; modulo hashing would move three quarters


def test_consistent_hash_on_a_query_parameter(balancer, catalogs):
    lb = balancer([c.url for c in catalogs], strategy="consistent_hash", strategy_options={"key": "query:cart"})
    first = {cart: lb.get(f"/products?cart={cart}").headers["X-Backend"] for cart in "abcdefgh"}
    again = {cart: lb.get(f"/products?cart={cart}").headers["X-Backend"] for cart in "abcdefgh"}
    assert first == again


def load_for(lb, seconds: float, threads: int = 8) -> int:
    """Concurrent GETs through the balancer for `seconds`; returns the number of failures."""
    failures = []
    end = time.monotonic() + seconds

    def worker():
        session = requests.Session()
        while time.monotonic() < end:
            if session.get(lb.url + "/products/1", timeout=10).status_code != 200:
                failures.append(1)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(failures)


@pytest.mark.parametrize("strategy", ["least_connections", "power_of_two"])
def test_busy_aware_strategies_keep_traffic_off_a_slow_backend(balancer, fresh_catalogs, strategy):
    slow = fresh_catalogs[0]
    lb = balancer([c.url for c in fresh_catalogs], strategy=strategy)
    slow.chaos(delay_ms=300)
    assert load_for(lb, 3.0) == 0
    counts = served(lb)
    total = sum(counts.values())
    assert total > 30
    assert counts[slow.url] / total < 0.15  # round robin would send it a third


def test_round_robin_does_not_avoid_a_slow_backend(balancer, fresh_catalogs):
    """The contrast for the test above: the same slow backend gets its full third."""
    slow = fresh_catalogs[0]
    lb = balancer([c.url for c in fresh_catalogs])
    slow.chaos(delay_ms=300)
    load_for(lb, 2.0)
    counts = served(lb)
    assert counts[slow.url] >= sum(counts.values()) / 3 - 2


def test_the_strategy_switches_at_run_time(balancer, catalogs):
    lb = balancer([c.url for c in catalogs])
    assert lb.get("/_balancer/strategy").json() == {"strategy": "round_robin"}
    assert len({lb.get("/products/1", headers={"X-User": "ann"}).headers["X-Backend"] for _ in range(6)}) == 3
    answer = lb.put("/_balancer/strategy", json={"strategy": "consistent_hash", "options": {"key": "header:X-User"}})
    assert answer.status_code == 200 and answer.json() == {"strategy": "consistent_hash"}
    assert len({lb.get("/products/1", headers={"X-User": "ann"}).headers["X-Backend"] for _ in range(6)}) == 1
    assert status(lb)["strategy"] == "consistent_hash"


def test_a_learners_strategy_loads_from_a_file(balancer, catalogs, tmp_path):
    (tmp_path / "mine.py").write_text(
        "def last_one(backends, request):\n    return backends[-1]\n\n"
        "class Broken:\n    def pick(self, backends, request):\n        raise RuntimeError('oops')\n")
    lb = balancer([c.url for c in catalogs], strategy=f"{tmp_path / 'mine.py'}:last_one")
    assert {lb.get("/products/1").headers["X-Backend"] for _ in range(5)} == {catalogs[2].url.split("//")[1]}
    assert lb.put("/_balancer/strategy", json={"strategy": f"{tmp_path / 'mine.py'}:Broken"}).status_code == 200
    answer = lb.get("/products/1")
    assert answer.status_code == 500
    assert "RuntimeError: oops" in answer.json()["message"]


# --- health and ejection ---------------------------------------------------------------------------
def test_active_health_checks_mark_a_killed_backend_down_and_up_after_restart(balancer, fresh_catalogs):
    victim = fresh_catalogs[1]
    lb = balancer([c.url for c in fresh_catalogs], health_interval=0.2)
    victim.kill()
    assert wait_until(lambda: state_of(lb, victim.url) == "down")
    assert all(lb.get("/products/1").status_code == 200 for _ in range(9))
    victim.restart()
    assert wait_until(lambda: state_of(lb, victim.url) == "up")
    before = served(lb)[victim.url]
    for _ in range(9):
        lb.get("/products/1")
    assert served(lb)[victim.url] > before


def test_passive_ejection_takes_a_failing_backend_out_and_back_after_a_cool_down(balancer, fresh_catalogs):
    bad = fresh_catalogs[0]
    lb = balancer([c.url for c in fresh_catalogs], eject_after=3, eject_for=2.0, health_interval=0.2)
    bad.chaos(fail_rate=1.0, fail_status=503)  # /health still answers: only real traffic sees the failures
    answers = [lb.get("/products/1").status_code for _ in range(12)]
    assert answers == [200] * 12  # each 503 was retried on another instance
    entry = next(b for b in status(lb)["backends"] if b["url"] == bad.url)
    assert entry["state"] == "ejected" and entry["failures"] == 3
    assert any("503" in e["error"] for e in entry["recent_errors"])
    bad.chaos()
    assert wait_until(lambda: state_of(lb, bad.url) == "up", timeout=10)
    before = served(lb)[bad.url]
    for _ in range(9):
        assert lb.get("/products/1").status_code == 200
    assert served(lb)[bad.url] > before


# --- retries and timeouts --------------------------------------------------------------------------
def test_no_failed_gets_when_an_instance_is_killed_under_load(balancer, fresh_catalogs):
    lb = balancer([c.url for c in fresh_catalogs])
    result = microcosm.load(lb, "browse", users=10, duration=6, events={2: fresh_catalogs[1].kill}, show=False)
    assert result.requests > 100
    assert result.failures == 0
    assert state_of(lb, fresh_catalogs[1].url) in ("down", "ejected")


def test_a_refused_connection_is_retried_even_for_a_post(balancer, catalogs, refused_url):
    lb = balancer([refused_url(), catalogs[0].url], health_interval=60)
    answer = lb.post("/products", json={"name": f"retried-{uuid.uuid4().hex[:8]}", "price_cents": 100})
    assert answer.status_code == 201  # the first pick refused: nothing was sent, so another got it


def test_a_post_is_not_retried_after_its_body_was_sent(balancer, catalogs, silent_backend):
    lb = balancer([silent_backend, catalogs[0].url], timeout=1.0, health_interval=60)
    name = f"not-twice-{uuid.uuid4().hex[:8]}"
    answer = lb.post("/products", json={"name": name, "price_cents": 100})  # round robin: the silent one first
    assert answer.status_code == 504
    assert answer.json()["error"] == "gateway_timeout"
    assert served(lb)[catalogs[0].url] == 0  # not sent on to the other instance
    names = [p["name"] for p in catalogs[0].get("/products", params={"limit": 1000}).json()["products"]]
    assert name not in names


def test_a_backend_that_never_answers_is_timed_out_and_the_get_goes_elsewhere(balancer, catalogs, silent_backend):
    lb = balancer([silent_backend, catalogs[0].url], timeout=1.0, health_interval=60)
    answer = lb.get("/products/1", timeout=10)  # a hang would fail here: the client gives up after 10 s
    assert answer.status_code == 200
    assert answer.headers["X-Backend"] == catalogs[0].url.split("//")[1]
    silent = next(b for b in status(lb)["backends"] if b["url"] == silent_backend)
    assert "did not answer" in silent["recent_errors"][-1]["error"]


def test_all_backends_down_gives_503_json_with_retry_after(balancer, refused_url):
    lb = balancer([refused_url(), refused_url()], health_interval=0.2)
    for _ in range(3):  # first while they are still trusted (both refuse), then once checks mark them down
        answer = lb.get("/products/1", timeout=10)
        assert answer.status_code == 503
        assert answer.headers["Content-Type"].startswith("application/json")
        assert int(answer.headers["Retry-After"]) >= 1
        body = answer.json()
        assert body["error"] == "service_unavailable" and "no catalog instance is available" in body["message"]
        assert body["request_id"]
    assert wait_until(lambda: all(b["state"] == "down" for b in status(lb)["backends"]))
    answer = lb.get("/products/1", timeout=10)
    assert answer.status_code == 503 and "Retry-After" in answer.headers


def test_no_backends_at_all_gives_503(balancer):
    lb = balancer([])
    answer = lb.get("/products", timeout=10)
    assert answer.status_code == 503 and answer.json()["status"] == 503


# --- proxying --------------------------------------------------------------------------------------
@pytest.fixture
def echo(launch):
    return launch(ECHO, "echo", max_body=64 * 1024 * 1024)


def test_forwarded_headers_are_added_and_hop_by_hop_ones_dropped(launch, echo):
    lb = launch("balancer", "lb", upstream="echo", backends=[echo.url])
    answer = lb.get("/echo", headers={
        "X-Request-ID": "req-forwarded", "X-Custom": "kept", "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "secret", "Keep-Alive": "timeout=5", "TE": "trailers", "Proxy-Authorization": "Basic eA==",
        "X-Forwarded-For": "203.0.113.7"})
    assert answer.status_code == 200
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{lb.port}"
    assert seen["host"] == echo.url.split("//")[1]
    assert seen["x-request-id"] == "req-forwarded" and answer.headers["X-Request-ID"] == "req-forwarded"
    assert seen["x-caller"] == "balancer" and seen["x-caller-instance"] == "lb"
    assert seen["x-custom"] == "kept"
    for hop_by_hop in ("x-private-hop", "keep-alive", "te", "proxy-authorization"):
        assert hop_by_hop not in seen
    assert seen.get("connection", "keep-alive").lower() == "keep-alive"  # the balancer's own pooled connection


def test_a_request_id_is_made_when_the_client_sends_none(launch, echo):
    lb = launch("balancer", "lb", upstream="echo", backends=[echo.url])
    answer = lb.get("/echo")
    rid = answer.json()["headers"]["X-Request-Id"]
    assert len(rid) == 32 and answer.headers["X-Request-ID"] == rid


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from Linux /proc")
def test_a_large_response_and_a_large_upload_are_streamed_not_buffered(launch, echo):
    lb = launch("balancer", "lb", upstream="echo", backends=[echo.url])
    lb.get("/echo")  # warm up
    before = rss_kb(lb.pid)
    received = 0
    with requests.get(lb.url + "/big?mb=20", stream=True, timeout=30) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_content(64 * 1024):
            received += len(chunk)
    assert received == 20 * 1024 * 1024

    def body():
        for _ in range(20 * 16):
            yield b"x" * 65536

    answer = requests.post(lb.url + "/upload", data=body(), timeout=30)  # chunked: streamed, size unknown
    assert answer.status_code == 200 and answer.json() == {"bytes": 20 * 1024 * 1024}
    peak = rss_kb(lb.pid, "VmHWM")  # the highest resident set the balancer ever had
    assert peak - before < 8 * 1024, f"RSS went from {before} kB to a peak of {peak} kB"


# --- its own API -----------------------------------------------------------------------------------
BAD_INPUT = [
    ("PUT", "/_balancer/strategy", {"data": "strategy=round_robin"}, 415),
    ("PUT", "/_balancer/strategy", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("PUT", "/_balancer/strategy", {"json": ["round_robin"]}, 400),
    ("PUT", "/_balancer/strategy", {"json": {}}, 400),
    ("PUT", "/_balancer/strategy", {"json": {"strategy": 3}}, 400),
    ("PUT", "/_balancer/strategy", {"json": {"strategy": "fastest"}}, 400),
    ("PUT", "/_balancer/strategy", {"json": {"strategy": "round_robin", "speed": 1}}, 400),
    ("PUT", "/_balancer/strategy", {"json": {"strategy": "consistent_hash", "options": {"key": "cookie"}}}, 400),
    ("PUT", "/_balancer/strategy", {"json": {"strategy": "round_robin", "options": {"bogus": 1}}}, 400),
    ("PUT", "/_balancer/strategy", {"json": {"strategy": "nowhere.py:pick"}}, 400),
    ("PUT", "/_balancer/backends", {"json": {"backends": "http://127.0.0.1:1"}}, 400),
    ("PUT", "/_balancer/backends", {"json": {"backends": ["not a url"]}}, 400),
    ("PUT", "/_balancer/backends", {"json": {"backends": ["https://127.0.0.1:1"]}}, 400),
    ("PUT", "/_balancer/backends", {"json": {"backends": [{"url": "http://127.0.0.1:1", "weight": -1}]}}, 400),
    ("PUT", "/_balancer/backends", {"json": {"backends": ["http://127.0.0.1:1", "http://127.0.0.1:1"]}}, 400),
    ("PUT", "/_balancer/backends", {"json": {"servers": []}}, 400),
    ("GET", "/_balancer/nothing", {}, 404),
    ("DELETE", "/_balancer/strategy", {}, 405),
    ("POST", "/_balancer/status", {}, 405),
]


def test_bad_input_to_the_balancers_api_gets_a_4xx_json_error(balancer, catalogs):
    lb = balancer([c.url for c in catalogs])
    for method, path, kwargs, expected in BAD_INPUT:
        answer = lb.request(method, path, **kwargs)
        assert answer.status_code == expected, (method, path, kwargs, answer.text)
        body = answer.json()
        assert body["status"] == expected and body["message"] and body["error"], body
    assert status(lb)["strategy"] == "round_robin" and len(status(lb)["backends"]) == 3  # nothing changed


def test_health_metrics_and_status(balancer, catalogs):
    lb = balancer([c.url for c in catalogs])
    for _ in range(6):
        lb.get("/products/1")
    lb.get("/products/999")
    assert lb.get("/health").json()["status"] == "ok"
    metrics = lb.metrics()
    assert metrics["service"] == "balancer"
    assert metrics["routes"]["GET (proxied)"]["count"] == 7
    assert metrics["routes"]["GET (proxied)"]["statuses"] == {"200": 6, "404": 1}
    s = status(lb)
    assert s["service"] == "catalog" and s["available"] == 3
    assert {"id", "url", "state", "in_flight", "served", "failures", "recent_errors"} <= set(s["backends"][0])


# --- traffic records -------------------------------------------------------------------------------
def test_hop_records_link_client_balancer_and_instance(balancer, catalogs, redis_server):
    lb = balancer([c.url for c in catalogs])
    rid = uuid.uuid4().hex
    assert lb.get("/products/2", headers={"X-Request-ID": rid}).status_code == 200
    client = redis_server.client(decode_responses=False)

    def hops():
        latest = newest_hops(client, 2000)  # earlier tests made many
        found = {h["callee"]: h for h in latest if h["request_id"] == rid}
        return found if len(found) == 2 else None

    found = wait_until(hops, timeout=10)
    assert found, "the balancer's and the instance's hops did not both arrive"
    b, c = found["balancer"], found["catalog"]
    assert (b["caller"], b["instance"], b["parent"], b["status"]) == ("client", "lb", "", 200)
    assert (c["caller"], c["caller_instance"], c["parent"], c["status"]) == ("balancer", "lb", b["hop"], 200)
    assert c["instance"] in {x.name for x in catalogs}


def test_backends_come_from_the_registry_and_a_new_instance_gets_traffic(launch, tmp_path):
    registry = launch("registry")
    first = launch("catalog", "catalog-1", data_dir=str(tmp_path), registry_url=registry.url)
    lb = launch("balancer", "lb", upstream="catalog", registry_url=registry.url)
    assert wait_until(lambda: [b["id"] for b in status(lb)["backends"]] == ["catalog-1"], timeout=10)
    assert status(lb)["source"] == "registry"
    second = launch("catalog", "catalog-2", data_dir=str(tmp_path), registry_url=registry.url)
    assert wait_until(lambda: len(status(lb)["backends"]) == 2, timeout=10)
    ids = {lb.get("/products/1").headers["X-Backend"] for _ in range(6)}
    assert ids == {"catalog-1", "catalog-2"}
    assert lb.put("/_balancer/backends", json={"backends": [first.url]}).status_code == 409
    second.stop()
    assert wait_until(lambda: [b["id"] for b in status(lb)["backends"]] == ["catalog-1"], timeout=10)
