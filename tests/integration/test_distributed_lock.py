"""The last items of a flash sale, reserved through three real instances at once: without a lock they oversell,
with ZooKeeper's lock they do not; a holder killed mid-reservation blocks the item only until its session ends;
a holder paused past its session oversells even with the lock (what fencing is for); without ZooKeeper a
locked instance refuses at once.

The stock is a real Redis key that flash_sale reads with GET and writes with SET (see the service's docstring
for why), and each reservation works `work_ms` between the two: the window that threads from this test, sent
to the three instances in turn, fall into together. Counts come from the service (`GET /sale/<item>`), and
from the answers this test received; no test asserts how long anything took.
"""
from __future__ import annotations

import os
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from microcosm import trust
from microcosm.coordination import group_path
from microcosm.runtime.infra import ZooKeeperServer
from microcosm.services import flash_sale
from microcosm.testing import wait_until
from test_no_request_gives_a_500 import CASES as RAW_CASES, send_raw

STOCK, REQUESTS, THREADS, WORK_MS = 5, 40, 16, 50
TAG = uuid.uuid4().hex[:8]


def three(launch, kind: str, **options) -> list:
    with ThreadPoolExecutor(3) as pool:  # three launches at once: each is mostly waiting for imports
        return list(pool.map(lambda i: launch("flash_sale", f"sale-{kind}-{i}-{TAG}", traffic=False,
                                              key_prefix=f"sale-{TAG}:", group=f"sale-{TAG}", work_ms=WORK_MS,
                                              **options), (1, 2, 3)))


@pytest.fixture(scope="module")
def unlocked(launch_for_module):
    return three(launch_for_module, "unlocked", lock=False)


@pytest.fixture(scope="module")
def locked(launch_for_module):
    return three(launch_for_module, "locked", lock=True, session_timeout=1.5, lock_timeout=30)


def put_on_sale(instance, item: str, stock: int = STOCK) -> None:
    answer = instance.put(f"/_sale/{item}", json={"stock": stock})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"item": item, "stock": stock, "initial": stock, "reserved": 0, "oversold": 0}


def rush(instances, item: str, count: int = REQUESTS) -> list[requests.Response]:
    """`count` reservations of `item` from THREADS threads at once, sent to the instances in turn."""
    start = threading.Barrier(THREADS)

    def reserve(i):
        if i < THREADS:
            start.wait()  # the first wave leaves together
        return requests.post(f"{instances[i % len(instances)].url}/reservations",
                             json={"item": item, "customer": f"c{i}"}, timeout=30)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(reserve, range(count)))


def test_without_a_lock_concurrent_reservations_oversell(unlocked):
    put_on_sale(unlocked[0], "sneakers")
    answers = rush(unlocked, "sneakers")
    accepted = [a for a in answers if a.status_code == 201]
    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers if a.status_code not in (201, 409)]
    sale = unlocked[1].get("/sale/sneakers").json()
    assert sale["reserved"] == len(accepted) > STOCK, sale  # more customers were told yes than there were pairs
    assert sale["oversold"] == len(accepted) - STOCK > 0
    assert sum(i.get("/counts").json()["accepted"] for i in unlocked) == len(accepted)
    assert all(not a.json()["locked"] and "lock_token" not in a.json() for a in accepted)


def test_with_the_lock_exactly_the_stock_is_reserved(locked, zookeeper_server):
    put_on_sale(locked[0], "sneakers")
    answers = rush(locked, "sneakers")
    accepted = [a.json() for a in answers if a.status_code == 201]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert len(accepted) == STOCK and len(refused) == REQUESTS - STOCK, [a.text for a in answers][:5]
    assert all("sold out" in r["message"] and r["error"] == "conflict" for r in refused)
    assert locked[2].get("/sale/sneakers").json() == {"item": "sneakers", "stock": 0, "initial": STOCK,
                                                      "reserved": STOCK, "oversold": 0}
    assert sorted(a["left"] for a in accepted) == list(range(STOCK))  # each unit handed out once
    tokens = [a["lock_token"] for a in accepted]
    assert len(set(tokens)) == STOCK  # every grant of the lock has a number of its own
    counts = [i.get("/counts").json() for i in locked]
    assert sum(c["locks_taken"] for c in counts) == REQUESTS and not any(c["lock_unavailable"] for c in counts)
    zk = zookeeper_server.client()
    path = f"{group_path('locks', f'sale-{TAG}')}/sneakers"
    try:  # every lock node was deleted on release: nobody holds or waits for the lock now
        assert zk.get_children(path) == []
        assert locked[1].delete("/_sale/sneakers").json() == {"item": "sneakers", "ended": True}
        assert zk.exists(path) is None  # the sale ended: its lock's parent node went with it
        assert locked[0].post("/reservations", json={"item": "sneakers"}).status_code == 404
    finally:
        zk.stop()
        zk.close()


