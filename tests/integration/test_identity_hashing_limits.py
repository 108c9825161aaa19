"""Password hashing cannot be used to keep the identity provider busy (issue 8, finding 6).

Every argon2id check costs 64 MiB and a few hundred milliseconds, on purpose. Without limits, a loop of
unauthenticated requests that each cost one (client_credentials with made-up clients, POST /users) keeps real
logins waiting. These tests run a real provider over HTTP and check the outcomes:

- failed client authentications count against the caller's address, like failed logins: over the limit,
  429 with Retry-After and no hash; registrations per address have a limit of their own;
- at most `hash_concurrency` hashes run at once; a request that cannot get a turn within `hash_wait` gets
  503 with Retry-After (JSON), not an endless wait;
- a real user logs in (200) while a flood from another address runs;
- an unknown client still costs the same work as a known one with a wrong secret (no timing oracle).

Addresses are told apart the way a proxy in front of identity tells them: 127.0.0.1 is named in
`trusted_proxies`, and each simulated client sends its own X-Forwarded-For.
"""
from __future__ import annotations

import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

ORDERS_SECRET = "orders-client-secret-for-tests-0123"
PASSWORD = "correct horse battery"
FLOODER, USER, SERVICE = "198.51.100.66", "203.0.113.5", "203.0.113.9"


@pytest.fixture
def start(launch, tmp_path):
    def _start(**config):
        settings = {"data_dir": str(tmp_path / "identity"), "admin_secret": "admin-secret-for-tests-0123456789",
                    "clients": {"orders": {"secret": ORDERS_SECRET, "scope": "catalog:read"}},
                    "trusted_proxies": ["127.0.0.1"]}
        settings.update(config)
        return launch("identity", **settings)

    return _start


def post(identity, path, address, session=None, **kwargs):
    return (session or requests).post(identity.url + path, headers={"X-Forwarded-For": address}, timeout=60, **kwargs)


def unknown_client(identity, address, session=None):
    return post(identity, "/token", address, session, data={
        "grant_type": "client_credentials", "client_id": f"made-up-{secrets.token_hex(4)}",
        "client_secret": secrets.token_urlsafe(16)})


def new_user(identity, address, session=None):
    return post(identity, "/users", address, session,
                json={"username": f"u{secrets.token_hex(6)}", "password": secrets.token_urlsafe(12)})


def login(identity, address, username="rita", password=PASSWORD):
    return post(identity, "/token", address, data={"grant_type": "password", "username": username,
                                                   "password": password})


