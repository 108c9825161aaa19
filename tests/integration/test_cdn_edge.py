"""The edge as a process among the others: its admin routes need the launch secret, no input gives a 500,
its hops are recorded with the cache result, a freshness plug-in is loaded at launch, regions differ in
distance, and the origin's hop-by-hop headers stop at the edge."""
import time
import uuid
from pathlib import Path

import pytest
import requests

from cdn_helpers import Cdn
from microcosm import LaunchError, trust
from microcosm.traffic.hops import newest_hops
from raw_http import raw_request
from raw_server import RawServer

PLUGINS = str(Path(__file__).parent / "services" / "cdn_freshness_plugins.py")


@pytest.fixture(scope="module")
def cdn(launch_for_module):
    cdn = Cdn(launch_for_module, traffic=True, region="eu")
    cdn.script("/thing", [("Cache-Control", "max-age=60")], body="a thing")
    return cdn


def test_purge_needs_the_launch_secret(cdn):
    assert cdn.get("/thing").headers["X-Cache"] in ("MISS", "HIT")
    assert cdn.get("/thing").headers["X-Cache"] == "HIT"
    url = cdn.edge.url + "/_cdn/purge"
    nobody = requests.post(url, json={"path": "/thing"})
    wrong = requests.post(url, json={"path": "/thing"}, headers={trust.ADMIN_HEADER: "guess"})
    assert (nobody.status_code, wrong.status_code) == (401, 403)
    assert nobody.json()["reason"] == "admin_only"
    assert requests.get(cdn.edge.url + "/_cdn/status").status_code == 401
    assert cdn.get("/thing").headers["X-Cache"] == "HIT"  # nothing was purged
    assert cdn.edge.post("/_cdn/purge", json={"path": "/thing"}).json() == {"purged": 1}
    assert cdn.get("/thing").headers["X-Cache"] == "MISS"
    assert cdn.edge.post("/_cdn/purge", json={"prefix": "/th"}).json() == {"purged": 1}
    assert cdn.edge.get("/_cdn/status").json()["settings"]["origin"] == cdn.origin.url


@pytest.mark.parametrize("body", [{"path": "thing"}, {"all": 1}, {"path": "/a", "all": True}, {"nope": 1}, [],
                                  {"prefix": 7}])
def test_a_bad_purge_is_a_400_that_says_what_to_send(cdn, body):
    answer = cdn.edge.post("/_cdn/purge", json=body)
    assert answer.status_code == 400 and answer.json()["message"]


@pytest.mark.parametrize("method, target, headers, expected", [
    ("GET", "/a/../thing", {}, 400),
    ("GET", "/a/%2e%2E/thing", {}, 400),
    ("GET", "/./thing", {}, 400),
    ("GET", "http://elsewhere.example/thing", {}, 400),
    ("FOO", "/thing", {}, 400),  # a method the edge's HTTP parser does not know
    ("GET", "/thing", {"X-Huge": "x" * 20_000}, 431),  # a header field over 8190 bytes: Request Header Fields Too Large
    ("GET", "/thing", {"Cache-Control": "max-age=" + "9" * 5000}, 200),
    ("GET", "/thing", {"Cache-Control": ",".join(f"x{i}=1" for i in range(1000))}, 200),
    ("GET", "/thing", {"Cache-Control": '"=,=",="'}, 200),
    ("GET", "/thing", {"If-Modified-Since": "yesterday", "If-None-Match": ",,,"}, 200),
    ("GET", "/thing", {"Vary": "*", "Age": "-5"}, 200),
    ("PROPFIND", "/thing", {}, 405),  # a method it knows but does not cache: passed through, the origin says 405
    ("POST", "/_cdn/nothing", {}, 404),
    ("DELETE", "/metrics", {}, 405),
])
def test_malformed_input_gets_a_4xx_in_json_or_a_correct_pass_through(cdn, method, target, headers, expected):
    status, answer_headers, body = raw_request(cdn.edge.url, method, target, headers)
    assert status == expected, body
    if status >= 400:
        assert isinstance(body, dict) and body["status"] == status and body["message"]


def test_a_request_body_over_the_limit_is_a_413(cdn):
    answer = cdn.get("/thing", "POST", data=b"x" * (1 << 20 + 1))
    assert answer.status_code == 413 and answer.json()["status"] == 413


