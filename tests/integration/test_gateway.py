"""The API gateway as real processes over HTTP: routing, edge authentication against the real identity
provider, every token attack, identity headers, rate limits in Redis, composition, protocol translation,
CORS and the OpenAPI document.

Tokens are the provider's own where possible; forged ones are made with PyJWT and the provider's private key
(read from its data folder) or a key of our own. An echo service behind the gateway shows what it forwards.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from identity_helpers import ADMIN, CHEAP_ARGON2, b64, provider_key, user_token
from microcosm import trust

ECHO = str(Path(__file__).parent / "services" / "echo_service.py")
SHOP_SECRET = "shop-client-secret-for-tests-0123456"
ECHO_ROUTES = [
    {"prefix": "/api/echo", "service": "echo", "path": "/echo", "methods": {"GET": [], "POST": ["echo:write"]}},
    {"prefix": "/api/open-echo", "service": "echo", "path": "/echo", "methods": {"GET": None}},
]


# --- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture
def start_identity(launch, tmp_path):
    """start_identity(name, **config): a provider with its own data folder, the shop client, cheap hashing."""
    return lambda name="identity", **config: launch("identity", name, **{
        "data_dir": str(tmp_path / name), "admin_secret": ADMIN, "publish_delay": 1.0, "argon2": CHEAP_ARGON2,
        "traffic": False, "clients": {"shop": {"secret": SHOP_SECRET, "scope": "stock:write catalog:read"}},
        **config})


@pytest.fixture
def identity(start_identity):
    return start_identity()


@pytest.fixture
def echo(launch):
    return launch(ECHO, "echo", traffic=False)


@pytest.fixture
def start_gateway(launch, identity, echo):
    """start_gateway(name, **config): a gateway in front of the echo service, with fresh rate-limit buckets."""
    return lambda name="gateway", **config: launch("gateway", name, **{
        "identity_url": identity.url, "upstreams": {"echo": echo.url}, "routes": ECHO_ROUTES, "traffic": False,
        "rate_limit_prefix": f"test:{uuid.uuid4().hex}:", **config})


@pytest.fixture
def gateway(start_gateway):
    return start_gateway()


def client_token(identity) -> str:
    answer = identity.post("/token", data={"grant_type": "client_credentials"}, auth=("shop", SHOP_SECRET))
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def forge(identity, token: str, key=None, alg="RS256", headers=None, **changes) -> str:
    """A token like `token` with claims changed, signed with the provider's own key unless told otherwise."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.encode(claims, key if key is not None else provider_key(identity, kid), algorithm=alg,
                      headers={"kid": kid, **(headers or {})})