def assert_refusal(answer, status, error):
    """A JSON error with Retry-After that agrees with the body."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == error and body["status"] == status and body["message"]
    assert int(answer.headers["Retry-After"]) == body["retry_after"] >= 1
    return body


# --- the flood ------------------------------------------------------------------------------------------------
def test_a_flood_of_unknown_clients_and_registrations_is_cut_off_while_real_users_log_in(start):
    failures, registrations = 5, 3
    # a window far longer than any run: once the flood is refused, it stays refused for the whole test
    identity = start(address_max_failures=failures, address_max_registrations=registrations, login_window=3600)
    assert post(identity, "/users", USER, json={"username": "rita", "password": PASSWORD}).status_code == 201

    stop = threading.Event()
    answers = {"client": [], "register": []}  # (status, moment answered, Retry-After, JSON error, thread)
    refused = [threading.Event() for _ in range(6)]  # each flooding thread has had a 429
    lock = threading.Lock()

    def flood(kind, send, me):
        with requests.Session() as session:
            while not stop.is_set():
                answer = send(identity, FLOODER, session)
                with lock:
                    answers[kind].append((answer.status_code, time.monotonic(), answer.headers.get("Retry-After"),
                                          answer.json().get("error"), me))
                if answer.status_code == 429:
                    refused[me].set()

    kinds = [("client", unknown_client)] * 4 + [("register", new_user)] * 2
    threads = [threading.Thread(target=flood, args=(kind, send, i)) for i, (kind, send) in enumerate(kinds)]
    for thread in threads:
        thread.start()
    try:
        # wait until every flooding thread has been refused once: from then on the flood costs no hash (the limits
        # hold for the whole test), and what it hashed before, it has finished. 120 s: a deadline, not an expectation
        for event in refused:
            assert event.wait(120), f"a flooding thread got no 429: {answers}"
        # the flood goes on; a real user and a real service, each from its own address, are served
        logins = [login(identity, USER) for _ in range(3)]
        service = post(identity, "/token", SERVICE, auth=("orders", ORDERS_SECRET),
                       data={"grant_type": "client_credentials"})
        served_at = time.monotonic()
        more = time.monotonic() + 60
        while not any(a[1] > served_at for kind in answers for a in list(answers[kind])):
            assert time.monotonic() < more, "the flood stopped before the logins were answered"
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)

    assert [a.status_code for a in logins] == [200, 200, 200], [a.text for a in logins]
    assert all("access_token" in a.json() for a in logins)
    assert service.status_code == 200, service.text
    # what the flood got: a few hashed refusals (the limit, plus those already under way when it was reached,
    # at most one per flooding thread), then only 429s that cost no hash; a 503 (queue full) is allowed too
    client_statuses = [a[0] for a in answers["client"]]
    register_statuses = [a[0] for a in answers["register"]]
    assert set(client_statuses) <= {401, 429, 503}, client_statuses
    assert set(register_statuses) <= {201, 429, 503}, register_statuses
    assert client_statuses.count(401) <= failures + 4, client_statuses
    assert register_statuses.count(201) <= registrations, register_statuses  # counted before hashing, atomically
    for status, _, retry_after, error, _ in answers["client"] + answers["register"]:
        if status in (429, 503):
            assert retry_after and int(retry_after) >= 1
            assert error == ("too_many_requests" if status == 429 else "temporarily_unavailable")
    # once a flooding thread is refused, every later request it sends is refused too (the limits only grow)
    for me in range(len(threads)):
        mine = [a[0] for a in answers["client"] + answers["register"] if a[4] == me]
        assert set(mine[mine.index(429):]) == {429}, mine
    assert identity.alive and "Traceback" not in identity.logs(500)


# --- the limits, one by one --------------------------------------------------------------------------------------
def test_failed_client_authentications_count_against_the_address_then_even_the_right_secret_waits(start):
    identity = start(address_max_failures=3)
    for _ in range(2):
        assert unknown_client(identity, FLOODER).status_code == 401
    wrong = post(identity, "/token", FLOODER, auth=("orders", "not-the-secret"), data={"grant_type": "client_credentials"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    right = post(identity, "/token", FLOODER, auth=("orders", ORDERS_SECRET), data={"grant_type": "client_credentials"})
    body = assert_refusal(right, 429, "too_many_requests")
    assert "address" in body["message"]
    assert_refusal(unknown_client(identity, FLOODER), 429, "too_many_requests")
    # the client itself is not locked: from another address its secret works
    elsewhere = post(identity, "/token", SERVICE, auth=("orders", ORDERS_SECRET), data={"grant_type": "client_credentials"})
    assert elsewhere.status_code == 200, elsewhere.text
    # one budget per address for every failed credential: a password guess from there is refused as well
    assert_refusal(login(identity, FLOODER, "nobody", "guess-guess"), 429, "too_many_requests")


def test_a_request_that_names_no_client_costs_no_hash_and_no_budget(start):
    identity = start(address_max_failures=2)
    for _ in range(6):
        answer = post(identity, "/token", FLOODER, data={"grant_type": "client_credentials"})
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert unknown_client(identity, FLOODER).status_code == 401  # the address's budget is untouched


def test_registrations_are_limited_per_address_and_the_count_survives_a_restart(start):
    identity = start(address_max_registrations=2)
    assert [new_user(identity, FLOODER).status_code for _ in range(2)] == [201, 201]
    body = assert_refusal(new_user(identity, FLOODER), 429, "too_many_requests")
    assert "registrations" in body["message"]
    assert new_user(identity, USER).status_code == 201  # another address has its own budget
    identity.kill()
    identity.restart()
    assert_refusal(new_user(identity, FLOODER), 429, "too_many_requests")
    # malformed registrations are refused before they are counted (and cost nothing)
    bad = post(identity, "/users", USER, json={"username": "x", "password": "short"})
    assert bad.status_code == 400
    assert new_user(identity, USER).status_code == 201


def test_a_full_hashing_queue_answers_503_with_retry_after_instead_of_an_endless_wait(start):
    """One hash at a time and no waiting: of simultaneous requests that each need a hash, those that find the
    slot taken are refused at once, with a JSON 503 and Retry-After; the provider stays healthy."""
    identity = start(hash_concurrency=1, hash_wait=0, address_max_failures=1000, address_max_registrations=1000)
    barrier = threading.Barrier(8)

    def one(i):
        address = f"198.51.100.{i + 1}"
        barrier.wait(30)
        return (unknown_client if i % 2 else new_user)(identity, address)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 401, 503}, statuses
    assert 503 in statuses and (201 in statuses or 401 in statuses), statuses
    for answer in answers:
        if answer.status_code == 503:
            body = assert_refusal(answer, 503, "temporarily_unavailable")
            assert body["error_description"] == body["message"]  # the OAuth shape and ours, in one body
    # nothing is stuck: the next requests, one at a time, are served
    assert post(identity, "/users", USER, json={"username": "rita", "password": PASSWORD}).status_code == 201
    assert login(identity, USER).status_code == 200
    assert identity.alive and "Traceback" not in identity.logs(500)


# --- no timing oracle --------------------------------------------------------------------------------------------
def test_an_unknown_client_costs_the_same_work_as_a_known_one_with_a_wrong_secret(start):
    identity = start(address_max_failures=1000)

    def timed(client_id, grant="client_credentials"):
        started = time.perf_counter()
        answer = post(identity, "/token", USER, data={"grant_type": grant, "client_id": client_id,
                                                      "client_secret": "not-the-secret-at-all"})
        return time.perf_counter() - started, answer

    cheap, known, unknown = [], [], []
    for _ in range(5):  # interleaved, so a busy moment of the machine hits both alike
        cheap.append(timed("orders", grant="no_such_grant")[0])  # refused before any hashing
        seconds, wrong = timed("orders")
        known.append(seconds)
        seconds, nobody = timed("nobody-at-all")
        unknown.append(seconds)
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert wrong.status_code == nobody.status_code == 401 and strip(wrong.json()) == strip(nobody.json())
    # both go through one argon2 verification: each far slower than a request that hashes nothing ...
    assert min(known) > 5 * min(cheap) and min(unknown) > 5 * min(cheap)
    # ... and alike: the medians within a factor of 2 (a real difference would be the whole hash, ~100x)
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, unknown)