def test_hops_carry_the_cache_result_and_the_bytes(cdn, redis_server):
    """Every answer is a hop client -> cdn with cache, bytes and region; the origin's hop has the cdn as caller."""
    cdn.script("/hops", [("Cache-Control", "max-age=60")], body="12345")
    ids = [uuid.uuid4().hex for _ in range(2)]
    with requests.Session() as session:  # kept alive: the hit may come from the fast path, recorded the same way
        for rid in ids:
            assert session.get(cdn.edge.url + "/hops", headers={"X-Request-ID": rid}).status_code == 200
    client = redis_server.client(decode_responses=False)
    deadline, hops = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        hops = [h for h in newest_hops(client, 2000) if h["request_id"] in ids]
        if len(hops) >= 3:
            break
        time.sleep(0.05)
    edge = {h["request_id"]: h for h in hops if h["callee"] == "cdn"}
    origin = [h for h in hops if h["callee"] == "scripted_origin"]
    assert (edge[ids[0]]["cache"], edge[ids[1]]["cache"]) == ("miss", "hit")
    assert edge[ids[0]]["bytes"] == edge[ids[1]]["bytes"] == "5" and edge[ids[0]]["instance"] == cdn.edge.name
    assert edge[ids[1]]["path"] == "/hops" and edge[ids[1]]["region"] == "eu" and edge[ids[1]]["caller"] == "client"
    assert len(origin) == 1 and origin[0]["request_id"] == ids[0]
    assert (origin[0]["caller"], origin[0]["parent"]) == ("cdn", edge[ids[0]]["hop"])


def test_the_origins_hop_by_hop_headers_stop_at_the_edge(launch):
    class HopByHopOrigin(RawServer):
        def serve(self, conn, number):
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nConnection: keep-alive, X-Origin-Hop\r\n"
                             b"X-Origin-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-End-To-End: kept\r\n"
                             b"Content-Length: 2\r\n\r\nok")

    origin = HopByHopOrigin()
    try:
        edge = launch("cdn", f"cdn-hop-{uuid.uuid4().hex[:6]}", origin=origin.url, traffic=False)
        for expected in ("MISS", "HIT"):
            answer = requests.get(edge.url + "/x")
            assert (answer.text, answer.headers["X-Cache"], answer.headers["X-End-To-End"]) == ("ok", expected, "kept")
            assert "X-Origin-Hop" not in answer.headers and "Keep-Alive" not in answer.headers
    finally:
        origin.close()


