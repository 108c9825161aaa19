"""The balancer's fast path (microcosm/services/balancer/fastpath.py) over real sockets: a plain GET/HEAD is
proxied straight from the connection's bytes, and a client cannot tell.

Two real balancers, one with the fast path (the default) and one with `fast_path=False`, in front of the same
scripted backend (test_balancer_backend_parser.ScriptedBackend) answer the same requests byte for byte (apart
from the Date line); everything that is not plain still takes aiohttp's way and works; malformed input gets a
4xx JSON error; failures, retries, ejection, metrics, hop records and in-flight counts behave as before; a client
that sends without reading cannot grow the balancer's memory.
"""
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from microcosm.testing import wait_until
from microcosm.traffic.hops import newest_hops
from test_balancer_backend_parser import CHUNKED, MB, OK, PeakMemory, ScriptedBackend, backend  # noqa: F401 (a fixture)

ECHO = str(Path(__file__).parent / "services" / "echo_service.py")
BIG = 100 * 1024  # over forward.SMALL_BODY: streamed


@pytest.fixture(scope="module")
def pair(backend, launch_for_module):
    """(fast, ordinary): the same balancer with and without its fast path, in front of the scripted backend."""
    options = dict(upstream="fake", backends=[backend.url], health_interval=60, eject_after=10**6, timeout=2.0)
    return (launch_for_module("balancer", "lb-fast", **options),
            launch_for_module("balancer", "lb-ordinary", fast_path=False, **options))


def fast_count(lb) -> int:
    return lb.get("/_balancer/status").json()["fast_path"]["requests"]


def read_answer(sock, method: str = "GET", pending: bytes = b"") -> tuple[bytes, bytes]:
    """One whole answer from `sock` as bytes (its head and body, framed as sent), and what came after it."""
    def more():
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        return data
    while b"\r\n\r\n" not in pending:
        pending += more()
    end = pending.index(b"\r\n\r\n") + 4
    head = pending[:end].decode("latin-1")
    status = int(head.split(" ", 2)[1])
    if 100 <= status < 200:  # an interim answer: the real one follows
        return read_answer(sock, method, pending[end:])
    length = re.search(r"\r\ncontent-length: *(\d+)", head, re.I)
    if method == "HEAD" or status in (204, 304):
        size = end
    elif length:
        size = end + int(length[1])
        while len(pending) < size:
            pending += more()
    else:  # chunked
        while not pending.endswith(b"\r\n0\r\n\r\n"):
            pending += more()
        size = len(pending)
    return pending[:size], pending[size:]


