"""The gateway's asyncio front (gateway/front/) answers as the Flask app under waitress does (issue 12).

Three gateways in front of the same services: one served by its front (the default: a plain GET/HEAD read
straight from the connection's bytes, front/fast.py), one by its front with `fast_path=False` (every request
through aiohttp's parser), one with `front=False` (waitress alone). The same requests get the same status, the
same JSON (apart from request ids) and the same allow-listed headers from the front's two ways and waitress; the
front's two ways answer byte for byte alike (apart from the date), pipelined requests in order across them; malformed input at the front is a 4xx in JSON; what the front answers itself is
still counted in /metrics and recorded as a hop; chaos set on the gateway still applies; a Redis that dies lets
requests through and the limit is exact again once it is back.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests

SERVICES = Path(__file__).parent / "services"
PATH_ECHO, LOCATED = str(SERVICES / "path_echo.py"), str(SERVICES / "located.py")
ROUTES = [  # (conftest's world has the first three too; a module of another folder's conftest can shadow it)
    {"prefix": "/api/echo", "service": "path_echo", "path": "/echo",
     "methods": {"GET": None, "PUT": [], "POST": [], "DELETE": []}},
    {"prefix": "/api/mine", "service": "path_echo", "path": "/mine", "methods": {"GET": [], "DELETE": []},
     "owner": True},
    {"prefix": "/api/prefixed", "service": "prefixed_echo", "path": "/p", "methods": {"GET": None}},
    {"prefix": "/api/loc", "service": "located", "path": "/loc", "methods": {"GET": None, "POST": None}},
]
from identity_helpers import ADMIN, CHEAP_ARGON2, user_token
from raw_http import raw_request
from microcosm.runtime.infra import RedisServer
from microcosm.traffic.hops import newest_hops

# headers whose value must be the same from both (the others: dates, ids, the server's name, lengths of ids)
COMPARED = ("Content-Type", "Location", "ETag", "Cache-Control", "Retry-After", "WWW-Authenticate", "Allow",
            "RateLimit-Limit", "Idempotent-Replayed", "Access-Control-Allow-Origin")
IDS = ("request_id", "X-Request-Id", "X-Request-ID", "X-Parent-Hop", "X-Identity-Proof",
       "X-Forwarded-Host", "X-Caller-Instance")  # (the last two: each gateway's own address and name)


@pytest.fixture(scope="module")
def pair(launch_for_module, tmp_path_factory):
    """(front, waitress-only) gateways over the same services, alice's and bob's Authorization headers, and the
    front with `fast_path=False`."""
    tag, root = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("front")

    def start(service, name, **config):
        return launch_for_module(service, f"front-{name}-{tag}", traffic=False, **config)

    identity = start("identity", "identity", data_dir=str(root / "identity"), admin_secret=ADMIN, argon2=CHEAP_ARGON2)
    catalog = start("catalog", "catalog", data_dir=str(root / "catalog"))
    orders = start("orders", "orders", catalog_url=catalog.url, data_dir=str(root / "orders"))
    stock = start("legacy_stock", "stock", data_dir=str(root / "stock"))
    echo = start(PATH_ECHO, "echo")
    located = start(LOCATED, "located")
    common = dict(identity_url=identity.url, routes=ROUTES, cors_origins=["http://shop.example"],
                  rate_limit={"capacity": 1000, "refill_per_s": 1},
                  upstreams={"catalog": catalog.url, "orders": orders.url, "stock": stock.url, "path_echo": echo.url,
                             "prefixed_echo": f"{echo.url}/behind", "located": located.url, "carts": "http://127.0.0.1:9"})
    front = start("gateway", "gw-front", rate_limit_prefix=f"front-{tag}:a:", **common)
    plain = start("gateway", "gw-waitress", front=False, rate_limit_prefix=f"front-{tag}:b:", **common)
    parsed = start("gateway", "gw-parsed", fast_path=False, rate_limit_prefix=f"front-{tag}:c:", **common)
    assert "asyncio front" in front.logs(50) and "with waitress" in plain.logs(50)
    alice = {"Authorization": f"Bearer {user_token(identity, 'alice')}"}
    bob = {"Authorization": f"Bearer {user_token(identity, 'bob')}"}
    return front, plain, alice, bob, parsed


def same_answer(answer):
    """What must be equal: status, JSON (or text) without request ids, the compared headers."""
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in IDS}
        if isinstance(body.get("headers"), dict):  # the echo's view of what reached it
            body["headers"] = {k: v for k, v in body["headers"].items() if k not in IDS}
    headers = {h: answer.headers.get(h) for h in COMPARED}
    if headers["Allow"]:  # werkzeug lists a rule's methods from a set: the order differs between processes
        headers["Allow"] = sorted(headers["Allow"].split(", "))
    return answer.status_code, body, headers


# name: (method, path, whose token, extra headers, body)
TABLE = {
    "a product (public)": ("GET", "/api/products/1", None, {}, None),
    "the product list": ("GET", "/api/products", None, {}, None),
    "HEAD of a product": ("HEAD", "/api/products/1", None, {}, None),
    "a product that is not there": ("GET", "/api/products/999999", None, {}, None),
    "an internal segment": ("GET", "/api/products/_chaos", None, {}, None),
    "an encoded slash": ("GET", "/api/echo/a%2Fb", None, {}, None),
    "a dot segment": ("GET", "/api/echo/%2e%2e/x", None, {}, None),
    "a double slash": ("GET", "/api/echo//x", None, {}, None),
    "a secret in the query": ("GET", "/api/echo/x?access_token=abc", None, {}, None),
    "a method the route has not": ("DELETE", "/api/products/1", None, {}, None),
    "PATCH": ("PATCH", "/api/echo/x", "alice", {}, b"{}"),
    "no token": ("GET", "/api/orders", None, {}, None),
    "a bad token": ("GET", "/api/orders", None, {"Authorization": "Bearer a.b.c"}, None),
    "not a bearer token": ("GET", "/api/orders", None, {"Authorization": "Basic YWxpY2U6cHc="}, None),
    "a good token": ("GET", "/api/echo/x/y?q=a%20b&r=1", "alice", {"Accept-Language": "de"}, None),
    "a made-up identity": ("GET", "/api/echo/x", "alice", {"X-User": "root", "X-Scopes": "admin"}, None),
    "someone else's resource": ("GET", "/api/mine/bob", "alice", {}, None),
    "one's own resource": ("GET", "/api/mine/alice/things", "alice", {}, None),
    "no resource named": ("GET", "/api/mine", "alice", {}, None),
    "a POST with a body": ("POST", "/api/echo/x", "alice", {"Content-Type": "application/json"}, b'{"a": 1}'),
    "a PUT": ("PUT", "/api/echo/x", "alice", {"Content-Type": "text/plain"}, b"hello"),
    "an upstream with a path": ("GET", "/api/prefixed/x", None, {}, None),
    "a Location made public": ("POST", "/api/loc/x", None, {}, b"a body"),
    "only allow-listed headers back": ("GET", "/api/loc/y", None, {}, None),
    "a service that refuses": ("GET", "/api/carts/alice", "alice", {}, None),
    "no route": ("GET", "/nope", None, {}, None),
    "the composition": ("GET", "/api/product-page/1", None, {}, None),
    "the translation": ("GET", "/api/stock/1", None, {}, None),
    "a CORS request": ("GET", "/api/products/1", None, {"Origin": "http://shop.example"}, None),
    "a preflight": ("OPTIONS", "/api/products/1", None, {"Origin": "http://shop.example",
                                                          "Access-Control-Request-Method": "GET"}, None),
    "headers too large": ("GET", "/api/products/1", None, {"X-Padding": "y" * 9000}, None),
    "a body over the limit": ("POST", "/api/echo/x", "alice", {"Content-Type": "text/plain"}, b"x" * 70_000),
}


ON_THE_LOOP = {"a product (public)", "the product list", "HEAD of a product", "a product that is not there",
               "an internal segment", "no token", "a bad token", "not a bearer token", "a good token",
               "a made-up identity", "someone else's resource", "one's own resource", "no resource named",
               "a POST with a body", "a PUT", "an upstream with a path", "a Location made public",
               "only allow-listed headers back", "a service that refuses"}
FROM_BYTES = {name for name in ON_THE_LOOP if TABLE[name][0] in ("GET", "HEAD")}  # (requests' heads are plain)


@pytest.mark.parametrize("way", ["from the bytes", "aiohttp's parser"])
@pytest.mark.parametrize("name", list(TABLE))
def test_the_front_answers_as_waitress_does(pair, name, way):
    plain, alice, bob = pair[1:4]
    front = pair[0] if way == "from the bytes" else pair[4]
    method, path, who, headers, body = TABLE[name]
    headers = {**({"alice": alice, "bob": bob}.get(who) or {}), **headers}
    before = front.get("/_gateway").json()["front"]
    answers = [requests.request(method, g.url + path, headers=headers, data=body, timeout=10) for g in (front, plain)]
    after = front.get("/_gateway").json()["front"]
    assert plain.get("/_gateway").json()["front"] is None  # waitress alone
    on_the_loop = after["on_the_loop"] - before["on_the_loop"]
    assert on_the_loop == (name in ON_THE_LOOP), (name, after, before)  # the front's own answer, or the app's
    from_bytes = after["read_from_bytes"] - before["read_from_bytes"]
    assert from_bytes == (name in FROM_BYTES and way == "from the bytes"), (name, after, before)
    if name == "headers too large":  # a field over 8190 bytes: the front's parser refuses it, in its words
        assert [a.status_code for a in answers] == [431, 431]
        assert answers[0].json()["error"] == answers[1].json()["error"] == "request_header_fields_too_large"
        return
    if name == "a body over the limit":  # waitress refuses it itself, in words of its own
        assert [a.status_code for a in answers] == [413, 413]
        assert answers[0].json()["error"] == answers[1].json()["error"] == "request_entity_too_large"
        return
    assert same_answer(answers[0]) == same_answer(answers[1])
    if name == "a Location made public":
        assert answers[0].headers["Location"] == "/api/loc/x/1" and answers[0].text == "a body"
    if name == "only allow-listed headers back":
        assert answers[0].headers["ETag"] == '"v1"' and answers[0].headers["Cache-Control"] == "no-store"
        assert all(h not in a.headers for a in answers for h in ("Set-Cookie", "X-Internal"))
    assert answers[0].headers.get("X-Request-ID")
    if answers[0].status_code >= 400 and method != "HEAD":
        assert answers[0].headers["Content-Type"].startswith("application/json")


MALFORMED = {  # name: (method, target, header lines, body)
    "a bad request line": ("GET", "/api/products/1 extra", [], b""),
    "a 20 KB header": ("GET", "/api/products/1", ["X-Big: " + "z" * 20_000], b""),
    "dot segments": ("GET", "/api/products/../orders", [], b""),
    "an encoded dot segment": ("GET", "/api/products/%2E%2E/orders", [], b""),
    "%2F": ("GET", "/api/products/1%2F2", [], b""),
    "a body over the limit": ("POST", "/api/echo/x", ["Content-Type: text/plain"], b"x" * 70_000),
    "a chunked body over the limit": ("POST", "/api/echo/x", ["Transfer-Encoding: chunked"],
                                      b"11170\r\n" + b"x" * 70_000 + b"\r\n0\r\n\r\n"),
    "an odd method": ("FROB", "/api/products/1", [], b""),
    "a bad token": ("GET", "/api/orders", ["Authorization: Bearer \xff\xfe.e30.x"], b""),
    "a bad Content-Length": ("POST", "/api/echo/x", ["Content-Length: 12abc"], b"{}"),
    "two Content-Lengths": ("POST", "/api/echo/x", ["Content-Length: 2", "Content-Length: 3"], b"{}"),
    "a header without a colon": ("GET", "/api/products/1", ["NoColonHere"], b""),
    "a target that is not a path": ("GET", "*", [], b""),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_input_at_the_front_is_a_4xx_in_json(pair, name):
    front = pair[0]
    method, target, lines, body = MALFORMED[name]
    status, headers, answer = raw_request(front.url, method, target, None, body, extra_lines=lines,
                                          content_length=not any("Length" in x or "Transfer" in x for x in lines))
    assert 400 <= status < 500, (status, answer)
    assert headers["Content-Type"].startswith("application/json") and answer["status"] == status, answer
    assert front.get("/health").status_code == 200  # and it is still there


def test_front_answered_requests_are_counted_and_recorded_as_hops(launch, redis_server):
    catalog = launch("catalog", f"front-hops-catalog-{uuid.uuid4().hex[:6]}")
    gateway = launch("gateway", f"front-hops-gw-{uuid.uuid4().hex[:6]}", upstreams={"catalog": catalog.url},
                     rate_limit=False)
    ids = [uuid.uuid4().hex for _ in range(5)]
    for rid in ids:
        assert gateway.get("/api/products/1", headers={"X-Request-ID": rid}).status_code == 200
    failed = uuid.uuid4().hex
    assert gateway.get("/api/products/_x", headers={"X-Request-ID": failed}).status_code == 404
    routes = gateway.get("/metrics").json()["routes"]
    assert routes["GET /api/products/<path:rest>"]["count"] == 6
    assert routes["GET /api/products/<path:rest>"]["statuses"] == {"200": 5, "404": 1}
    client = redis_server.client()
    deadline, hops = time.time() + 5, []
    while time.time() < deadline:
        hops = [h for h in newest_hops(client, 2000) if h["request_id"] in ids + [failed]]
        if len([h for h in hops if h["callee"] == "gateway"]) == 6 and len(hops) == 11:
            break
        time.sleep(0.1)
    into_gateway = {h["request_id"]: h for h in hops if h["callee"] == "gateway"}
    into_catalog = {h["request_id"]: h for h in hops if h["callee"] == "catalog"}
    assert set(into_gateway) == set(ids) | {failed} and set(into_catalog) == set(ids)
    for rid in ids:  # client -> gateway -> catalog: a tree
        assert into_gateway[rid]["caller"] == "client" and into_gateway[rid]["path"] == "/api/products/1"
        assert into_catalog[rid]["parent"] == into_gateway[rid]["hop"] and into_catalog[rid]["caller"] == "gateway"
    assert into_gateway[failed]["status"] == 404
    assert "GET /api/products/1 -> 200" in gateway.logs(50)  # the access log line


def test_a_service_that_cannot_answer_is_a_503_and_its_hop_is_recorded(launch, redis_server):
    gateway = launch("gateway", f"front-dead-gw-{uuid.uuid4().hex[:6]}", rate_limit=False,
                     upstreams={"catalog": "http://127.0.0.1:9"})
    rid = uuid.uuid4().hex
    answer = gateway.get("/api/products/1", headers={"X-Request-ID": rid})
    assert answer.status_code == 503 and answer.json()["upstream"] == "catalog"
    assert answer.json()["request_id"] == rid
    client, deadline, hops = redis_server.client(), time.time() + 5, []
    while time.time() < deadline and len(hops) < 2:
        hops = [h for h in newest_hops(client, 2000) if h["request_id"] == rid]
        time.sleep(0.1)
    failed = next(h for h in hops if h["callee"] == "catalog")
    assert failed["caller"] == "gateway" and failed["status"] == 503 and "unreachable" in failed["error"]


def test_chaos_set_on_the_gateway_still_applies_to_plain_routes(launch):
    catalog = launch("catalog", f"front-chaos-catalog-{uuid.uuid4().hex[:6]}")
    gateway = launch("gateway", f"front-chaos-gw-{uuid.uuid4().hex[:6]}", upstreams={"catalog": catalog.url},
                     rate_limit=False, traffic=False)
    assert gateway.put("/_chaos", json={"fail_next": 2}).status_code == 200  # the handle sends the launch secret
    answers = [requests.get(f"{gateway.url}/api/products/1", timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json()["message"] == "failure injected by /_chaos"
    assert gateway.put("/_chaos", json={"delay_ms": 300}).status_code == 200
    started = time.monotonic()
    assert requests.get(f"{gateway.url}/api/products/1", timeout=5).status_code == 200
    waited = time.monotonic() - started
    gateway.delete("/_chaos")
    assert waited >= 0.3  # the delay was applied (a lower bound: never a wall-clock ceiling)


def test_redis_killed_lets_requests_through_and_the_limit_is_exact_once_it_is_back(launch):
    server = RedisServer(name=f"front-rl-{uuid.uuid4().hex[:6]}", aof=False).start()
    try:
        catalog = launch("catalog", f"front-rl-catalog-{uuid.uuid4().hex[:6]}")
        gateway = launch("gateway", f"front-rl-gw-{uuid.uuid4().hex[:6]}", upstreams={"catalog": catalog.url},
                         redis_url=server.url, rate_limit={"capacity": 4, "refill_per_s": 0.001}, traffic=False)

        def statuses(n):
            return [requests.get(f"{gateway.url}/api/products/1", timeout=10).status_code for _ in range(n)]

        assert statuses(6) == [200] * 4 + [429] * 2
        server.kill()
        down = [requests.get(f"{gateway.url}/api/products/1", timeout=10) for _ in range(6)]
        assert [a.status_code for a in down] == [200] * 6  # fails open
        assert all("RateLimit-Remaining" not in a.headers for a in down)
        server.start()  # the same port, empty (no AOF): the script is unknown to it (NOSCRIPT), the bucket full
        assert statuses(6) == [200] * 4 + [429] * 2
    finally:
        server.stop()
        server.forget()


def test_a_sigkilled_gateway_leaves_no_process_behind(launch):
    gateway = launch("gateway", f"front-kill-gw-{uuid.uuid4().hex[:6]}", rate_limit=False, traffic=False,
                     upstreams={"catalog": "http://127.0.0.1:9"})
    pid = gateway.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 5
    while time.time() < deadline and os.path.exists(f"/proc/{pid}") and \
            open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    children = [p for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/stat")
                and _parent(p) == pid]
    assert children == []  # the front's threads went with it; it started no process of its own


def _parent(pid: str) -> int | None:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_the_front_and_waitress_give_the_same_openapi(pair):
    front, plain = pair[0], pair[1]
    documents = [g.get("/openapi.json").json() for g in (front, plain)]
    for document in documents:
        document.pop("servers")  # each gateway's own address
    assert json.dumps(documents[0], sort_keys=True) == json.dumps(documents[1], sort_keys=True)


@pytest.mark.parametrize("path, status", [("/api/echo/x", b"200"),  # on the loop
                                          ("/_chaos", b"401")])  # through the app (alice holds no launch secret)
def test_a_client_that_expects_100_continue_gets_it_before_sending_its_body(pair, path, status):
    import socket
    from urllib.parse import urlsplit

    front, alice = pair[0], pair[2]
    where = urlsplit(front.url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {alice['Authorization']}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
                     "Connection: close\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")  # before any byte of the body
        sock.sendall(b"{}")
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
    assert answer.split(b" ", 2)[1] == status


def _answers(sock, methods: list) -> list:
    """The raw answers (head and body, as bytes) to the requests of `methods` sent on `sock`, in order."""
    stream, answers = sock.makefile("rb"), []
    for method in methods:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = stream.readline()
            assert line, f"the connection closed after {len(answers)} answers"
            head += line
        length = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
        body = stream.read(int(length.group(1))) if length and method != "HEAD" else b""
        answers.append(head + body)
    return answers


def _head(method, path, headers: dict) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


SAME_BYTES = {  # name: (method, path, whose token), answered from the bytes by one front, after aiohttp's parser by
    "a product": ("GET", "/api/products/1", None),  # the other
    "HEAD of a product": ("HEAD", "/api/products/1", None),
    "a product that is not there": ("GET", "/api/products/999999", None),
    "an internal segment": ("GET", "/api/products/_chaos", None),
    "no token": ("GET", "/api/orders", None),
    "HEAD without a token": ("HEAD", "/api/orders", None),
    "someone else's resource": ("GET", "/api/mine/bob", "alice"),
    "a service that refuses": ("GET", "/api/carts/alice", "alice"),
    "allow-listed headers back": ("GET", "/api/loc/y", None),
    "a fragment": ("GET", "/api/products/1#part", None),
    "an escape in the query": ("GET", "/api/products/1?q=%41%20b", None),
    "an escaped path": ("GET", "/api/products/%31", None),
}


@pytest.mark.parametrize("name", list(SAME_BYTES))
def test_the_front_answers_the_same_bytes_from_the_bytes_as_after_aiohttps_parser(pair, name):
    import socket
    from urllib.parse import urlsplit

    method, path, who = SAME_BYTES[name]
    headers = {"X-Request-ID": f"same-bytes-{uuid.uuid4().hex}", **({"alice": pair[2]}.get(who) or {})}
    raw = []
    for gateway in (pair[0], pair[4]):
        before = gateway.get("/_gateway").json()["front"]["read_from_bytes"]
        where = urlsplit(gateway.url)
        with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
            sock.sendall(_head(method, path, headers))
            raw.append(_answers(sock, [method])[0])
        assert gateway.get("/_gateway").json()["front"]["read_from_bytes"] - before == (gateway is pair[0])
    masked = [re.sub(rb"\r\n(Date|RateLimit-Remaining|RateLimit-Reset): [^\r]*", rb"\r\n\1: -", a) for a in raw]
    assert masked[0] == masked[1]
    assert raw[0].startswith(b"HTTP/1.1 ") and headers["X-Request-ID"].encode() in raw[0]


def test_pipelined_requests_are_answered_in_order_across_both_ways_of_the_front(pair):
    import socket
    from urllib.parse import urlsplit

    front, alice = pair[0], pair[2]
    ids = [f"pipelined-{i}-{uuid.uuid4().hex[:8]}" for i in range(7)]
    requests_sent = [("GET", "/api/products/1", {}), ("HEAD", "/api/products/1", {}),
                     ("GET", "/api/orders", {}), ("GET", "/api/products/999999", {}),
                     ("PUT", "/api/echo/x", {**alice, "Content-Type": "text/plain", "Content-Length": "5"}),
                     ("GET", "/api/products/1", {}), ("GET", "/api/stock/1", {})]  # a body: aiohttp's from there on
    data = b"".join(_head(m, p, {**h, "X-Request-ID": rid}) + (b"hello" if m == "PUT" else b"")
                    for (m, p, h), rid in zip(requests_sent, ids))
    before = front.get("/_gateway").json()["front"]
    where = urlsplit(front.url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(data)
        answers = _answers(sock, [m for m, _, _ in requests_sent])
    after = front.get("/_gateway").json()["front"]
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200", b"200", b"401", b"404", b"200", b"200", b"200"]
    for answer, rid in zip(answers, ids):
        assert f"\r\nX-Request-ID: {rid}\r\n".encode() in answer
    assert after["read_from_bytes"] - before["read_from_bytes"] == 4  # the rest: aiohttp's parser
    assert after["on_the_loop"] - before["on_the_loop"] == 6
    assert after["through_the_app"] - before["through_the_app"] == 2  # the translation, and the second /_gateway


def test_the_first_registry_lookup_of_a_service_does_not_hold_up_the_front(launch):
    """A service found through the registry, which nobody has asked about yet: the first pick asks the registry,
    here a slow one that fails (a fault injected at it), in the thread pool; meanwhile the loop answers others."""
    import threading

    tag = uuid.uuid4().hex[:6]
    registry = launch("registry", f"front-reg-{tag}", traffic=False)
    catalog = launch("catalog", f"front-reg-catalog-{tag}", traffic=False)
    assert registry.put("/_chaos", json={"delay_ms": 1500, "fail_rate": 1.0}).status_code == 200
    gateway = launch("gateway", f"front-reg-gw-{tag}", registry_url=registry.url, rate_limit=False, traffic=False,
                     upstreams={"catalog": catalog.url},
                     routes=[{"prefix": "/api/found", "service": "found", "path": "/x", "methods": {"GET": None}}])
    finished = []

    def get(path):
        answer = requests.get(gateway.url + path, timeout=10)
        finished.append((path, answer.status_code))

    slow = threading.Thread(target=get, args=("/api/found/1",))
    slow.start()
    time.sleep(0.3)  # the slow one is asking the registry by now
    get("/api/products/1")
    slow.join()
    registry.delete("/_chaos")
    assert finished == [("/api/products/1", 200), ("/api/found/1", 503)]  # the loop was not held up


OVERLAPPING = [  # prefixes the front's table cannot decide alone: other rules of the app under them, or nested
    {"prefix": "/api/stock", "service": "path_echo", "path": "/s", "methods": {"GET": None}},  # translation's too
    {"prefix": "/api/echo", "service": "path_echo", "path": "/echo", "methods": {"GET": None}},
    {"prefix": "/api/echo/deep", "service": "path_echo", "path": "/deep", "methods": {"GET": None}},
    {"prefix": "/api/plain", "service": "path_echo", "path": "/plain", "methods": {"GET": None}},  # the table's
]


@pytest.mark.parametrize("way", ["from the bytes", "aiohttp's parser"])
def test_routes_other_rules_overlap_are_matched_as_the_flask_apps_url_map_matches_them(launch, way):
    """The front matches a plain route by its prefix (routing.RouteTable), and leaves to the app's URL map each
    prefix that another rule could match too: the same route, or none, as waitress's Flask app finds."""
    tag = uuid.uuid4().hex[:8]
    echo = launch(PATH_ECHO, f"ovl-echo-{tag}", traffic=False)
    common = dict(routes=OVERLAPPING, rate_limit=False, traffic=False, upstreams={"path_echo": echo.url})
    front = launch("gateway", f"ovl-front-{tag}", fast_path=way == "from the bytes", **common)
    plain = launch("gateway", f"ovl-waitress-{tag}", front=False, **common)
    on_loop = {"/api/stock/abc": True, "/api/stock": True, "/api/stock/1": False,  # (translation: no stock known)
               "/api/echo/deep/1": True, "/api/echo/deeper": True, "/api/echo/deep": True, "/api/echo": True,
               "/api/plain/a/b": True, "/api/plainer": False, "/api/mobile/home": False}
    for path, loop in on_loop.items():
        before = front.get("/_gateway").json()["front"]["on_the_loop"]
        answers = [requests.get(g.url + path, timeout=10) for g in (front, plain)]
        assert same_answer(answers[0]) == same_answer(answers[1]), path
        assert front.get("/_gateway").json()["front"]["on_the_loop"] - before == loop, path
    assert requests.get(front.url + "/api/echo/deep/1", timeout=10).json()["path"] == "/deep/1"
    assert requests.get(front.url + "/api/echo/deeper", timeout=10).json()["path"] == "/echo/deeper"
