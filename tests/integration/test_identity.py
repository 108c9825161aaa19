"""The identity provider as a real process over HTTP: users, tokens, refresh rotation, rate limits, keys.

Tokens are checked the way a gateway will check them (microcosm.tokens with the published JWKS) and with a
second JOSE library (jwcrypto) that knows nothing of ours, from the JWKS alone.
"""
from __future__ import annotations

import json
import sqlite3
import stat
import statistics
import time
from pathlib import Path

import jwt
import pytest
import requests
from jwcrypto import jwk as jose_jwk
from jwcrypto import jwt as jose_jwt

from microcosm.tokens import JWKSCache, TokenError, verify

ADMIN = "admin-secret-for-tests-only-0123456789"
ORDERS_SECRET = "orders-client-secret-for-tests-0123"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def start(launch, tmp_path):
    """Launch an identity provider with its own data folder; settings can be overridden per test."""

    def _start(**config):
        settings = {"data_dir": str(tmp_path / "identity"), "admin_secret": ADMIN, "publish_delay": 1.0,
                    "clients": {"orders": {"secret": ORDERS_SECRET, "scope": "catalog:read"}}}
        settings.update(config)
        return launch("identity", **settings)

    return _start


@pytest.fixture
def identity(start):
    return start()


def register(identity, username, password="correct horse battery"):
    answer = identity.post("/users", json={"username": username, "password": password})
    assert answer.status_code == 201, answer.text
    return answer.json()


def token(identity, *, as_json=False, auth=None, **params):
    if as_json:
        return identity.post("/token", json=params, auth=auth)
    return identity.post("/token", data=params, auth=auth)


def login(identity, username, password="correct horse battery", **params):
    return token(identity, grant_type="password", username=username, password=password, **params)