def test_regions_differ_by_their_injected_distance_to_the_origin(cdn, launch):
    far = launch("cdn", f"cdn-far-{cdn.tag}", origin=cdn.origin.url, region="us", origin_delay_ms=300, traffic=False)
    assert (cdn.edge.get("/health").json()["region"], far.get("/health").json()["region"]) == ("eu", "us")
    assert far.get("/_cdn/status").json()["settings"]["origin_delay_ms"] == 300
    cdn.script("/far", [("Cache-Control", "max-age=60")])
    assert [requests.get(far.url + "/far").headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert cdn.count("/far")["last_headers"]["Via"] == f"1.1 {far.name}"


def test_a_freshness_plug_in_is_loaded_at_launch_and_checked(cdn, launch):
    """plugin.py: freshness="file.py:Name" replaces the calculation, storable="file.py:name" the rule of what
    is stored; their bugs are a 500 that names them."""
    buggy = launch("cdn", f"cdn-buggy-{cdn.tag}", origin=cdn.origin.url, traffic=False, freshness=f"{PLUGINS}:Buggy",
                   storable=f"{PLUGINS}:stores_private")
    cdn.script("/plug", [("Cache-Control", "max-age=60")])
    cdn.script("/plug-private", [("Cache-Control", "private, max-age=60")], etag='"p"')
    assert [requests.get(buggy.url + "/plug-private").headers["X-Cache"] for _ in range(2)] == ["MISS", "REVALIDATED"]
    assert buggy.get("/_cdn/status").json()["settings"]["storable"] == "stores_private"  # (stored: a wrong rule)
    cdn.script("/plug-404", [("Cache-Control", "max-age=60")], status=404)
    assert [requests.get(buggy.url + "/plug").headers["X-Cache"] for _ in range(2)] == ["MISS", "MISS"]
    assert buggy.get("/_cdn/status").json()["settings"]["freshness"] == "Buggy"
    requests.get(buggy.url + "/plug-404")
    answer = requests.get(buggy.url + "/plug-404")
    assert answer.status_code == 500 and "Buggy.decide raised ZeroDivisionError: oops" in answer.json()["message"]
    assert requests.get(buggy.url + "/plug").status_code == 200  # the edge goes on
    with pytest.raises(LaunchError, match="no method lifetime, age, decide"):
        launch("cdn", f"cdn-none-{cdn.tag}", origin=cdn.origin.url, traffic=False, freshness=f"{PLUGINS}:NoMethods")


def test_a_hit_from_the_fast_path_is_the_same_answer_as_from_aiohttp(cdn):
    """fastpath.py answers fresh hits on a kept-alive connection from the parser; HTTP/1.0 takes aiohttp's way.
    Both give the same status, headers and body (apart from the request id, and aiohttp's Server header)."""
    cdn.script("/fast", [("Cache-Control", "max-age=600"), ("Content-Type", "text/plain"), ("X-Thing", "1"),
                         ("Age", "5"), ("X-Cache", "HIT from an upstream cache")], body="same bytes", etag='"f1"')
    with requests.Session() as session:
        answers = [session.get(cdn.edge.url + "/fast") for _ in range(6)]
    fast = [a for a in answers[1:] if "Server" not in a.headers]
    assert fast, "no answer came from the fast path"
    status, slow_headers, slow_body = raw_request(cdn.edge.url, "GET", "/fast", version="HTTP/1.0")
    per_request = {"x-request-id", "server", "connection", "age"}
    slow = {k.lower(): v for k, v in slow_headers.items() if k.lower() not in per_request}
    quick = {k.lower(): v for k, v in fast[0].headers.items() if k.lower() not in per_request}
    assert (status, slow, slow_body) == (fast[0].status_code, quick, fast[0].content)
    assert quick["x-cache"] == "HIT" and quick["etag"] == '"f1"'  # one X-Cache, ours
    assert fast[0].headers["Age"].isdigit() and slow_headers["Age"].isdigit()  # one Age, ours (5 or more)
    head = requests.Session()
    head.get(cdn.edge.url + "/fast")
    answer = head.head(cdn.edge.url + "/fast")
    assert (answer.content, answer.headers["Content-Length"]) == (b"", str(len("same bytes")))


def _answers(sock_file, count: int) -> list[tuple[int, dict, bytes]]:
    """`count` HTTP/1.1 answers read in turn from one connection (Content-Length framed, as the edge sends)."""
    answers = []
    for _ in range(count):
        status = int(sock_file.readline().split()[1])
        headers = {}
        while (line := sock_file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        answers.append((status, headers, sock_file.read(int(headers.get("content-length", 0)))))
    return answers


def test_pipelined_requests_are_answered_in_order_whichever_way_each_goes(cdn):
    """Hits, a miss and a malformed head sent back to back on one connection (the fast path reads heads itself
    until the first one it leaves to aiohttp): every answer comes, in the order asked."""
    import socket

    cdn.script("/pipe/hit", [("Cache-Control", "max-age=600")], body="hit")
    cdn.script("/pipe/miss", [("Cache-Control", "no-store")], body="miss")
    cdn.get("/pipe/hit")
    host = cdn.edge.url.split("//")[1]
    get = lambda path, extra="": f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()  # noqa: E731
    with socket.create_connection(tuple(host.split(":")), timeout=10) as sock, sock.makefile("rb") as f:
        sock.sendall(get("/pipe/hit") + get("/pipe/hit")[:20])  # the second head arrives in two pieces
        time.sleep(0.05)
        sock.sendall(get("/pipe/hit")[20:] + get("/pipe/miss") + get("/pipe/hit") + get("/pipe/hit", "X-A: é\r\n"))
        answers = _answers(f, 5)
        sock.sendall(get("/pipe/hit"))
        answers += _answers(f, 1)
    assert [(s, h["x-cache"], b) for s, h, b in answers] == [
        (200, "HIT", b"hit"), (200, "HIT", b"hit"), (200, "MISS", b"miss"), (200, "HIT", b"hit"),
        (200, "HIT", b"hit"), (200, "HIT", b"hit")]
    assert [h.get("server") is None for _, h, _ in answers[:2]] == [True, True]  # read by the fast path
    status, slow_headers, slow_body = raw_request(cdn.edge.url, "GET", "/pipe/hit", version="HTTP/1.0")
    per_request = {"x-request-id", "server", "connection", "age"}
    assert (200, {k.lower(): v for k, v in slow_headers.items() if k.lower() not in per_request}, slow_body) == \
        (answers[0][0], {k: v for k, v in answers[0][1].items() if k not in per_request}, answers[0][2])
