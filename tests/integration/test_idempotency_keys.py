"""Idempotency keys in orders, over HTTP to real processes: a repeated POST /orders with the same key gets the
first answer and places no second order, even twenty at once; a key cannot be reused for another order; bad
keys get a 400 that says what is wrong; keys expire and their number is bounded; the gateway passes them on."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from identity_helpers import CHEAP_ARGON2, user_token
from raw_http import raw_request

KEY = "Idempotency-Key"
ORDER = {"product_id": 1, "quantity": 2}


@pytest.fixture(scope="module")
def shop(catalog_and_orders):
    return catalog_and_orders


def new_key() -> str:
    return str(uuid.uuid4())


def order_count(orders) -> int:
    return len(requests.get(f"{orders.url}/orders?limit=1000", timeout=10).json()["orders"])


def post(orders, key, body=ORDER, **headers):
    return requests.post(f"{orders.url}/orders", json=body, headers={KEY: key, **headers}, timeout=10)


def test_a_repeated_post_with_a_key_gets_the_first_answer_and_places_one_order(shop):
    _, orders = shop
    before, key = order_count(orders), new_key()
    first = post(orders, key)
    assert first.status_code == 201, first.text
    again = [post(orders, key) for _ in range(3)]
    assert [a.status_code for a in again] == [201] * 3
    assert all(a.json() == first.json() for a in again)  # the same order, the same body
    assert all(a.headers.get("Idempotent-Replayed") == "true" for a in again)
    assert "Idempotent-Replayed" not in first.headers
    assert order_count(orders) == before + 1
    # the same JSON written another way is the same request
    respelled = requests.post(f"{orders.url}/orders", data=b'{ "quantity" : 2,  "product_id":1 }',
                              headers={KEY: key, "Content-Type": "application/json"}, timeout=10)
    assert respelled.status_code == 201 and respelled.json() == first.json()
    # without a key, the same POST is a new order each time
    assert requests.post(f"{orders.url}/orders", json=ORDER, timeout=10).json()["id"] != first.json()["id"]


def test_twenty_concurrent_posts_with_one_key_place_exactly_one_order(shop):
    _, orders = shop
    before, key = order_count(orders), new_key()
    start, answers = threading.Barrier(20), []

    def send():
        start.wait()
        answers.append(post(orders, key))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted({a.status_code for a in answers}) == [201], [a.text for a in answers if a.status_code != 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert order_count(orders) == before + 1


def test_duplicates_split_over_two_instances_sharing_the_file_place_one_order(shop, launch, tmp_path):
    catalog, _ = shop
    pair = [launch("orders", f"idem-pair-{i}", catalog_url=catalog.url, data_dir=str(tmp_path), traffic=False)
            for i in (1, 2)]  # like microcosm.scale: two processes, one orders.db
    key, start, answers = new_key(), threading.Barrier(20), []

    def send(instance):
        start.wait()
        answers.append(post(instance, key))

    threads = [threading.Thread(target=send, args=(pair[i % 2],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == {201} and len({a.json()["id"] for a in answers}) == 1
    assert order_count(pair[0]) == order_count(pair[1]) == 1


def test_a_key_reused_for_another_order_is_refused(shop):
    _, orders = shop
    key = new_key()
    first = post(orders, key)
    before = order_count(orders)
    other = post(orders, key, {"product_id": 1, "quantity": 3})
    assert other.status_code == 422
    error = other.json()
    assert error["reason"] == "idempotency_key_reused" and error["header"] == KEY
    assert "different request" in error["message"]
    assert order_count(orders) == before
    assert post(orders, key).json() == first.json()  # the key still names the first order


def test_keys_are_per_caller(shop):
    _, orders = shop
    key, before = new_key(), order_count(orders)
    ada, bob = post(orders, key, **{"X-User": "ada"}), post(orders, key, **{"X-User": "bob"})
    assert ada.status_code == bob.status_code == 201 and ada.json()["id"] != bob.json()["id"]
    assert order_count(orders) == before + 2


def test_a_failed_post_leaves_its_key_free_and_a_stored_answer_needs_no_catalog(shop):
    catalog, orders = shop
    key, before = new_key(), order_count(orders)
    catalog.chaos(fail_next=1)
    failed = post(orders, key)
    assert failed.status_code == 502 and failed.json()["error"]  # catalog failed: nothing stored
    assert order_count(orders) == before
    placed = post(orders, key)  # the retry, with the same key, goes through
    assert placed.status_code == 201
    catalog.chaos(fail_rate=1.0)  # catalog down: the stored answer is still there
    try:
        assert post(orders, key).json() == placed.json()
    finally:
        catalog.chaos()
    assert order_count(orders) == before + 1


def test_the_quoted_form_of_a_key_is_the_same_key(shop):
    _, orders = shop
    key = new_key()
    first = post(orders, f'"{key}"')
    assert first.status_code == 201
    assert post(orders, key).json() == first.json()
    longest = "k" * 255
    assert post(orders, longest).status_code == 201


# (what is wrong, the raw header lines, words of the message)
BAD_KEYS = [
    ("empty", [f"{KEY}: "], "is empty"),
    ("blanks only", [f"{KEY}:    "], "is empty"),
    ("empty quotes", [f'{KEY}: ""'], "is empty"),
    ("too long", [f"{KEY}: " + "k" * 256], "the limit is 255"),
    ("very long", [f"{KEY}: " + "k" * 6000], "the limit is 255"),
    ("a space inside", [f"{KEY}: two words"], "may hold only"),
    ("a list", [f"{KEY}: a, b"], "send one"),
    ("non-ASCII", [f"{KEY}: cl\xe9"], "may hold only"),
    ("UTF-8 bytes", [f"{KEY}: " + "ключ".encode().decode("latin-1")], "may hold only"),
    ("a control character", [f"{KEY}: a\x01b"], None),  # refused by the HTTP server itself
    ("a lone quote", [f'{KEY}: "abc'], "may hold only"),
    ("two keys", [f"{KEY}: one", f"{KEY}: two"], "send one"),
    ("two keys, other case", [f"{KEY}: one", "idempotency-key: one"], "send one"),
]


def test_bad_keys_get_a_json_400_that_says_what_is_wrong(shop):
    _, orders = shop
    before, failures = order_count(orders), []
    body = b'{"product_id": 1, "quantity": 1}'
    for what, lines, words in BAD_KEYS:
        status, _, error = raw_request(orders.url, "POST", "/orders", {"Content-Type": "application/json"}, body,
                                       extra_lines=lines)
        if status != 400 or not isinstance(error, dict):
            failures.append(f"{what}: {status} {error!r:.120}")
        elif words is None:
            continue
        elif words not in error["message"] or error.get("header") != KEY or error["status"] != 400:
            failures.append(f"{what}: {error}")
        elif "\x01" in error["message"] or "k" * 256 in error["message"]:
            failures.append(f"{what}: the key is echoed: {error['message']!r:.120}")
    assert not failures, "\n".join(failures)
    assert order_count(orders) == before
    # a bad key with a bad body: a 400 (the body is read first), never a 500
    status, _, error = raw_request(orders.url, "POST", "/orders", {"Content-Type": "application/json"}, b"{",
                                   extra_lines=[f"{KEY}: a b"])
    assert status == 400 and "not valid JSON" in error["message"]


def test_keys_expire_and_their_number_is_bounded(launch, tmp_path):
    catalog = launch("catalog", "idem-bound-catalog", data_dir=str(tmp_path / "catalog"), traffic=False)
    few = launch("orders", "idem-few-keys", catalog_url=catalog.url, data_dir=str(tmp_path / "few"),
                 idempotency_max_keys=3, traffic=False)
    ids = {key: post(few, key).json()["id"] for key in ("k1", "k2", "k3", "k4", "k5")}
    assert post(few, "k5").json()["id"] == ids["k5"]  # among the newest three: still known
    assert post(few, "k1").json()["id"] not in ids.values()  # pushed out by newer keys: a new order
    brief = launch("orders", "idem-brief-keys", catalog_url=catalog.url, data_dir=str(tmp_path / "brief"),
                   idempotency_ttl=0.3, traffic=False)
    first = post(brief, "soon-gone").json()["id"]
    deadline = time.monotonic() + 10
    while (again := post(brief, "soon-gone").json()["id"]) == first and time.monotonic() < deadline:
        time.sleep(0.1)  # until the key's 0.3 s are over
    assert again != first  # expired: the key names a new order now
    assert post(brief, "soon-gone").json()["id"] == again


def test_with_events_a_repeated_key_makes_one_order_and_one_event(launch, tmp_path, redis_server):
    catalog = launch("catalog", "idem-ev-catalog", data_dir=str(tmp_path / "catalog"), traffic=False)
    orders = launch("orders", "idem-ev-orders", catalog_url=catalog.url, data_dir=str(tmp_path / "orders"),
                    events=True, traffic=False)
    paused = orders.put("/_events", json={"relay_paused": True}).json()  # keep OrderPlaced in the outbox
    assert paused["outbox"]["unpublished"] == 0
    key = new_key()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(post(orders, key))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers.append(post(orders, key))
    assert {a.status_code for a in answers} == {202}  # pending, as chapter 07 places it
    assert len({a.json()["id"] for a in answers}) == 1 and answers[0].json()["status"] == "pending"
    assert order_count(orders) == 1
    assert orders.get("/_events").json()["outbox"]["unpublished"] == 1  # one OrderPlaced, not nine
    orders.put("/_events", json={"relay_paused": False})


def test_the_gateway_passes_the_key_on(launch, tmp_path):
    identity = launch("identity", "idem-gw-identity", data_dir=str(tmp_path / "identity"), argon2=CHEAP_ARGON2,
                      traffic=False)
    catalog = launch("catalog", "idem-gw-catalog", data_dir=str(tmp_path / "catalog"), traffic=False)
    orders = launch("orders", "idem-gw-orders", catalog_url=catalog.url, data_dir=str(tmp_path / "orders"),
                    traffic=False)
    gateway = launch("gateway", "idem-gw", identity_url=identity.url, rate_limit=False, traffic=False,
                     upstreams={"catalog": catalog.url, "orders": orders.url})
    auth = {"Authorization": f"Bearer {user_token(identity, 'ada')}"}
    key = new_key()
    url = f"{gateway.url}/api/orders"
    first = requests.post(url, json=ORDER, headers={**auth, KEY: key}, timeout=10)
    again = requests.post(url, json=ORDER, headers={**auth, KEY: key}, timeout=10)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert order_count(orders) == 1
    other = requests.post(url, json={"product_id": 1, "quantity": 5}, headers={**auth, KEY: key}, timeout=10)
    assert other.status_code == 422 and other.json()["reason"] == "idempotency_key_reused"
    bad = requests.post(url, json=ORDER, headers={**auth, KEY: "not a key"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["header"] == KEY