def test_a_holder_killed_mid_reservation_blocks_the_item_until_its_session_ends(launch, locked, zookeeper_server):
    slow = launch("flash_sale", f"sale-slow-{TAG}", traffic=False, key_prefix=f"sale-{TAG}:", group=f"sale-{TAG}",
                  work_ms=10_000, lock=True, session_timeout=1.5)
    put_on_sale(slow, "last-one", stock=1)

    def reserve():
        try:
            requests.post(f"{slow.url}/reservations", json={"item": "last-one"}, timeout=30)
        except requests.RequestException:
            pass  # killed before it answered: that is the test

    threading.Thread(target=reserve, daemon=True).start()
    zk = zookeeper_server.client()
    path = f"{group_path('locks', f'sale-{TAG}')}/last-one"
    try:
        assert wait_until(lambda: zk.exists(path) and len(zk.get_children(path)) == 1)  # it holds the lock
        holder = zk.get_children(path)[0]
        slow.kill()  # between its read and its write: nothing written, but its lock node stays ...
        assert zk.exists(f"{path}/{holder}")
        answer = locked[0].post("/reservations", json={"item": "last-one"})  # ... until its session expires
        assert answer.status_code == 201, answer.text
        assert not zk.exists(f"{path}/{holder}")
    finally:
        zk.stop()
        zk.close()
    assert locked[0].get("/sale/last-one").json()["oversold"] == 0
    assert locked[0].post("/reservations", json={"item": "last-one"}).status_code == 409


def test_a_holder_paused_past_its_session_oversells_even_with_the_lock(launch, locked, zookeeper_server):
    """Why the lock alone is not enough: frozen (SIGSTOP) between its read and its write, the holder loses its
    session and with it the lock; another instance takes the lock and the last item; woken (SIGCONT), the
    first writes what it read before, and answers 201 too. Only a store that checks a fencing token stops it."""
    paused = launch("flash_sale", f"sale-paused-{TAG}", traffic=False, key_prefix=f"sale-{TAG}:",
                    group=f"sale-{TAG}", work_ms=2_000, lock=True, session_timeout=1.5)
    put_on_sale(paused, "paused", stock=1)
    answers = []
    reserving = threading.Thread(target=lambda: answers.append(
        requests.post(f"{paused.url}/reservations", json={"item": "paused"}, timeout=60)), daemon=True)
    reserving.start()
    zk = zookeeper_server.client()
    path = f"{group_path('locks', f'sale-{TAG}')}/paused"
    try:
        assert wait_until(lambda: zk.exists(path) and len(zk.get_children(path)) == 1)
        os.killpg(paused.pid, signal.SIGSTOP)
        assert wait_until(lambda: zk.get_children(path) == [])  # its session expired: the lock is free
        other = locked[0].post("/reservations", json={"item": "paused"})
        assert other.status_code == 201 and other.json()["left"] == 0, other.text
    finally:
        os.killpg(paused.pid, signal.SIGCONT)
        zk.stop()
        zk.close()
    reserving.join(60)
    assert answers and answers[0].status_code == 201, answers  # it still believed it held the lock
    assert answers[0].json()["lock_token"] < other.json()["lock_token"]  # the token a fenced store would refuse
    assert locked[0].get("/sale/paused").json()["oversold"] == 1