def assert_refused(answer, status: int, reason: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["status"] == status and body["reason"] == reason and body["message"] and body["request_id"]
    if status == 401:
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer ")
        if reason != "missing_token":
            assert 'error="invalid_token"' in challenge and reason in challenge
    if status == 403 and reason == "missing_scope":
        assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    return body


def log_text(service) -> str:
    return Path(service.log_path).read_text(errors="replace")


# --- routing and identity ---------------------------------------------------------------------------------------
def test_a_valid_token_reaches_the_service_with_the_callers_identity(gateway, identity):
    token = user_token(identity)
    answer = gateway.get("/api/echo", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    seen = answer.json()["headers"]
    assert seen["X-User"] == "ada"
    assert "orders:write" in seen["X-Scopes"].split()
    assert "X-Client" not in seen
    assert "Authorization" not in seen  # the token stops at the edge
    assert seen["X-Caller"] == "gateway" and seen["X-Request-Id"] == answer.headers["X-Request-ID"]
    assert answer.headers["RateLimit-Limit"] and answer.headers["RateLimit-Remaining"]


def test_a_service_client_token_is_passed_on_as_the_client(gateway, identity):
    answer = gateway.get("/api/echo", headers=bearer(client_token(identity)))
    seen = answer.json()["headers"]
    assert seen["X-User"] == "client:shop" and seen["X-Client"] == "shop"


def test_identity_headers_sent_by_a_client_are_stripped(gateway, identity):
    forged = {"X-User": "admin", "X-Scopes": "everything", "X-Client": "root", "X-Caller": "orders"}
    seen = gateway.get("/api/echo", headers={**bearer(user_token(identity)), **forged}).json()["headers"]
    assert seen["X-User"] == "ada" and seen["X-Scopes"] != "everything" and "X-Client" not in seen
    assert seen["X-Caller"] == "gateway"
    anonymous = gateway.get("/api/open-echo", headers=forged).json()["headers"]
    assert not {"X-User", "X-Scopes", "X-Client"} & set(anonymous)


def test_identity_headers_carry_the_gateways_proof_and_client_secrets_stop_at_the_edge(gateway, identity):
    """The gateway proves the identity it sends (X-Identity-Proof, an HMAC under the launch secret its launch
    gave it); a client's own proof, admin secret or identity headers never reach the service."""
    secret = trust.launch_secret()
    assert secret, "launch() gives every process it starts (and this one) the launch secret"
    forged = {"X-Identity-Proof": trust.identity_proof("admin", "everything", "") or "f" * 64,
              "X-Admin-Secret": secret, "X-User": "admin", "X-Scopes": "everything", "X-Client": "root"}
    seen = gateway.get("/api/echo", headers={**bearer(user_token(identity)), **forged}).json()["headers"]
    assert "X-Admin-Secret" not in seen
    assert seen["X-User"] == "ada" and "X-Client" not in seen
    assert seen["X-Identity-Proof"] == trust.identity_proof("ada", seen["X-Scopes"], "") != forged["X-Identity-Proof"]
    assert trust.identity_proven(seen)
    seen = gateway.get("/api/echo", headers={**bearer(client_token(identity)), **forged}).json()["headers"]
    assert seen["X-Client"] == "shop" and trust.identity_proven(seen)  # the proof covers X-Client too
    anonymous = gateway.get("/api/open-echo", headers=forged).json()["headers"]
    assert not {"X-User", "X-Scopes", "X-Client", "X-Identity-Proof", "X-Admin-Secret"} & set(anonymous)


@pytest.mark.parametrize("launch_secret", ["a-launch-secret-for-this-test-0123456789", None])
def test_no_proof_without_a_launch_secret(identity, echo, monkeypatch, launch_secret):
    """The gateway in this process (Flask's test client), with and without a launch secret: without one it
    sends identity headers and no proof (there is nothing to make one with)."""
    from microcosm.services.gateway import create_app

    if launch_secret:
        monkeypatch.setenv(trust.ENV, launch_secret)
    else:
        monkeypatch.delenv(trust.ENV, raising=False)
    app = create_app({"identity_url": identity.url, "upstreams": {"echo": echo.url}, "routes": ECHO_ROUTES,
                      "rate_limit": False, "access_log": False})
    forged = {"X-Identity-Proof": "f" * 64, "X-Admin-Secret": "guess"}
    answer = app.test_client().get("/api/echo", headers={**bearer(user_token(identity)), **forged})
    seen = answer.get_json()["headers"]
    assert seen["X-User"] == "ada" and "X-Admin-Secret" not in seen
    if launch_secret:
        assert seen["X-Identity-Proof"] == trust.identity_proof("ada", seen["X-Scopes"], "")
    else:
        assert "X-Identity-Proof" not in seen


def test_routes_follow_the_registry_round_robin(launch, identity, tmp_path):
    registry = launch("registry", traffic=False)
    catalogs = [launch("catalog", f"catalog-{i}", registry_url=registry.url, data_dir=str(tmp_path / "catalog"),
                       traffic=False) for i in (1, 2)]
    gateway = launch("gateway", registry_url=registry.url, identity_url=identity.url, traffic=False)
    deadline = time.monotonic() + 20
    while len(gateway.get("/_gateway").json()["upstreams"]["catalog"]["urls"]) < 2:
        assert time.monotonic() < deadline, gateway.get("/_gateway").json()
        time.sleep(0.1)
    for _ in range(4):
        assert gateway.get("/api/products/1").json()["name"] == "Lamp"
    served = [c.metrics()["routes"].get("GET /products/<int:product_id>", {}).get("count", 0) for c in catalogs]
    assert served == [2, 2]
    assert gateway.get("/api/products?limit=2").json()["products"][1]["id"] == 2  # query strings go on
    assert_refused(gateway.get("/api/orders"), 401, "missing_token")
    answer = gateway.get("/api/nowhere")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_an_upstream_that_is_gone_is_a_json_503(start_gateway, identity, echo):
    gateway = start_gateway(upstreams={"echo": "http://127.0.0.1:9"})
    answer = gateway.get("/api/open-echo")
    assert answer.status_code == 503 and answer.json()["upstream"] == "echo"


def test_carts_only_for_their_owner(launch, start_gateway, identity):
    carts = launch("carts", traffic=False)
    gateway = start_gateway(upstreams={"carts": carts.url})
    token = user_token(identity, "bob")
    put = gateway.put("/api/carts/bob/items/1", json={"quantity": 2}, headers=bearer(token))
    assert put.status_code == 200, put.text
    assert gateway.get("/api/carts/bob", headers=bearer(token)).json()["items"]
    other = gateway.get("/api/carts/ada", headers=bearer(token))
    assert other.status_code == 403 and other.json()["reason"] == "not_owner"


# --- every attack: a 401/403 with our JSON error ------------------------------------------------------------------
def test_missing_and_malformed_tokens(gateway):
    assert_refused(gateway.get("/api/echo"), 401, "missing_token")
    assert_refused(gateway.get("/api/echo", headers={"Authorization": "Basic YTpi"}), 401, "missing_token")
    assert_refused(gateway.get("/api/echo", headers=bearer("not-a-jwt")), 401, "malformed")
    assert_refused(gateway.get("/api/echo", headers=bearer("a.b.c")), 401, "malformed")


def test_bad_signature_and_tampered_payload(gateway, identity):
    token = user_token(identity)
    header, payload, signature = token.split(".")
    other = user_token(identity, "bob").split(".")[2]
    assert_refused(gateway.get("/api/echo", headers=bearer(f"{header}.{payload}.{other}")), 401, "bad_signature")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"], claims["scope"] = "admin", claims["scope"] + " echo:write"
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert_refused(gateway.post("/api/echo", headers=bearer(tampered)), 401, "bad_signature")
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # our key under the provider's kid
    assert_refused(gateway.get("/api/echo", headers=bearer(forge(identity, token, key=own_key))), 401, "bad_signature")


def test_alg_none_and_hs256_with_the_public_key(gateway, identity):
    token = user_token(identity)
    header, payload, _ = token.split(".")
    kid = jwt.get_unverified_header(token)["kid"]
    none = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': kid}).encode())}.{payload}."
    assert_refused(gateway.get("/api/echo", headers=bearer(none)), 401, "alg_not_allowed")
    public_pem = provider_key(identity, kid).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}.{payload}"
    import hashlib
    import hmac
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(gateway.get("/api/echo", headers=bearer(f"{signing_input}.{b64(mac)}")), 401, "alg_not_allowed")


def test_expired_not_yet_valid_wrong_issuer_wrong_audience(gateway, identity):
    token = user_token(identity)
    now = int(time.time())
    cases = [({"exp": now - 60, "iat": now - 400, "nbf": now - 400}, "expired"),
             ({"nbf": now + 600, "iat": now, "exp": now + 900}, "not_yet_valid"),
             ({"iss": "http://evil.example"}, "wrong_issuer"),
             ({"aud": "someone-else"}, "wrong_audience")]
    for changes, reason in cases:
        assert_refused(gateway.get("/api/echo", headers=bearer(forge(identity, token, **changes))), 401, reason)
    # the untouched token still works: the forgeries differ only in what they claim
    assert gateway.get("/api/echo", headers=bearer(token)).status_code == 200


def test_missing_scope_is_403(gateway, identity):
    token = user_token(identity)  # users get orders/carts scopes, not echo:write
    assert_refused(gateway.post("/api/echo", headers=bearer(token)), 403, "missing_scope")
    narrow = user_token(identity, "cleo", scope="catalog:read")
    assert gateway.get("/api/echo", headers=bearer(narrow)).status_code == 200  # [] = any valid token


def test_a_token_from_a_removed_key_is_refused(start_identity, start_gateway):
    identity = start_identity("identity-short", access_ttl=2, publish_delay=1.0)
    gateway = start_gateway(identity_url=identity.url)
    token = user_token(identity)
    old_kid = jwt.get_unverified_header(token)["kid"]
    old_key = provider_key(identity, old_kid)  # as if it leaked
    assert gateway.get("/api/echo", headers=bearer(token)).status_code == 200
    assert identity.post("/keys/rotate", headers=bearer(ADMIN)).status_code == 201
    deadline = time.monotonic() + 30
    while old_kid in {k["kid"] for k in identity.get("/.well-known/jwks.json").json()["keys"]}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    now = int(time.time())
    fresh = forge(identity, token, key=old_key, iat=now, nbf=now, exp=now + 300)
    deadline = time.monotonic() + 10  # the gateway's cached JWKS may still hold it for its max-age
    while (answer := gateway.get("/api/echo", headers=bearer(fresh))).status_code == 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert_refused(answer, 401, "unknown_key")
    unknown = jwt.encode(jwt.decode(fresh, options={"verify_signature": False}), old_key, algorithm="RS256",
                         headers={"kid": "made-up"})
    assert_refused(gateway.get("/api/echo", headers=bearer(unknown)), 401, "unknown_key")
    assert gateway.get("/api/echo", headers=bearer(user_token(identity, "bob"))).status_code == 200


def test_oversized_headers_are_refused_as_json(gateway, identity):
    answer = gateway.get("/api/echo", headers=bearer("x" * 20_000))
    assert answer.status_code == 431 and answer.json()["status"] == 431
    answer = gateway.get("/api/open-echo", headers={"X-Padding": "y" * 9000})
    assert answer.status_code == 431
    assert answer.headers["Content-Type"].startswith("application/json")


def test_nothing_secret_in_the_gateways_log(gateway, identity):
    token = user_token(identity)
    gateway.get("/api/echo", headers=bearer(token))
    gateway.get("/api/echo", headers=bearer(forge(identity, token, aud="x")))
    gateway.post("/api/echo", headers=bearer(token))
    in_url = gateway.get(f"/api/open-echo?access_token={token}")
    assert in_url.status_code == 400 and "URL" in in_url.json()["message"]
    time.sleep(0.3)
    text = log_text(gateway)
    assert "token refused" in text  # it does log refusals, with reason codes ...
    for secret in (token, token.split(".")[2], SHOP_SECRET, ADMIN):
        assert secret not in text  # ... but never a token or a secret


# --- rate limits ---------------------------------------------------------------------------------------------------
def test_rate_limit_per_user_with_headers(start_gateway, identity):
    gateway = start_gateway(rate_limit={"capacity": 3, "refill_per_s": 0.5})
    ada, bob = bearer(user_token(identity, "ada")), bearer(user_token(identity, "bob"))
    remaining = [int(gateway.get("/api/echo", headers=ada).headers["RateLimit-Remaining"]) for _ in range(3)]
    assert remaining == [2, 1, 0]
    limited = gateway.get("/api/echo", headers=ada)
    assert limited.status_code == 429 and limited.json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert limited.headers["RateLimit-Limit"] == "3" and limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["RateLimit-Reset"]) >= 1
    assert gateway.get("/api/echo", headers=bob).status_code == 200  # a bucket per user
    time.sleep(int(limited.headers["Retry-After"]) + 0.1)
    assert gateway.get("/api/echo", headers=ada).status_code == 200  # refilled


