"""A plain request relayed by callbacks (microcosm/services/balancer/relay.py), over real sockets: a client
cannot tell it from the ordinary way, and every failure ends as it does there.

Three real balancers in front of the same scripted backend (test_balancer_backend_parser.ScriptedBackend): the
default (requests relayed by callbacks when the backend has an idle pooled connection), `relay=False` (the fast
path's task per connection) and `fast_path=False` (aiohttp's way). Before each case a warm-up request leaves an
idle connection in each one's pool, so the case's request is relayed; `/_balancer/status` counts the requests
sent by callbacks (`relayed`) and those answered by callbacks too (`relayed_whole`); the rest went on with the
coroutines from where they were.
"""
import time

import pytest
import requests

from test_balancer_backend_parser import ScriptedBackend, backend  # noqa: F401 (a fixture)
from test_balancer_fastpath import ANSWERS, dechunked, exchange, get, without_date

WHOLE = {"plain", "no content type", "no reason", "odd status", "empty body", "not found json", "hop-by-hop dropped",
         "http/1.0 answer", "no content", "not modified", "head", "head without length", "backend 500"}


@pytest.fixture(scope="module")
def trio(backend, launch_for_module):
    """(relayed, relay=False, fast_path=False): the same balancer three ways, in front of the scripted backend."""
    options = dict(upstream="fake", backends=[backend.url], health_interval=60, eject_after=10**6, timeout=1.0)
    return (launch_for_module("balancer", "lb-relay", **options),
            launch_for_module("balancer", "lb-relay-off", relay=False, **options),
            launch_for_module("balancer", "lb-relay-ordinary", fast_path=False, **options))


def counts(lb) -> tuple[int, int]:
    fast = lb.get("/_balancer/status").json()["fast_path"]
    return fast["relayed"], fast["relayed_whole"]


def warm(*lbs) -> None:
    """A request each, so each balancer's pool holds an idle connection to the backend for the next one."""
    for lb in lbs:
        assert exchange(lb, get("/case/warm"))[0].startswith(b"HTTP/1.1 200 ")


def in_flight(lb) -> list[int]:
    return [b["in_flight"] for b in lb.get("/_balancer/status").json()["backends"]]


@pytest.mark.parametrize("name", ANSWERS)
def test_a_relayed_answer_is_byte_for_byte_the_other_ways(trio, backend, name):
    script, method = ANSWERS[name]
    backend.scripts[name.replace(" ", "-")] = script
    warm(*trio)
    before = counts(trio[0])
    answers = [dechunked(without_date(exchange(lb, get(f"/case/{name.replace(' ', '-')}", method), method)[0]))
               for lb in trio]
    assert answers[0] == answers[1] == answers[2]
    relayed, whole = counts(trio[0])
    assert relayed == before[0] + 1  # sent by callbacks
    assert whole == before[1] + (name in WHOLE)  # and answered by them, when the answer was whole and plain
    assert counts(trio[1]) == (0, 0)


def test_pipelined_requests_are_relayed_and_answered_in_order(trio, backend):
    for i in range(8):
        backend.scripts[f"n{i}"] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02d" % i
    relayed = trio[0]
    warm(relayed)
    before = counts(relayed)
    answers = exchange(relayed, b"".join(get(f"/case/n{i}") for i in range(8)), answers=8)
    assert [answer[-2:] for answer in answers] == [b"%02d" % i for i in range(8)]
    after = counts(relayed)
    assert after[1] - before[1] == 8  # each on the connection the one before it gave back, by callbacks


@pytest.mark.parametrize("name, script, status, says", [
    ("closed mid-answer", lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") or True,
     502, b"broke off its answer"),
    ("closed before answering", lambda conn: True, 502, b"closed the connection before answering"),
    ("garbage", b"garbage\r\n\r\n", 502, b"sent a malformed answer"),
    ("bad length", b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 502, b"sent a malformed answer"),
    ("silent", lambda conn: time.sleep(1.6) or True, 504, b"did not answer within 1 s"),
    ("stalled body", lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
     or time.sleep(1.6) or True, 504, b"did not finish its answer within 1 s"),
])
def test_a_relayed_request_whose_backend_fails_gets_the_same_json_error(trio, backend, name, script, status, says):
    case = name.replace(" ", "-")
    backend.scripts[case] = script
    warm(*trio)
    before = counts(trio[0])
    answers = [without_date(exchange(lb, get(f"/case/{case}"))[0]) for lb in trio]
    assert answers[0].startswith(b"HTTP/1.1 %d " % status) and b"application/json" in answers[0], answers[0][:300]
    assert says in answers[0]
    assert answers[0] == answers[1] == answers[2]
    assert counts(trio[0]) == (before[0] + 1, before[1])  # sent by callbacks, its failure the coroutines' to tell
    assert in_flight(trio[0]) == [0]
    assert exchange(trio[0], get("/case/after"))[0].startswith(b"HTTP/1.1 200 ")  # and the balancer goes on


def test_a_relayed_get_that_times_out_is_retried_on_another_backend(launch, backend):
    """As the ordinary way does for an idempotent request: the silent backend's failure is recorded, and the
    request goes to the other one."""
    other = ScriptedBackend()
    try:
        backend.scripts["slow-one"] = lambda conn: time.sleep(1.6) or True
        other.scripts["slow-one"] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother"
        lb = launch("balancer", "lb-relay-retry", upstream="fake", backends=[backend.url, other.url], timeout=1.0,
                    health_interval=60, eject_after=10**6)
        with requests.Session() as session:
            for _ in range(2):  # warm: an idle connection to each
                assert session.get(f"{lb.url}/case/warm", timeout=10).ok
            bodies = [session.get(f"{lb.url}/case/slow-one", timeout=10).content for _ in range(2)]
        assert bodies == [b"other", b"other"]
        status = lb.get("/_balancer/status").json()
        assert status["fast_path"]["relayed"] >= 1  # (the first slow-one: its connection was warm)
        assert [b["in_flight"] for b in status["backends"]] == [0, 0]
        assert lb.metrics()["routes"]["GET (proxied)"]["statuses"] == {"200": 4}
    finally:
        other.close()