def test_without_zookeeper_a_locked_reservation_is_refused_at_once_and_nothing_is_reserved_later(launch, tmp_path):
    """kazoo queues a request until ZooKeeper is back: unbounded, a reservation would hang, then happen long
    after its caller gave up. The instance refuses while it has no ZooKeeper, and serves again once it has."""
    private = ZooKeeperServer(f"zk-{tmp_path.name}").start()
    try:
        sale = launch("flash_sale", f"sale-nozk-{TAG}", traffic=False, key_prefix=f"sale-{TAG}:", lock=True,
                      zk=private.hosts, session_timeout=30, lock_timeout=2, group=f"sale-{TAG}")
        put_on_sale(sale, "no-zk", stock=10)
        assert sale.post("/reservations", json={"item": "no-zk"}).status_code == 201
        private.kill()
        refused = wait_until(lambda: (a := sale.post("/reservations", json={"item": "no-zk"})).status_code == 503
                             and a.json())  # at once, once the instance has seen its connection drop
        assert "ZooKeeper is unreachable" in refused["message"], refused
        assert sale.get("/health").status_code == 200
        private.start()
        assert wait_until(lambda: sale.post("/reservations", json={"item": "no-zk"}).status_code == 201, timeout=30)
        sale_now = sale.get("/sale/no-zk").json()
        assert sale_now["reserved"] == 2 and sale_now["stock"] == 8, sale_now  # none of the refused ones happened
        assert sale.get("/counts").json()["lock_unavailable"] >= 1
    finally:
        private.stop()
        private.forget()


JSON = {"Content-Type": "application/json"}
# (method, path, body or raw bytes, headers, admin secret: True / None / a wrong one, status, words, field)
BAD_INPUT = [
    ("POST", "/reservations", b"item=sneakers", {"Content-Type": "application/x-www-form-urlencoded"}, None, 415, "application/json", None),
    ("POST", "/reservations", b"{not json", JSON, None, 400, "not valid JSON", None),
    ("POST", "/reservations", b"[1]", JSON, None, 400, "must be a JSON object", None),
    ("POST", "/reservations", {}, None, None, 400, "'item' is required", "item"),
    ("POST", "/reservations", {"item": 7}, None, None, 400, "must be a string", "item"),
    ("POST", "/reservations", {"item": ""}, None, None, 400, "at least 1", "item"),
    ("POST", "/reservations", {"item": "x" * 41}, None, None, 400, "at most 40", "item"),
    ("POST", "/reservations", {"item": "../locks"}, None, None, 400, "lower-case letters", "item"),
    ("POST", "/reservations", {"item": "Sneakers"}, None, None, 400, "lower-case letters", "item"),
    ("POST", "/reservations", {"item": "a/b"}, None, None, 400, "lower-case letters", "item"),
    ("POST", "/reservations", {"item": "-x"}, None, None, 400, "lower-case letters", "item"),
    ("POST", "/reservations", {"item": "a\u0000b"}, None, None, 400, "lower-case letters", "item"),
    ("POST", "/reservations", {"item": "sn\u00e9akers"}, None, None, 400, "lower-case letters", "item"),
    ("POST", "/reservations", {"item": "sneakers", "quantity": 0}, None, None, 400, "at least 1", "quantity"),
    ("POST", "/reservations", {"item": "sneakers", "quantity": 11}, None, None, 400, "at most 10", "quantity"),
    ("POST", "/reservations", {"item": "sneakers", "quantity": "2"}, None, None, 400, "must be an integer", "quantity"),
    ("POST", "/reservations", {"item": "sneakers", "quantity": True}, None, None, 400, "must be an integer", "quantity"),
    ("POST", "/reservations", {"item": "sneakers", "quantity": 1.5}, None, None, 400, "must be an integer", "quantity"),
    ("POST", "/reservations", {"item": "sneakers", "customer": "c" * 65}, None, None, 400, "at most 64", "customer"),
    ("POST", "/reservations", {"item": "sneakers", "lock": False}, None, None, 400, "unknown field 'lock'", "lock"),
    ("POST", "/reservations", {"item": "never-on-sale"}, None, None, 404, "no sale of 'never-on-sale'", None),
    ("POST", "/reservations", {"item": "bad-input", "quantity": 3}, None, None, 409, "sold out: not 3", None),
    ("GET", "/reservations", None, None, None, 405, "does not accept GET", None),
    ("GET", "/sale/Sneakers", None, None, None, 400, "lower-case letters", "item"),
    ("GET", "/sale/" + "x" * 1000, None, None, None, 400, "lower-case letters", "item"),
    ("GET", "/sale/a%2Fb", None, None, None, 404, "no route", None),
    ("GET", "/sale/..", None, None, None, 404, "no route", None),
    ("GET", "/sale/never-on-sale", None, None, None, 404, "no sale of 'never-on-sale'", None),
    ("PUT", "/_sale/bad-input", {"stock": 1000}, None, None, 401, "X-Admin-Secret", None),
    ("PUT", "/_sale/bad-input", {"stock": 1000}, None, "not-the-secret", 403, "wrong launch secret", None),
    ("DELETE", "/_sale/bad-input", None, None, None, 401, "X-Admin-Secret", None),
    ("PUT", "/_sale/bad-input", {"stock": -1}, None, True, 400, "at least 0", "stock"),
    ("PUT", "/_sale/bad-input", {"stock": 10**9}, None, True, 400, "at most 1000000", "stock"),
    ("PUT", "/_sale/bad-input", {"stock": "5"}, None, True, 400, "must be an integer", "stock"),
    ("PUT", "/_sale/bad-input", {}, None, True, 400, "'stock' is required", "stock"),
    ("PUT", "/_sale/Bad", {"stock": 1}, None, True, 400, "lower-case letters", "item"),
    ("DELETE", "/_sale/never-on-sale", None, None, True, 404, "no sale of 'never-on-sale'", None),
]


