"""The network-conditions proxy (microcosm/services/netem.py) as a real process in front of a real catalog:
latency, bandwidth and drops judged by the proxy's own accounting and by what a client sees, never by a clock."""
from __future__ import annotations

import socket
import uuid

import pytest
import requests

from microcosm.clients import Client
from microcosm.clients.errors import ClientError


@pytest.fixture(scope="module")
def catalog(launch_for_module, tmp_path_factory):
    service = launch_for_module("catalog", f"netem-catalog-{uuid.uuid4().hex[:8]}", traffic=False,
                                data_dir=str(tmp_path_factory.mktemp("netem") / "catalog"))
    for i in range(20):
        service.post("/products", json={"name": f"product number {i}", "price_cents": 100 + i})
    return service


@pytest.fixture(scope="module")
def shared_netem(launch_for_module, catalog):
    return launch_for_module("netem", f"netem-{uuid.uuid4().hex[:8]}", upstream=catalog.url)


@pytest.fixture
def netem(shared_netem):
    """One proxy for the module, a clean link and zeroed counters for each test."""
    assert shared_netem.delete("/_netem").status_code == 200
    assert shared_netem.delete("/_netem/stats").status_code == 200
    return shared_netem


def stats(netem) -> dict:
    answer = netem.get("/_netem/stats")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_clean_link_passes_requests_and_counts_them(netem, catalog):
    direct = requests.get(f"{catalog.url}/products")
    through = requests.get(f"{netem.url}/products")
    assert through.status_code == 200 and through.json() == direct.json()
    s = stats(netem)
    assert s["round_trips"] == 1 and s["connections"] == 1 and s["dropped"] == 0  # its own routes are not counted
    assert s["bytes_down"] > len(through.content)  # the body and the head of the answer
    assert s["bytes_up"] > 0 and s["added_latency_ms"] == 0 and s["paced_ms"] == 0
    assert s["recent"][-1]["path"] == "/products" and s["recent"][-1]["bytes_down"] == s["bytes_down"]


def test_latency_is_added_per_direction_and_accounted(netem):
    assert netem.put("/_netem", json={"delay_up_ms": 30, "delay_down_ms": 50}).status_code == 200
    for _ in range(3):
        assert requests.get(f"{netem.url}/products/1").status_code == 200
    s = stats(netem)
    assert s["round_trips"] == 3 and s["added_latency_ms"] == 3 * (30 + 50)
    assert [r["added_ms"] for r in s["recent"]] == [80, 80, 80]


def test_a_slow_answer_comes_after_a_fast_one_sent_later(netem, catalog):
    """Ordering, not a clock: with a long delay, a request made through the proxy finishes after one made
    directly, although it was sent first."""
    from concurrent.futures import ThreadPoolExecutor
    netem.put("/_netem", json={"delay_down_ms": 1500})
    finished = []
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(lambda: (requests.get(f"{netem.url}/products/1"), finished.append("proxy")))
        while not stats(netem)["recent"]:  # the slow request is inside the proxy
            pass
        requests.get(f"{catalog.url}/products/1")
        finished.append("direct")
        slow.result()
    assert finished == ["direct", "proxy"]


def test_the_bandwidth_limit_paces_every_byte(netem):
    netem.put("/_netem", json={"bandwidth": 4000})
    answer = requests.get(f"{netem.url}/products")
    assert answer.status_code == 200 and len(answer.content) > 1000
    s = stats(netem)
    carried = s["bytes_up"] + s["bytes_down"]
    assert s["paced_ms"] == pytest.approx(carried / 4000 * 1000, abs=0.01)  # no byte went without its share
    assert s["paced_ms"] >= len(answer.content) / 4000 * 1000