def assert_error(answer, status, error, field=None):
    """Our usual error shape and, for OAuth errors, the RFC 6749 one, in one body."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == error
    assert body["status"] == status and body["message"] and body["request_id"]
    if field:
        assert body.get("field") == field
    return body


def data_dir(identity) -> Path:
    return Path(identity.config["data_dir"])


# --- users and tokens -----------------------------------------------------------------------------------
def test_register_then_log_in_and_use_the_token(identity):
    assert register(identity, "Ada")["username"] == "ada"  # usernames are case-insensitive
    assert_error(identity.post("/users", json={"username": "ada", "password": "something else"}), 409, "conflict", "username")

    answer = login(identity, "ada")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_token"].startswith("rt_")

    claims = verify(body["access_token"], JWKSCache(f"{identity.url}/.well-known/jwks.json"),
                    issuer=identity.url, audience="microcosm", required_scopes=["orders:write"])
    assert claims["sub"] == "ada" and claims["iss"] == identity.url and claims["aud"] == "microcosm"
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"] and len(claims["jti"]) == 32
    assert set(claims["scope"].split()) >= {"catalog:read", "orders:write"}
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt"
    assert header["kid"] in [k["kid"] for k in identity.get("/.well-known/jwks.json").json()["keys"]]

    me = identity.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["sub"] == "ada"


def test_the_token_endpoint_takes_json_too_and_login_is_the_password_grant(identity):
    register(identity, "bob")
    by_json = token(identity, as_json=True, grant_type="password", username="bob", password="correct horse battery",
                    scope="catalog:read")
    assert by_json.status_code == 200 and by_json.json()["scope"] == "catalog:read"
    by_login = identity.post("/login", json={"username": "bob", "password": "correct horse battery"})
    assert by_login.status_code == 200 and "access_token" in by_login.json()
    assert_error(login(identity, "bob", scope="admin"), 400, "invalid_scope", "scope")


def test_discovery_document_points_at_working_endpoints(identity):
    doc = identity.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == identity.url
    assert doc["token_endpoint"] == f"{identity.url}/token"
    assert set(doc["grant_types_supported"]) == {"password", "client_credentials", "refresh_token"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = requests.get(doc["jwks_uri"], timeout=5)
    assert keys.status_code == 200 and keys.json()["keys"][0]["alg"] == "RS256"
    assert "max-age" in keys.headers["Cache-Control"]


def test_a_forged_token_is_refused_by_userinfo_with_a_json_401(identity):
    kid = identity.get("/.well-known/jwks.json").json()["keys"][0]["kid"]
    now = int(time.time())
    forged = jwt.encode({"iss": identity.url, "aud": "microcosm", "sub": "root", "iat": now, "nbf": now,
                         "exp": now + 60, "jti": "x", "scope": "admin"}, None, algorithm="none", headers={"kid": kid})
    answer = identity.get("/userinfo", headers={"Authorization": f"Bearer {forged}"})
    assert_error(answer, 401, "unauthorized")
    assert answer.json()["reason"] == "alg_not_allowed" and "invalid_token" in answer.headers["WWW-Authenticate"]
    assert identity.get("/userinfo").json()["reason"] == "missing_token"


# --- secrets at rest and in the log -------------------------------------------------------------------------
def test_passwords_and_tokens_are_never_stored_or_logged_in_clear(identity):
    password = "Zebra-Quartz-7781-unique"
    register(identity, "carol", password)
    tokens = login(identity, "carol", password).json()
    login(identity, "carol", "Wrong-Guess-4455-unique")
    # a client that puts secrets in the URL is refused, and the URL is logged with them blanked out
    leaky = identity.post(f"/token?password={password}&client_secret=Leak-9931", data={"grant_type": "password"})
    assert_error(leaky, 400, "invalid_request")
    created = identity.post("/clients", json={"client_id": "reports", "scope": ""}, headers=ADMIN_HEADERS).json()

    db_files = [p for p in data_dir(identity).iterdir() if p.name.startswith("identity.db")]
    raw = b"".join(p.read_bytes() for p in db_files)  # the database, its WAL and shm, as bytes
    for secret in (password, "Wrong-Guess-4455-unique", tokens["refresh_token"], created["client_secret"], ORDERS_SECRET):
        assert secret.encode() not in raw
    with sqlite3.connect(data_dir(identity) / "identity.db") as db:
        stored = db.execute("SELECT password_hash FROM users WHERE username = 'carol'").fetchone()[0]
        secret_hash = db.execute("SELECT secret_hash FROM clients WHERE client_id = 'reports'").fetchone()[0]
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$")  # argon2id, 64 MiB, 3 passes, salted
    assert secret_hash.startswith("$argon2id$")

    log = identity.log_path.read_text()
    assert "/token?password=[redacted]&client_secret=[redacted]" in log  # the request is logged ...
    for secret in (password, "Wrong-Guess-4455-unique", "Leak-9931", tokens["refresh_token"],
                   tokens["access_token"], created["client_secret"], ADMIN):
        assert secret not in log  # ... but no secret is


def test_keys_and_the_admin_secret_are_files_only_the_service_can_read(start, tmp_path):
    identity = start(admin_secret=None)
    folder = data_dir(identity)
    assert stat.S_IMODE((folder / "admin_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "keys").stat().st_mode) == 0o700
    pems = list((folder / "keys").glob("*.pem"))
    assert len(pems) == 1 and stat.S_IMODE(pems[0].stat().st_mode) == 0o600
    admin = (folder / "admin_secret").read_text().strip()
    assert admin not in identity.log_path.read_text()
    assert identity.post("/keys/rotate", headers={"Authorization": f"Bearer {admin}"}).status_code == 201


# --- wrong password vs unknown user -----------------------------------------------------------------------------
def test_wrong_password_and_unknown_user_get_the_same_answer_after_the_same_work(start):
    identity = start(login_max_failures=100, address_max_failures=100)
    register(identity, "dave")
    wrong = login(identity, "dave", "not the password")
    unknown = login(identity, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong.json()) == strip(unknown.json())
    assert wrong.json()["error"] == "invalid_grant"

    def timed(username, password="not the password", grant="password"):
        started = time.perf_counter()
        token(identity, grant_type=grant, username=username, password=password)
        return time.perf_counter() - started

    cheap, wrong_times, unknown_times = [], [], []
    for _ in range(5):  # interleaved, so a busy moment of the machine hits both alike
        cheap.append(timed("dave", grant="no_such_grant"))  # refused before any hashing
        wrong_times.append(timed("dave"))
        unknown_times.append(timed("nobody-here"))
    # both go through one argon2 verification: each far slower than a request that hashes nothing ...
    assert min(wrong_times) > 5 * min(cheap) and min(unknown_times) > 5 * min(cheap)
    # ... and alike: the medians within a factor of 2 (a real difference would be the whole hash, ~100x)
    ratio = statistics.median(unknown_times) / statistics.median(wrong_times)
    assert 0.5 < ratio < 2, (wrong_times, unknown_times)


# --- login rate limits --------------------------------------------------------------------------------------------
def test_failed_logins_are_limited_per_account_then_per_address_and_survive_a_restart(start):
    identity = start(login_max_failures=3, address_max_failures=6, login_window=60)
    register(identity, "erin")
    for _ in range(3):
        assert_error(login(identity, "erin", "guess-guess"), 400, "invalid_grant")
    locked = login(identity, "erin")  # even the right password: the account is locked for now
    body = assert_error(locked, 429, "too_many_requests")
    assert 1 <= int(locked.headers["Retry-After"]) <= 60 and body["retry_after"] == int(locked.headers["Retry-After"])
    assert "account" in body["message"]
    # an unknown account is limited the same way: a 429 says nothing about who exists
    for _ in range(3):
        assert_error(login(identity, "ghost", "guess-guess"), 400, "invalid_grant")
    assert_error(login(identity, "ghost", "guess-guess"), 429, "too_many_requests")
    # six failures from this address in the window: now every account is refused from here
    register(identity, "frank")
    body = assert_error(login(identity, "frank"), 429, "too_many_requests")
    assert "address" in body["message"]
    # the counts are in the service's database: a crash does not reset an attacker's budget
    identity.kill()
    identity.restart()
    assert_error(login(identity, "erin"), 429, "too_many_requests")


def test_a_successful_login_clears_the_account_count(start):
    identity = start(login_max_failures=3, address_max_failures=100)
    register(identity, "gina")
    for _ in range(2):
        login(identity, "gina", "guess-guess")
    assert login(identity, "gina").status_code == 200
    for _ in range(2):
        assert_error(login(identity, "gina", "guess-guess"), 400, "invalid_grant")
    assert login(identity, "gina").status_code == 200


# --- refresh tokens -----------------------------------------------------------------------------------------------
def test_refresh_tokens_rotate_and_a_reused_one_revokes_its_family(identity):
    register(identity, "hal")
    first = login(identity, "hal").json()
    second = token(identity, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    third = token(identity, as_json=True, grant_type="refresh_token", refresh_token=second["refresh_token"],
                  scope="catalog:read")  # JSON works too; a narrower scope is fine
    assert third.status_code == 200 and third.json()["scope"] == "catalog:read"
    third = third.json()

    # someone replays the first token (stolen earlier): refused, and the family is revoked
    replay = assert_error(token(identity, grant_type="refresh_token", refresh_token=first["refresh_token"]),
                          400, "invalid_grant")
    assert "reuse" in replay["error_description"] and "revoked" in replay["error_description"]
    # so the newest token, never used, no longer works either
    after = assert_error(token(identity, grant_type="refresh_token", refresh_token=third["refresh_token"]),
                         400, "invalid_grant")
    assert "revoked" in after["error_description"]
    # another login is another family: unaffected
    other = login(identity, "hal").json()
    assert token(identity, grant_type="refresh_token", refresh_token=other["refresh_token"]).status_code == 200


def test_a_refresh_token_cannot_widen_its_scope(identity):
    register(identity, "ivy")
    narrow = login(identity, "ivy", scope="catalog:read").json()
    answer = token(identity, grant_type="refresh_token", refresh_token=narrow["refresh_token"], scope="orders:write")
    assert_error(answer, 400, "invalid_scope", "scope")
    # the refused request did not use up the token
    assert token(identity, grant_type="refresh_token", refresh_token=narrow["refresh_token"]).status_code == 200


def test_revoke_ends_the_session(identity):
    register(identity, "jay")
    tokens = login(identity, "jay").json()
    assert identity.post("/revoke", data={"token": tokens["refresh_token"]}).json() == {"revoked": True}
    body = assert_error(token(identity, grant_type="refresh_token", refresh_token=tokens["refresh_token"]),
                        400, "invalid_grant")
    assert "revoked" in body["error_description"]
    # unknown tokens: 200 too, so revocation tells nobody which tokens exist (RFC 7009)
    assert identity.post("/revoke", json={"token": "rt_made_up"}).status_code == 200
    # access tokens are self-contained JWTs: they cannot be revoked, only expire, and the answer says so
    assert_error(identity.post("/revoke", data={"token": tokens["access_token"]}), 400, "unsupported_token_type")
    assert_error(token(identity, grant_type="refresh_token", refresh_token="rt_made_up"), 400, "invalid_grant")


# --- service clients -------------------------------------------------------------------------------------------------
def test_client_credentials_for_service_to_service_calls(identity):
    basic = token(identity, grant_type="client_credentials", auth=("orders", ORDERS_SECRET))
    assert basic.status_code == 200, basic.text
    assert "refresh_token" not in basic.json()  # a client asks again with its secret (RFC 6749 4.4.3)
    claims = jwt.decode(basic.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "client:orders" and claims["client_id"] == "orders" and claims["scope"] == "catalog:read"
    in_body = token(identity, as_json=True, grant_type="client_credentials", client_id="orders",
                    client_secret=ORDERS_SECRET)
    assert in_body.status_code == 200

    wrong = token(identity, grant_type="client_credentials", auth=("orders", "not-the-secret"))
    assert_error(wrong, 401, "invalid_client")
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert_error(token(identity, grant_type="client_credentials", client_id="nobody", client_secret="x"), 401, "invalid_client")
    assert_error(token(identity, grant_type="client_credentials"), 401, "invalid_client")
    assert_error(token(identity, grant_type="client_credentials", auth=("orders", ORDERS_SECRET), scope="orders:write"),
                 400, "invalid_scope")


def test_clients_registered_by_an_admin(identity):
    spec = {"client_id": "shipping", "scope": "orders:read"}
    # plain requests: the Service handle would add this kernel's launch secret, which is an admin secret too
    assert_error(requests.post(f"{identity.url}/clients", json=spec, timeout=10), 401, "unauthorized")
    assert_error(requests.post(f"{identity.url}/clients", json=spec, headers={"Authorization": "Bearer wrong"},
                               timeout=10), 403, "forbidden")
    created = identity.post("/clients", json=spec, headers=ADMIN_HEADERS)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    secret = created.json()["client_secret"]
    assert len(secret) >= 40
    assert_error(identity.post("/clients", json=spec, headers=ADMIN_HEADERS), 409, "conflict", "client_id")
    answer = token(identity, grant_type="client_credentials", auth=("shipping", secret))
    assert answer.status_code == 200 and answer.json()["scope"] == "orders:read"


# --- admin routes: the service's admin secret or the launch secret ------------------------------------------------------
ADMIN_ROUTES = [("/clients", {"client_id": "billing", "scope": ""}, 201), ("/keys/rotate", None, 201)]


@pytest.mark.parametrize("path, body, created", ADMIN_ROUTES, ids=[r[0] for r in ADMIN_ROUTES])
def test_admin_routes_refuse_callers_without_a_secret_or_with_a_wrong_one(identity, path, body, created):
    """Over plain HTTP (not the Service handle, which always carries the launch secret)."""
    def call(headers):
        return requests.post(identity.url + path, json=body, headers=headers, timeout=10)

    for headers in ({}, {"X-Admin-Secret": ""}, {"Authorization": f"Basic {ADMIN}"}):  # no secret at all
        body_401 = assert_error(call(headers), 401, "unauthorized")
        assert "X-Admin-Secret" in body_401["message"] and "Bearer" in body_401["message"]
    for headers in ({"X-Admin-Secret": "wrong"}, {"Authorization": "Bearer wrong"},
                    {"X-Admin-Secret": ADMIN},  # the service's admin secret is not the launch secret
                    {"X-Admin-Secret": "wrong", "Authorization": "Bearer also-wrong"},
                    {"X-Admin-Secret": "\u00e9\u00e9"}):  # not ASCII: a 403, not a 500
        assert_error(call({k: v.encode("utf-8") if k == "X-Admin-Secret" else v for k, v in headers.items()}),
                     403, "forbidden")
    assert [k["state"] for k in identity.get("/keys").json()["keys"]] == ["signing"]  # no rotation took place
    assert_error(token(identity, grant_type="client_credentials", client_id="billing", client_secret="x" * 20),
                 401, "invalid_client")  # and no client was made


@pytest.mark.parametrize("path, body, created", ADMIN_ROUTES, ids=[r[0] for r in ADMIN_ROUTES])
def test_admin_routes_accept_the_admin_secret_or_the_launch_secret(start, path, body, created):
    from microcosm import trust

    identity = start()
    launch_secret = trust.launch_secret()
    assert launch_secret, "microcosm.launch makes the launch secret and hands it to the process it starts"
    variants = {
        "the service's admin secret": {"Authorization": f"Bearer {ADMIN}"},
        "the launch secret": {"X-Admin-Secret": launch_secret},
        "the launch secret, with a wrong bearer": {"X-Admin-Secret": launch_secret, "Authorization": "Bearer no"},
        "the admin secret, with a wrong launch secret": {"X-Admin-Secret": "no", "Authorization": f"Bearer {ADMIN}"},
    }
    for n, (what, headers) in enumerate(variants.items()):
        payload = dict(body, client_id=f"billing{n}") if body else None
        answer = requests.post(identity.url + path, json=payload, headers=headers, timeout=10)
        assert answer.status_code == created, (what, answer.text)
    # the notebook's handle sends the launch secret by itself: cells call admin routes unchanged
    handled = identity.post(path, json=dict(body, client_id="billing-cell") if body else None)
    assert handled.status_code == created, handled.text
    assert launch_secret not in identity.log_path.read_text()


def test_an_admin_secret_from_the_data_folder_and_the_launch_secret_both_work(start):
    from microcosm import trust

    identity = start(admin_secret=None)
    admin = (data_dir(identity) / "admin_secret").read_text().strip()
    for headers in ({"Authorization": f"Bearer {admin}"}, {"X-Admin-Secret": trust.launch_secret()}):
        assert requests.post(f"{identity.url}/keys/rotate", headers=headers, timeout=10).status_code == 201
    assert_error(requests.post(f"{identity.url}/keys/rotate", headers={"Authorization": f"Bearer {ADMIN}"},
                               timeout=10), 403, "forbidden")


# --- keys ------------------------------------------------------------------------------------------------------------
def kids(identity) -> list[str]:
    return [k["kid"] for k in identity.get("/.well-known/jwks.json").json()["keys"]]


def client_token(identity) -> tuple[str, float]:
    """A fresh access token and the moment its request was sent."""
    sent = time.time()
    answer = token(identity, grant_type="client_credentials", auth=("orders", ORDERS_SECRET))
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"], sent


def kid_of(access_token: str) -> str:
    return jwt.get_unverified_header(access_token)["kid"]


def wait_until(moment: float, timeout: float = 30) -> None:
    assert moment - time.time() < timeout
    while time.time() < moment:
        time.sleep(0.05)


def test_key_rotation_publishes_first_signs_later_and_keeps_the_old_key_until_its_tokens_expire(start):
    ttl = 7  # the old token must outlive the 3 s publish delay plus a slow machine's key generation and hashing
    identity = start(access_ttl=ttl, publish_delay=3.0)
    cache = JWKSCache(f"{identity.url}/.well-known/jwks.json")
    [old] = kids(identity)
    old_token, _ = client_token(identity)
    assert kid_of(old_token) == old

    rotated = identity.post("/keys/rotate", headers=ADMIN_HEADERS)
    assert rotated.status_code == 201, rotated.text
    new, signs_from = rotated.json()["kid"], rotated.json()["signs_from"]
    assert new != old and signs_from >= rotated.json()["published_at"] + 3.0
    # published at once, before it signs anything
    assert kids(identity) == [old, new]
    states = {k["kid"]: k["state"] for k in identity.get("/keys").json()["keys"]}
    assert states == {old: "signing", new: "published"}
    if time.time() < signs_from - 0.5:  # (a very slow machine may already be past it)
        early, _ = client_token(identity)
        if time.time() < signs_from:
            assert kid_of(early) == old

    wait_until(signs_from)
    fresh, _ = client_token(identity)
    assert kid_of(fresh) == new
    # the old key is still published: its tokens are still valid until they expire
    assert kids(identity) == [old, new]
    assert verify(old_token, cache, identity.url, "microcosm")["sub"] == "client:orders"
    assert verify(fresh, cache, identity.url, "microcosm")["sub"] == "client:orders"

    # after the last token the old key signed has expired, the old key is gone, private key file too
    wait_until(signs_from + ttl + 0.1)
    assert kids(identity) == [new]
    assert not (data_dir(identity) / "keys" / f"{old}.pem").exists()
    assert {k["kid"]: k["state"] for k in identity.get("/keys").json()["keys"]} == {new: "signing"}
    with pytest.raises(TokenError) as caught:
        verify(old_token, JWKSCache(f"{identity.url}/.well-known/jwks.json"), identity.url, "microcosm", leeway=3600)
    assert caught.value.reason == "unknown_key"


def test_a_killed_provider_comes_back_with_its_keys_users_and_sessions(identity):
    register(identity, "kim")
    before = login(identity, "kim").json()
    keys_before = identity.get("/.well-known/jwks.json").json()
    identity.kill()  # SIGKILL: no clean shutdown
    identity.restart()
    assert identity.get("/.well-known/jwks.json").json() == keys_before
    assert verify(before["access_token"], keys_before, identity.url, "microcosm")["sub"] == "kim"
    after = login(identity, "kim")
    assert after.status_code == 200 and kid_of(after.json()["access_token"]) == kid_of(before["access_token"])
    assert token(identity, grant_type="refresh_token", refresh_token=before["refresh_token"]).status_code == 200
    assert_error(identity.post("/users", json={"username": "kim", "password": "another one!"}), 409, "conflict")


# --- interoperability -------------------------------------------------------------------------------------------------
def test_an_independent_jose_library_accepts_our_tokens_from_the_jwks_alone(identity):
    register(identity, "lee")
    access = login(identity, "lee").json()["access_token"]
    doc = identity.get("/.well-known/openid-configuration").json()
    keyset = jose_jwk.JWKSet.from_json(requests.get(doc["jwks_uri"], timeout=5).text)
    checked = jose_jwt.JWT(jwt=access, key=keyset, algs=["RS256"],
                           check_claims={"iss": doc["issuer"], "aud": "microcosm", "exp": None, "nbf": None})
    claims = json.loads(checked.claims)
    assert claims["sub"] == "lee" and claims["iss"] == identity.url
    # the key id is the RFC 7638 thumbprint of the key, as jwcrypto computes it
    for key in json.loads(requests.get(doc["jwks_uri"], timeout=5).text)["keys"]:
        assert jose_jwk.JWK(**key).thumbprint() == key["kid"]
    # and jwcrypto refuses the same token with one byte of its payload changed
    header, payload, signature = access.split(".")
    tampered = f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    with pytest.raises(Exception):
        jose_jwt.JWT(jwt=tampered, key=keyset, algs=["RS256"])


# --- bad input ----------------------------------------------------------------------------------------------------------
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_TYPE = {"Content-Type": "application/json"}

# (path, raw body, headers, status, error, field)
BAD_INPUT = [
    ("/token", b'{"grant_type": ', JSON_TYPE, 400, "invalid_request", None),
    ("/token", b"[1, 2]", JSON_TYPE, 400, "invalid_request", None),
    ("/token", b'{"grant_type": "password", "username": 5, "password": "x"}', JSON_TYPE, 400, "invalid_request", "username"),
    ("/token", b'{"grant_type": ["password"]}', JSON_TYPE, 400, "invalid_request", "grant_type"),
    ("/token", b"username=a&password=b", FORM, 400, "invalid_request", "grant_type"),
    ("/token", b"grant_type=authorization_code&code=x", FORM, 400, "unsupported_grant_type", "grant_type"),
    ("/token", b"grant_type=password&username=someone", FORM, 400, "invalid_request", "password"),
    ("/token", b"grant_type=password&password=something", FORM, 400, "invalid_request", "username"),
    ("/token", b"grant_type=refresh_token", FORM, 400, "invalid_request", "refresh_token"),
    ("/token", b"grant_type=password&grant_type=client_credentials", FORM, 400, "invalid_request", "grant_type"),
    ("/token", b"grant_type=password", {"Content-Type": "text/plain"}, 415, "invalid_request", None),
    ("/token", b"grant_type=password", {}, 415, "invalid_request", None),
    ("/token", b"grant_type=password&username=" + b"x" * 70_000, FORM, 413, "request_entity_too_large", None),
    ("/revoke", b"token_type_hint=refresh_token", FORM, 400, "invalid_request", "token"),
    ("/users", b'{"username": "mo"}', JSON_TYPE, 400, "bad_request", "password"),
    ("/users", b'{"username": "mona", "password": 12345678}', JSON_TYPE, 400, "bad_request", "password"),
    ("/users", b'{"username": "mona", "password": "short"}', JSON_TYPE, 400, "bad_request", "password"),
    ("/users", b'{"username": "mo mo", "password": "long enough"}', JSON_TYPE, 400, "bad_request", "username"),
    ("/users", b'{"username": "ninanina", "password": "NinaNina"}', JSON_TYPE, 400, "bad_request", "password"),
    ("/users", b'{"username": "nina", "password": "long enough", "admin": true}', JSON_TYPE, 400, "bad_request", "admin"),
    ("/users", b"username=mo&password=long+enough", FORM, 415, "unsupported_media_type", None),
    ("/users", b"{", JSON_TYPE, 400, "bad_request", None),
    ("/keys/rotate", b"", {}, 401, "unauthorized", None),
]


@pytest.fixture(scope="module")
def shared_identity(launch_for_module, tmp_path_factory):
    return launch_for_module("identity", name="identity-bad-input", admin_secret=ADMIN,
                             data_dir=str(tmp_path_factory.mktemp("identity-bad-input")))


@pytest.mark.parametrize("path, body, headers, status, error, field", BAD_INPUT,
                         ids=[f"{c[0]} {c[1][:40]!r}" for c in BAD_INPUT])
def test_bad_input_gets_a_json_4xx_that_says_what_is_wrong(shared_identity, path, body, headers, status, error, field):
    answer = requests.post(shared_identity.url + path, data=body, headers=headers, timeout=10)
    if status == 413:
        assert answer.status_code == 413 and answer.json()["status"] == 413
        return
    body = assert_error(answer, status, error, field)
    if error.startswith(("invalid_", "unsupported_grant")):
        assert body["error_description"] == body["message"]  # the OAuth field and ours say the same
    assert shared_identity.alive


def test_bad_input_never_crashed_the_provider(shared_identity):
    statuses = shared_identity.metrics()["routes"]
    assert not any(route["errors"] for route in statuses.values()), statuses
    assert "Traceback" not in shared_identity.logs(500)


# --- races and rotation under traffic ------------------------------------------------------------------------------
def test_racing_uses_of_one_refresh_token_let_exactly_one_through(identity):
    from concurrent.futures import ThreadPoolExecutor

    register(identity, "max")
    refresh = login(identity, "max").json()["refresh_token"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: token(identity, grant_type="refresh_token", refresh_token=refresh), range(8)))
    winners = [a for a in answers if a.status_code == 200]
    assert len(winners) == 1, [a.status_code for a in answers]
    assert all(a.status_code == 400 and a.json()["error"] == "invalid_grant" for a in answers if a not in winners)
    # the losers were reuses: the family is revoked, the winner's new token with it
    assert_error(token(identity, grant_type="refresh_token", refresh_token=winners[0].json()["refresh_token"]),
                 400, "invalid_grant")


def test_verifiers_with_a_jwks_cache_never_refuse_a_valid_token_while_keys_rotate(start):
    """Tokens are issued and checked back to back (refresh grant, no hashing) through two rotations: the new key
    is published publish_delay before it signs, longer than the cache's refetch limit, so no check fails."""
    identity = start(publish_delay=1.5)
    register(identity, "nia")
    state = login(identity, "nia").json()
    cache = JWKSCache(f"{identity.url}/.well-known/jwks.json", min_refetch=1.0)
    checked, refused, seen_kids = 0, [], set()
    rotations = [time.time() + 0.5, time.time() + 3.0]
    end = time.time() + 6.5
    while time.time() < end:
        if rotations and time.time() >= rotations[0]:
            rotations.pop(0)
            assert identity.post("/keys/rotate", headers=ADMIN_HEADERS).status_code == 201
        answer = token(identity, grant_type="refresh_token", refresh_token=state["refresh_token"])
        assert answer.status_code == 200, answer.text
        state = answer.json()
        seen_kids.add(kid_of(state["access_token"]))
        try:
            verify(state["access_token"], cache, identity.url, "microcosm")
            checked += 1
        except TokenError as exc:
            refused.append(exc.reason)
    assert refused == [] and checked > 20
    assert len(seen_kids) == 3  # the first key and both new ones signed tokens in the run
    assert cache.fetches <= 10  # the refetches came from max-age and new kids, rate-limited