@pytest.mark.parametrize("which", ["unlocked", "locked"])
def test_bad_input_gets_a_json_4xx_that_says_what_is_wrong_and_changes_nothing(request, which, zookeeper_server):
    instance = request.getfixturevalue(which)[0]
    put_on_sale(instance, "bad-input", stock=2)
    wrong = []
    for method, path, body, headers, admin, status, words, field in BAD_INPUT:
        headers = dict(headers or {})
        if admin is not None:
            headers[trust.ADMIN_HEADER] = trust.launch_secret() if admin is True else admin
        kwargs = {"data": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
        answer = requests.request(method, instance.url + path, headers=headers, timeout=10, **kwargs)
        said = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
        if answer.status_code != status or words not in said.get("message", "") or said.get("status") != status \
                or (field and said.get("field") != field):
            wrong.append(f"{method} {path[:50]} {str(body)[:50]}: {answer.status_code} {answer.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert instance.get("/sale/bad-input").json() == {"item": "bad-input", "stock": 2, "initial": 2, "reserved": 0,
                                                      "oversold": 0}
    zk = zookeeper_server.client()
    try:  # an item nobody put on sale never became a node in ZooKeeper (no lock taken for it)
        assert zk.exists(f"{group_path('locks', f'sale-{TAG}')}/never-on-sale") is None
    finally:
        zk.stop()
        zk.close()


def test_no_malformed_request_gets_a_500(unlocked):
    """The raw-bytes sweep every service passes (test_no_request_gives_a_500.py), on this one's three routes."""
    instance = unlocked[0]
    put_on_sale(instance, "raw", stock=1000)
    secret = trust.launch_secret().encode()
    failures = []
    for get_path, body_path, method in (("/sale/raw", "/reservations", "POST"), ("/counts", "/_sale/raw", "PUT")):
        for name, build in RAW_CASES:
            status, headers, body = send_raw(instance.port, build(get_path.encode(), body_path.encode(),
                                                                  method.encode(), secret))
            if status is not None and (status >= 500 or status >= 400 and b"application/json" not in headers.lower()):
                failures.append(f"{method} {body_path} {name}: {status} {body[:120]!r}")
    assert instance.get("/health").status_code == 200
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("options, words", [
    ({"work_ms": -1}, "work_ms must be a number from 0 to 10000"),
    ({"work_ms": "10"}, "work_ms must be a number"),
    ({"lock_timeout": 0}, "lock_timeout must be a number from 0.01 to 60"),
    ({"lock": True, "zk": ""}, "needs ZooKeeper"),
])
def test_bad_launch_options_are_refused_when_the_instance_starts(redis_server, options, words):
    with pytest.raises(ValueError, match=words):
        flash_sale.create_app({"redis_url": redis_server.url, **options})
