"""The gateway's verified-token cache over HTTP (microcosm/tokens/cache.py): a token verified once is taken
from the cache, yet refused at once when its key leaves the provider's JWKS, and refused once it expires."""
from __future__ import annotations

import time

import jwt

from identity_helpers import ADMIN, provider_key, user_token
from test_gateway import assert_refused, bearer, echo, forge, identity, start_gateway, start_identity  # noqa: F401


def cache_state(gateway) -> dict:
    return gateway.get("/_gateway").json()["identity"]["verified_tokens"]


def test_a_cached_token_whose_key_left_the_jwks_is_refused_at_once(start_identity, start_gateway):
    identity = start_identity("identity-short", access_ttl=2, publish_delay=1.0)
    gateway = start_gateway(identity_url=identity.url)
    token = user_token(identity)
    old_kid = jwt.get_unverified_header(token)["kid"]
    now = int(time.time())  # a token of the old key that outlives the key (as if the key had leaked)
    cached = forge(identity, token, key=provider_key(identity, old_kid), iat=now, nbf=now, exp=now + 300)
    for _ in range(3):
        assert gateway.get("/api/echo", headers=bearer(cached)).status_code == 200
    assert cache_state(gateway)["hits"] >= 2  # verified once, then taken from the cache

    assert identity.post("/keys/rotate", headers=bearer(ADMIN)).status_code == 201
    deadline = time.monotonic() + 30
    while old_kid in {k["kid"] for k in identity.get("/.well-known/jwks.json").json()["keys"]}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # the gateway refetches its JWKS when its max-age is over: another caller's requests make it do so
    other = bearer(user_token(identity, "bob"))
    deadline = time.monotonic() + 15
    while old_kid in gateway.get("/_gateway").json()["identity"]["known_keys"]:
        assert time.monotonic() < deadline
        assert gateway.get("/api/echo", headers=other).status_code == 200
        time.sleep(0.2)
    # the first request after the gateway learnt that the key is gone is refused, though the token is cached
    assert_refused(gateway.get("/api/echo", headers=bearer(cached)), 401, "unknown_key")
    assert gateway.get("/api/echo", headers=other).status_code == 200


def test_an_expired_cached_token_is_refused(start_identity, start_gateway):
    identity = start_identity("identity-short", access_ttl=2)
    gateway = start_gateway(identity_url=identity.url)
    token = user_token(identity)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    for _ in range(3):
        assert gateway.get("/api/echo", headers=bearer(token)).status_code == 200
    assert cache_state(gateway)["hits"] >= 2
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    assert_refused(gateway.get("/api/echo", headers=bearer(token)), 401, "expired")


def test_a_forged_token_is_refused_every_time_and_never_cached(start_gateway, identity):
    gateway = start_gateway()
    token = user_token(identity)
    forged = forge(identity, token, sub="admin", key=None)
    header, payload, _ = forged.split(".")
    original_signature = token.split(".")[2]
    tampered = f"{header}.{payload}.{original_signature}"  # new claims under the real token's signature
    assert gateway.get("/api/echo", headers=bearer(token)).status_code == 200
    for _ in range(3):
        assert_refused(gateway.get("/api/echo", headers=bearer(tampered)), 401, "bad_signature")
    assert cache_state(gateway)["entries"] == 1


def test_the_front_fetches_the_jwks_again_before_it_expires_so_cached_tokens_stay_on_its_loop(start_identity,
                                                                                               start_gateway):
    """The provider lets verifiers keep its JWKS for publish_delay (2 s): the gateway's front has a thread fetch it
    again before it expires. Before, the first request after each expiry took its token check to a thread and
    waited there for the fetch (so every fetch was some request's check in a thread)."""
    identity = start_identity("identity-ahead", publish_delay=2.0)
    gateway = start_gateway(identity_url=identity.url)
    token = bearer(user_token(identity))
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        assert gateway.get("/api/echo", headers=token).status_code == 200
        time.sleep(0.05)
    status = gateway.get("/_gateway").json()
    fetches, in_a_thread = status["identity"]["jwks_fetches"], status["front"]["tokens_checked_in_a_thread"]
    assert fetches >= 3, status["identity"]  # fetched again as it aged
    # the first sight is checked in a thread (and fetches the JWKS); later ones only if they met a fetch in flight
    assert 1 <= in_a_thread <= fetches // 2, (fetches, in_a_thread)
    assert cache_state(gateway)["misses"] == 1