def test_behind_a_trusted_proxy_the_address_limit_applies_to_the_forwarded_client(start):
    identity = start(login_max_failures=100, address_max_failures=2, trusted_proxies=["127.0.0.1"])
    register(identity, "otto")

    def attempt(forwarded, password="guess-guess"):
        return identity.post("/token", data={"grant_type": "password", "username": "otto", "password": password},
                             headers={"X-Forwarded-For": forwarded})

    for _ in range(2):
        assert_error(attempt("198.51.100.7"), 400, "invalid_grant")
    assert_error(attempt("198.51.100.7", "correct horse battery"), 429, "too_many_requests")
    # another client behind the same proxy is not punished for it
    assert attempt("198.51.100.8", "correct horse battery").status_code == 200
    # a client cannot dodge the limit by prepending addresses of its own: the proxy's entry is the rightmost
    assert_error(attempt("203.0.113.1, 198.51.100.7", "correct horse battery"), 429, "too_many_requests")


def test_forwarded_for_is_ignored_from_untrusted_callers(start):
    identity = start(login_max_failures=100, address_max_failures=2)
    register(identity, "pia")
    for forwarded in ("198.51.100.1", "198.51.100.2"):
        login_answer = identity.post("/token", data={"grant_type": "password", "username": "pia",
                                                     "password": "guess-guess"}, headers={"X-Forwarded-For": forwarded})
        assert_error(login_answer, 400, "invalid_grant")
    # two failures from 127.0.0.1 whatever the header said: this address is now limited
    dodge = identity.post("/token", data={"grant_type": "password", "username": "pia", "password": "correct horse battery"},
                          headers={"X-Forwarded-For": "198.51.100.3"})
    assert_error(dodge, 429, "too_many_requests")


def test_a_publish_delay_shorter_than_a_verifiers_refetch_is_refused(tmp_path):
    import microcosm

    with pytest.raises(microcosm.LaunchError, match="publish_delay must be at least 1 s"):
        microcosm.launch("identity", name="identity-hasty", data_dir=str(tmp_path), publish_delay=0.3)