def test_rate_limit_is_atomic_under_concurrency(start_gateway, identity, redis_server):
    gateway = start_gateway(rate_limit={"capacity": 10, "refill_per_s": 0.01})
    ada = bearer(user_token(identity, "ada"))
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: gateway.get("/api/echo", headers=ada).status_code, range(40)))
    assert statuses.count(200) == 10 and statuses.count(429) == 30
    prefix = gateway.config["rate_limit_prefix"]
    assert redis_server.client().exists(f"{prefix}user:ada")


def test_rate_limit_counts_on_when_redis_forgot_its_script_and_connections(start_gateway, identity, redis_server):
    """What a Redis restart does to the gateway: its scripts forgotten (Redis keeps them in memory only) and its
    connections closed. The gateway, which runs the bucket's script by its SHA1 on a connection each thread
    keeps, loads the script again on a new connection and counts on exactly."""
    gateway = start_gateway(rate_limit={"capacity": 3, "refill_per_s": 0.01})
    ada = bearer(user_token(identity, "ada"))
    assert gateway.get("/api/echo", headers=ada).headers["RateLimit-Remaining"] == "2"
    r = redis_server.client()
    r.script_flush()
    gateways = [c["addr"] for c in r.client_list() if c["cmd"] == "evalsha"]  # whose last command ran the script
    assert gateways
    for addr in gateways:
        r.client_kill(addr)
    answers = [gateway.get("/api/echo", headers=ada) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert "rate limiter unavailable" not in log_text(gateway)  # counted, not let through


def test_anonymous_callers_are_limited_per_address_and_clients_per_client(start_gateway, identity):
    gateway = start_gateway(rate_limit={"capacity": 2, "refill_per_s": 0.01})
    assert [gateway.get("/api/open-echo").status_code for _ in range(3)] == [200, 200, 429]
    shop = bearer(client_token(identity))
    assert [gateway.get("/api/echo", headers=shop).status_code for _ in range(3)] == [200, 200, 429]


def test_a_learners_rate_limiter_is_loaded(start_gateway, identity, tmp_path):
    limiter = tmp_path / "my_limiter.py"
    limiter.write_text(
        "class FixedWindow:\n"
        "    def __init__(self, capacity, refill_per_s):\n"
        "        self.limit = capacity\n"
        "    def allow(self, redis, key, now):\n"
        "        window = f'{key}:{int(now)}'\n"
        "        pipe = redis.pipeline()\n"
        "        pipe.incr(window)\n"
        "        pipe.expire(window, 2)\n"
        "        count = pipe.execute()[0]\n"
        "        return count <= self.limit, max(0, self.limit - count), 0 if count <= self.limit else 1 - now % 1\n")
    gateway = start_gateway(rate_limit={"capacity": 2, "refill_per_s": 1}, rate_limiter=f"{limiter}:FixedWindow")
    assert gateway.get("/_gateway").json()["rate_limiter"] == "FixedWindow"
    ada = bearer(user_token(identity))
    statuses = []
    while len(statuses) < 3 or 429 not in statuses:  # within one whole second, the third one is refused
        t = time.time()
        if t % 1 > 0.7:
            time.sleep(1 - t % 1 + 0.01)
        statuses = [gateway.get("/api/echo", headers=ada).status_code for _ in range(3)]
        if time.time() // 1 == t // 1 or 429 in statuses:
            break
    assert statuses == [200, 200, 429]


# --- composition, translation ----------------------------------------------------------------------------------------
@pytest.fixture
def shop(launch, start_gateway):
    catalog = launch("catalog", traffic=False)
    stock = launch("legacy_stock", "stock", traffic=False)
    return start_gateway(upstreams={"catalog": catalog.url, "stock": stock.url, "echo": "http://127.0.0.1:9"},
                         composition_timeouts={"stock": 0.5}), catalog, stock


def test_product_page_composes_and_marks_a_partial_answer(shop):
    gateway, catalog, stock = shop
    page = gateway.get("/api/product-page/1").json()
    assert page["product"]["name"] == "Lamp" and page["stock"]["quantity"] >= 0
    assert page["partial"] is False and page["missing"] == []
    stock.chaos(delay_ms=3000)  # slow: cut off by the 0.5 s per-call timeout (had it waited, stock would be there)
    slow = gateway.get("/api/product-page/1").json()
    assert slow["partial"] is True and slow["missing"] == ["stock"] and slow["product"]["name"] == "Lamp"
    stock.chaos()
    stock.stop()
    down = gateway.get("/api/product-page/1")
    assert down.status_code == 200 and down.json()["missing"] == ["stock"]
    assert gateway.get("/api/product-page/999").status_code == 404
    catalog.stop()
    assert gateway.get("/api/product-page/1").status_code == 503  # no product, no page


def test_stock_speaks_xml_behind_and_json_in_front(shop, identity):
    gateway, _, stock = shop
    assert stock.get("/stock?sku=3").headers["Content-Type"].startswith("application/xml")
    answer = gateway.get("/api/stock/3")
    assert answer.headers["Content-Type"].startswith("application/json")
    before = answer.json()
    assert before == {"sku": 3, "quantity": before["quantity"], "warehouse": "south", "in_stock": True}
    shop_token = bearer(client_token(identity))
    moved = gateway.post("/api/stock/3", json={"delta": -5}, headers=shop_token)
    assert moved.status_code == 200 and moved.json()["quantity"] == before["quantity"] - 5
    too_many = gateway.post("/api/stock/3", json={"delta": -1_000_000}, headers=shop_token)
    assert too_many.status_code == 409 and too_many.json()["upstream_code"] == "NOT_ENOUGH"
    assert gateway.get("/api/stock/99").status_code == 404
    assert gateway.post("/api/stock/3", json={"delta": "x"}, headers=shop_token).json()["field"] == "delta"
    assert_refused(gateway.post("/api/stock/3", json={"delta": 1}, headers=bearer(user_token(identity))),
                   403, "missing_scope")


# --- CORS and OpenAPI ------------------------------------------------------------------------------------------------
def test_cors_preflight_and_headers(start_gateway, identity):
    gateway = start_gateway(cors_origins=["http://shop.example"])
    preflight = gateway.request("OPTIONS", "/api/echo", headers={
        "Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://shop.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    refused = gateway.get("/api/echo", headers={"Origin": "http://shop.example"})  # even a 401 is readable
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "http://shop.example"
    assert "RateLimit-Remaining" in refused.headers["Access-Control-Expose-Headers"]
    evil = gateway.request("OPTIONS", "/api/echo", headers={"Origin": "http://evil.example",
                                                            "Access-Control-Request-Method": "GET"})
    assert evil.status_code == 403 and "Access-Control-Allow-Origin" not in evil.headers
    assert "Access-Control-Allow-Origin" not in gateway.get("/api/open-echo", headers={"Origin": "http://evil.example"}).headers


def test_openapi_document_comes_from_the_routing_table(gateway):
    doc = gateway.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert doc["paths"]["/api/orders"]["post"]["security"] == [{"bearer": ["orders:write"]}]
    assert doc["paths"]["/api/products/{rest}"]["get"]["security"] == []
    assert doc["paths"]["/api/echo"]["get"]["security"] == [{"bearer": []}]
    assert "/api/product-page/{id}" in doc["paths"] and "/api/stock/{sku}" in doc["paths"]
    assert doc["paths"]["/api/mobile/home"]["get"]["security"] == [{"bearer": ["carts:read", "orders:read"]}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