def exchange(lb, request: bytes, method: str = "GET", answers: int = 1) -> list[bytes]:
    port = int(lb.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        out, pending = [], b""
        for _ in range(answers):
            answer, pending = read_answer(sock, method, pending)
            out.append(answer)
        return out


def without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", answer)


def dechunked(answer: bytes) -> bytes:
    """A chunked answer with its body decoded: where a streamed body's chunks begin and end depends on how its
    pieces arrived from the backend, on either way, so only the head and the data are compared."""
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"Transfer-Encoding: chunked" not in head:
        return answer
    data = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return head + b"\r\n\r\n" + data
        data, body = data + body[:size], body[size + 2:]


def get(path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: lb\r\nX-Request-ID: same-id\r\nAccept: */*\r\n{extra}\r\n".encode()


ANSWERS = {  # name: (the backend's answer, the method)
    "plain": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", "GET"),
    "no content type": (OK, "GET"),
    "no reason": (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "GET"),
    "odd status": (b"HTTP/1.1 299 Whatever\r\nContent-Length: 2\r\n\r\nok", "GET"),
    "empty body": (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET"),
    "not found json": (b'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
                       "GET"),
    "small chunked": (CHUNKED + b"2\r\nok\r\n0\r\n\r\n", "GET"),
    "hop-by-hop dropped": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nX-Gone: 1\r\n"
                           b"Connection: X-Gone\r\nServer: waitress\r\nDate: x\r\n\r\nok", "GET"),
    "http/1.0 answer": (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET"),
    "no content": (b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", "GET"),
    "not modified": (b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5\r\n\r\n', "GET"),
    "head": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n", "HEAD"),
    "head without length": (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "HEAD"),
    "big with length": (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG + b"x" * BIG, "GET"),
    "big chunked": (CHUNKED + b"%x\r\n" % BIG + b"y" * BIG + b"\r\n0\r\n\r\n", "GET"),
    "backend 503": (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno", "GET"),
    "backend 500": (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno", "GET"),
    "malformed answer": (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "GET"),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_the_fast_path_answers_byte_for_byte_as_the_ordinary_way(pair, backend, name):
    fast, ordinary = pair
    script, method = ANSWERS[name]
    case = re.sub(r"\W", "-", name)
    backend.scripts[case] = script
    before = fast_count(fast)
    answers = [dechunked(without_date(exchange(lb, get(f"/case/{case}", method), method)[0]))
               for lb in (fast, ordinary)]
    assert answers[0] == answers[1]
    assert b"\r\nDate: " not in answers[0] and b"\r\nServer: Python" in exchange(fast, get("/case/x"))[0]
    assert fast_count(fast) == before + 2  # this one and the Server check: both took the fast path
    assert fast_count(ordinary) == 0


NOT_PLAIN = {  # name: (request, method, status) that the fast path leaves to aiohttp's way
    "post with a body": (b"POST /echo HTTP/1.1\r\nHost: lb\r\nContent-Length: 2\r\n\r\nhi", "POST", 200),
    "chunked request body": (b"PUT /echo HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n"
                             b"0\r\n\r\n", "PUT", 200),
    "get with a body": (b"GET /echo HTTP/1.1\r\nHost: lb\r\nContent-Length: 2\r\n\r\nhi", "GET", 200),
    "connection close": (get("/echo", extra="Connection: close\r\n"), "GET", 200),
    "http/1.0": (b"GET /echo HTTP/1.0\r\nHost: lb\r\n\r\n", "GET", 200),
    "expect": (get("/echo", extra="Expect: 100-continue\r\nContent-Length: 0\r\n"), "GET", 200),
    "escaped path": (get("/ech%6F"), "GET", 200),
    "query with escapes": (get("/echo?q=a%20b&r=1"), "GET", 200),
    "absolute form": (b"GET http://lb/echo HTTP/1.1\r\nHost: lb\r\n\r\n", "GET", 200),
    "health": (get("/health"), "GET", 200),
    "metrics": (get("/metrics"), "GET", 200),
    "admin without secret": (get("/_balancer/status"), "GET", 401),
    "delete": (b"DELETE /missing HTTP/1.1\r\nHost: lb\r\n\r\n", "DELETE", 404),
}


@pytest.fixture(scope="module")
def echo_lb(launch_for_module):
    echo = launch_for_module(ECHO, "fast-echo")
    return launch_for_module("balancer", "lb-echo", upstream="echo", backends=[echo.url])


@pytest.mark.parametrize("name", NOT_PLAIN)
def test_requests_that_are_not_plain_take_the_ordinary_way_and_work(echo_lb, name):
    request, method, status = NOT_PLAIN[name]
    before = fast_count(echo_lb)
    answer = exchange(echo_lb, request, method)[0]
    assert int(answer.split(b" ", 2)[1]) == status, answer[:300]
    assert fast_count(echo_lb) == before
    if name == "query with escapes":
        assert b'"path":"/echo?q=a%20b&r=1"' in answer or b'"path": "/echo?q=a%20b&r=1"' in answer


def test_pipelined_requests_are_answered_in_order_across_both_ways(echo_lb):
    """Plain GETs, then a POST (aiohttp's way from there on), then more GETs, all in one write."""
    requests_ = [get(f"/echo?n={i}") for i in range(3)]
    requests_.append(b"POST /echo?n=3 HTTP/1.1\r\nHost: lb\r\nContent-Length: 2\r\n\r\nhi")
    requests_ += [get(f"/echo?n={i}") for i in (4, 5)]
    answers = exchange(echo_lb, b"".join(requests_), answers=6)
    for i, answer in enumerate(answers):
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert f"/echo?n={i}".encode() in answer


def test_a_keep_alive_client_gets_many_answers_on_one_connection(echo_lb):
    before = fast_count(echo_lb)
    with requests.Session() as session:
        for i in range(20):
            assert session.get(f"{echo_lb.url}/echo?i={i}", timeout=10).json()["path"] == f"/echo?i={i}"
    assert fast_count(echo_lb) == before + 20


MALFORMED = {
    "bad request line": b"GET /\x01 HTTP/1.1\r\nHost: lb\r\n\r\n",
    "20 KB header": get("/echo", extra="X-Big: " + "a" * 20_000 + "\r\n"),
    "bad content length": b"GET /echo HTTP/1.1\r\nHost: lb\r\nContent-Length: -1\r\n\r\n",
    "two content lengths": b"GET /echo HTTP/1.1\r\nHost: lb\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "bare LF": b"GET /echo HTTP/1.1\nHost: lb\n\n",
    "space before colon": b"GET /echo HTTP/1.1\r\nHost : lb\r\n\r\n",
    "control character": b"GET /echo HTTP/1.1\r\nHost: lb\r\nX-A: \x7f\r\n\r\n",
    "folded line": b"GET /echo HTTP/1.1\r\nHost: lb\r\nX-A: 1\r\n  more\r\n\r\n",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_input_gets_a_4xx_json_error_never_a_500(echo_lb, name):
    answer = exchange(echo_lb, MALFORMED[name])[0]
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert b"application/json" in answer.split(b"\r\n\r\n")[0]
    assert echo_lb.get("/health").status_code == 200


def test_an_odd_method_is_proxied_the_ordinary_way_and_never_a_500(echo_lb):
    answer = exchange(echo_lb, b"BREW /echo HTTP/1.1\r\nHost: lb\r\n\r\n", "BREW")[0]
    assert 400 <= int(answer.split(b" ", 2)[1]) < 500, answer[:300]


# --- failures -------------------------------------------------------------------------------------
def cut_after(head_and_some: bytes):
    return lambda conn: conn.sendall(head_and_some) or True  # then close


def test_a_backend_that_dies_mid_answer_is_a_json_502(pair, backend):
    fast, ordinary = pair
    backend.scripts["cut"] = cut_after(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    answers = [without_date(exchange(lb, get("/case/cut"))[0]) for lb in (fast, ordinary)]
    assert answers[0].startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and b'"error": "bad_gateway"' in answers[0]
    assert answers[0] == answers[1]


def test_a_big_answer_cut_short_closes_the_clients_connection(pair, backend):
    fast, _ = pair
    backend.scripts["big-cut"] = cut_after(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG + b"z" * 1000)
    with pytest.raises(ConnectionError):
        exchange(fast, get("/case/big-cut"))
    assert fast.get("/health").status_code == 200


def test_a_silent_backend_is_a_json_504_after_the_timeout(pair, backend):
    fast, ordinary = pair
    backend.scripts["silent"] = lambda conn: time.sleep(3) or True
    for lb in (fast, ordinary):
        started = time.monotonic()
        answer = exchange(lb, get("/case/silent"))[0]
        assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), answer[:200]
        assert b"did not answer within 2 s" in answer
        assert time.monotonic() - started >= 1.9  # not before the timeout (an order, not a speed)


def test_a_head_whose_small_body_stalls_is_a_json_504_that_says_so(pair, backend):
    """(upstream.py wakes its reader once the head and a small body are both in: a body that never comes still
    times out, and the client is told it was the body)"""
    fast, ordinary = pair

    def stall(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        time.sleep(3)
        return True

    backend.scripts["stall"] = stall
    for lb in (fast, ordinary):
        answer = exchange(lb, get("/case/stall"))[0]
        assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), answer[:200]
        assert b"did not finish its answer within 2 s" in answer


def test_a_refused_get_is_retried_on_another_backend_and_the_dead_one_ejected(launch, backend, refused_url):
    dead = refused_url()
    lb = launch("balancer", "lb-retry", upstream="fake", backends=[dead, backend.url], health_interval=60,
                eject_after=3, eject_for=30)
    with requests.Session() as session:
        for _ in range(8):
            answer = session.get(f"{lb.url}/case/retried", timeout=10)
            assert (answer.status_code, answer.content) == (200, b"ok")
    status = lb.get("/_balancer/status").json()
    assert status["fast_path"]["requests"] >= 8
    states = {b["url"]: b for b in status["backends"]}
    assert states[dead]["state"] == "ejected" and states[dead]["failures"] == 3
    assert lb.metrics()["routes"]["GET (proxied)"]["statuses"] == {"200": 8}


def test_a_backend_503_is_retried_on_another_one(launch, backend):
    other = ScriptedBackend()
    try:
        other.scripts["busy"] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother"
        backend.scripts["busy"] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"
        lb = launch("balancer", "lb-503", upstream="fake", backends=[backend.url, other.url], health_interval=60,
                    eject_after=10**6)
        with requests.Session() as session:
            bodies = {session.get(f"{lb.url}/case/busy", timeout=10).content for _ in range(4)}
        assert bodies == {b"other"}
    finally:
        other.close()


# --- what the chapter shows -----------------------------------------------------------------------
def test_hop_records_and_metrics_count_fast_path_requests(launch, redis_server):
    echo = launch(ECHO, "fast-echo-hops")
    lb = launch("balancer", "lb-hops", upstream="echo", backends=[echo.url])
    rid = uuid.uuid4().hex
    with requests.Session() as session:
        for i in range(5):
            assert session.get(f"{lb.url}/echo", headers={"X-Request-ID": f"{rid}-{i}"}, timeout=10).ok
    assert lb.get("/_balancer/status").json()["fast_path"]["requests"] == 5
    assert lb.metrics()["routes"]["GET (proxied)"]["count"] == 5
    client = redis_server.client(decode_responses=False)

    def hops():
        found = [h for h in newest_hops(client, 2000) if h["request_id"].startswith(rid)]
        return found if len(found) == 10 else None

    found = wait_until(hops, timeout=10)
    assert found, "every request's two hops (client -> balancer, balancer -> echo) did not arrive"
    by_id = {}
    for h in found:
        by_id.setdefault(h["request_id"], {})[h["callee"]] = h
    for pair_ in by_id.values():
        assert (pair_["balancer"]["caller"], pair_["balancer"]["status"], pair_["balancer"]["path"]) == (
            "client", 200, "/echo")
        assert pair_["echo"]["parent"] == pair_["balancer"]["hop"]


def test_least_connections_counts_return_to_zero(launch, backend):
    backend.scripts["slow"] = lambda conn: time.sleep(0.2) or conn.sendall(OK)
    other = ScriptedBackend()
    try:
        other.scripts["slow"] = OK
        lb = launch("balancer", "lb-least", upstream="fake", backends=[backend.url, other.url],
                    strategy="least_connections", health_interval=60)

        def client():
            with requests.Session() as session:
                for _ in range(5):
                    assert session.get(f"{lb.url}/case/slow", timeout=10).ok

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        status = lb.get("/_balancer/status").json()
        assert status["fast_path"]["requests"] == 30
        assert [b["in_flight"] for b in status["backends"]] == [0, 0]
        served = {b["url"]: b["served"] for b in status["backends"]}
        assert served[other.url] > served[backend.url]  # the slow one had requests in flight: it got fewer
    finally:
        other.close()


def test_a_client_that_sends_without_reading_does_not_grow_memory(pair, backend):
    fast, _ = pair
    backend.scripts["fat"] = b"HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n" + b"f" * 60000
    port = int(fast.url.rsplit(":", 1)[1])
    request = get("/case/fat")
    with PeakMemory(fast.pid) as memory:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(0.2)
            sent, deadline = 0, time.monotonic() + 4
            try:
                while time.monotonic() < deadline:
                    sent += sock.send(request * 100)
            except (socket.timeout, BlockingIOError):
                pass  # the balancer stopped reading: its buffers are full, and bounded
    assert sent < 50 * MB
    assert memory.grown < 20 * MB, f"the balancer's memory peaked {memory.grown / MB:.0f} MB higher"
    assert fast.get("/health").status_code == 200


def test_the_access_log_has_every_requests_line_after_a_clean_stop(launch, backend):
    """The lines are written by a thread of their own (accesslog.py); stopping the balancer writes the rest."""
    lb = launch("balancer", "lb-log", upstream="fake", backends=[backend.url], health_interval=60)
    ids = [uuid.uuid4().hex for _ in range(200)]
    with requests.Session() as session:
        for rid in ids[:-1]:
            assert session.get(f"{lb.url}/case/logged?token=t0ps3cret", headers={"X-Request-ID": rid},
                               timeout=10).ok
        assert session.post(f"{lb.url}/case/logged", data=b"x", headers={"X-Request-ID": ids[-1]}, timeout=10).ok
    lb.stop()  # SIGTERM: a clean stop
    log = Path(lb.log_path).read_text(errors="replace")
    lines = [line for line in log.splitlines() if "[request " in line]
    assert [line.rsplit("[request ", 1)[1].rstrip("]") for line in lines] == ids  # every one, in order
    assert "lb-log GET /case/logged?token=[redacted] -> 200" in lines[0] and "t0ps3cret" not in log
    assert "lb-log POST /case/logged -> 200" in lines[-1]