@pytest.mark.parametrize("mode, seen", [("reset", requests.ConnectionError), ("silent", requests.ReadTimeout)])
def test_dropped_requests_are_counted_and_fail_for_the_client(netem, mode, seen):
    netem.put("/_netem", json={"drop_next": 2, "drop_mode": mode})
    for _ in range(2):
        with pytest.raises(seen):
            requests.get(f"{netem.url}/products/1", timeout=0.3)
    assert requests.get(f"{netem.url}/products/1").status_code == 200  # the third one passes
    s = stats(netem)
    assert s["dropped"] == 2 and s["round_trips"] == 1
    assert [r.get("dropped") for r in s["recent"]] == [mode, mode, None]


def test_a_share_dropped_is_seen_by_the_python_client(netem):
    netem.put("/_netem", json={"drop_rate": 1.0, "drop_mode": "reset"})
    client = Client(netem.url, timeout=0.5, retry=None, budget=None, breaker=None)
    with pytest.raises(ClientError):
        client.get("/products/1")
    assert stats(netem)["dropped"] == 1
    netem.delete("/_netem")
    assert client.get("/products/1").json()["id"] == 1


@pytest.mark.parametrize("headers, status", [({}, 401), ({"X-Admin-Secret": "guess"}, 403)])
def test_admin_routes_need_the_launch_secret(netem, headers, status):
    for method, path in (("PUT", "/_netem"), ("GET", "/_netem"), ("DELETE", "/_netem"), ("GET", "/_netem/stats"),
                         ("DELETE", "/_netem/stats")):
        answer = requests.request(method, netem.url + path, json={"drop_rate": 1.0}, headers=headers)
        assert answer.status_code == status and answer.json()["reason"] == "admin_only"
    assert stats(netem)["settings"]["drop_rate"] == 0.0


@pytest.mark.parametrize("body, field", [
    ({"delay_up_ms": -1}, "delay_up_ms"), ({"delay_down_ms": 60_001}, "delay_down_ms"),
    ({"delay_down_ms": 1.5}, "delay_down_ms"), ({"bandwidth": "fast"}, "bandwidth"), ({"bandwidth": True}, "bandwidth"),
    ({"drop_rate": 1.01}, "drop_rate"), ({"drop_rate": None}, "drop_rate"), ({"drop_next": -2}, "drop_next"),
    ({"drop_mode": "sometimes"}, "drop_mode"), ({"jitter_ms": 5}, "jitter_ms"), ([1, 2], None), ("slow", None),
])
def test_bad_settings_are_a_400_naming_them(netem, body, field):
    answer = netem.put("/_netem", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_request" and answer.json().get("field") == field
    assert stats(netem)["settings"]["drop_rate"] == 0.0  # nothing half-applied


@pytest.mark.parametrize("raw, status", [
    (b"PUT /_netem HTTP/1.1\r\nContent-Length: 5\r\n\r\n{bad}", 401),  # no secret: refused whatever the body
    (b"PUT /_netem HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
    (b"GARBAGE\r\n\r\n", 400), (b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /_netem/nothing HTTP/1.1\r\n\r\n", 404), (b"POST /_netem HTTP/1.1\r\n\r\n", 405),
    (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
])
def test_malformed_requests_get_json_errors(netem, raw, status):
    with socket.create_connection(("127.0.0.1", int(netem.url.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode() and b'"error"' in body


def test_a_body_that_is_not_json_is_a_400(netem):
    answer = netem.put("/_netem", data=b"{bad", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "JSON" in answer.json()["message"]


def test_reset_clears_settings_and_counters(netem):
    netem.put("/_netem", json={"delay_down_ms": 5, "drop_next": 3})
    assert netem.delete("/_netem").json()["drop_next"] == 0
    requests.get(f"{netem.url}/products/1")
    assert stats(netem)["round_trips"] == 1
    assert netem.delete("/_netem/stats").json()["round_trips"] == 0


def test_an_upstream_that_is_gone_is_a_502(launch, refused_url):
    netem = launch("netem", upstream=refused_url())
    answer = requests.get(f"{netem.url}/anything")
    assert answer.status_code == 502 and answer.json()["error"] == "bad_gateway"
    assert stats(netem)["upstream_errors"] == 1
