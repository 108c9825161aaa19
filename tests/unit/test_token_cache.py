"""microcosm.tokens.VerifiedTokens: a token verified once is not verified again until it expires, but the cache
never accepts what `verify` would refuse now (expired, not yet valid, its key gone, a scope missing), only
verified tokens enter it, and it stays bounded whatever tokens are sent."""
from __future__ import annotations

import base64
import datetime
import json
import time

import jwt
import jwt.api_jwt
import pytest

from microcosm.services.identity import public_jwk
from microcosm.tokens import TokenError, VerifiedTokens, verify

ISSUER, AUDIENCE = "http://127.0.0.1:9", "microcosm"


@pytest.fixture
def jwks(key):
    return {"keys": [public_jwk(key[0].public_key(), key[1])]}


def sign(key, kid=None, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "iat": now, "nbf": now, "exp": now + 300, "jti": "j1",
              "scope": "catalog:read orders:write", **overrides}
    return jwt.encode(claims, key[0], algorithm="RS256", headers={"kid": kid or key[1]})


class CountingVerify:
    """tokens.verify, counting the calls that reached it (each one a full check: the signature's too)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return verify(*args, **kwargs)


def set_clock(monkeypatch, at: float) -> None:
    """The time as the cache (time.time) and PyJWT (datetime.now) read it."""
    class Shifted(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(at, tz)

    monkeypatch.setattr(time, "time", lambda: at)
    monkeypatch.setattr(jwt.api_jwt, "datetime", Shifted)


def reason(cache, token, scopes=()) -> str:
    with pytest.raises(TokenError) as caught:
        cache.verify(token, scopes)
    return caught.value.reason


def test_a_cached_token_is_not_verified_again(key, jwks):
    counting = CountingVerify()
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, verifier=counting)
    token = sign(key)
    for _ in range(5):
        assert cache.verify(token, ["orders:write"])["sub"] == "ada"
    assert counting.calls == 1 and cache.hits == 4 and len(cache) == 1


def test_scopes_are_checked_on_every_use(key, jwks):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    token = sign(key, scope="catalog:read")
    assert cache.verify(token, ["catalog:read"])["sub"] == "ada"
    assert reason(cache, token, ["orders:write"]) == "missing_scope"
    assert cache.verify(token)["scope"] == "catalog:read"


def test_the_claims_given_out_are_a_copy(key, jwks):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    token = sign(key)
    cache.verify(token)["sub"] = "mallory"
    assert cache.verify(token)["sub"] == "ada"


def test_an_entry_ends_at_the_tokens_expiry(key, jwks, monkeypatch):
    counting = CountingVerify()
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, verifier=counting)
    now = time.time()
    token = sign(key, exp=int(now) + 60)
    assert cache.verify(token)["sub"] == "ada"
    set_clock(monkeypatch, now + 61)  # a minute later
    assert reason(cache, token) == "expired"
    assert counting.calls == 2 and len(cache) == 0  # the cache did not vouch for it: verify said why not


def test_a_token_not_yet_valid_again_is_refused(key, jwks, monkeypatch):
    """Time-based claims are checked on each use against the clock, even one that went back."""
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    now = time.time()
    token = sign(key, nbf=int(now), iat=int(now))
    assert cache.verify(token)["sub"] == "ada"
    set_clock(monkeypatch, now - 120)
    assert reason(cache, token) == "not_yet_valid"


def test_a_token_that_expired_before_it_was_cached_never_enters(key, jwks):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, leeway=30)  # verify accepts it within the leeway
    token = sign(key, exp=int(time.time()) - 5)
    assert cache.verify(token)["sub"] == "ada"
    assert len(cache) == 0  # an entry never outlives exp


def test_a_key_that_left_the_jwks_takes_its_cached_tokens_with_it(key, other_key, jwks):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    token = sign(key)
    assert cache.verify(token)["sub"] == "ada"
    jwks["keys"] = [public_jwk(other_key[0].public_key(), other_key[1])]  # rotated: the old key left
    assert reason(cache, token) == "unknown_key"
    assert len(cache) == 0


def test_a_kid_published_with_other_material_checks_its_tokens_again(key, other_key, jwks):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    token = sign(key)
    assert cache.verify(token)["sub"] == "ada"
    jwks["keys"] = [public_jwk(other_key[0].public_key(), key[1])]  # the same kid, another key
    assert reason(cache, token) == "bad_signature"


def test_a_forged_token_never_enters(key, other_key, jwks):
    counting = CountingVerify()
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, verifier=counting)
    forged = sign(other_key, kid=key[1])  # signed with our own key, naming the provider's
    for _ in range(3):
        assert reason(cache, forged) == "bad_signature"
    assert counting.calls == 3 and len(cache) == 0
    for wrong in (sign(key, aud="other"), sign(key, iss="http://evil"), sign(key, exp=int(time.time()) - 60)):
        assert reason(cache, wrong) in ("wrong_audience", "wrong_issuer", "expired")
    header, payload, signature = sign(key).split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered["sub"] = "admin"
    body = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    assert reason(cache, f"{header}.{body}.{signature}") == "bad_signature"
    assert len(cache) == 0


@pytest.mark.parametrize("junk", [None, "", "x", "a.b.c", "e30.e30.", "." * 2, "ÿ.ÿ.ÿ", "x" * 9000])
def test_junk_is_refused_as_verify_refuses_it(junk, jwks):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    with pytest.raises(TokenError) as by_cache:
        cache.verify(junk)
    with pytest.raises(TokenError) as by_verify:
        verify(junk, jwks, ISSUER, AUDIENCE)
    assert by_cache.value.reason == by_verify.value.reason and len(cache) == 0


def test_the_bound_holds_under_100k_distinct_tokens(key, jwks):
    """Every token accepted (a stand-in verifier: signing 100k RS256 tokens would take minutes), yet the cache
    never holds more than max_entries, the least recently used leaving first."""
    now = int(time.time())
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": key[1]}).encode()).rstrip(b"=").decode()

    def accept_all(token, *args, **kwargs):
        return {"sub": "ada", "scope": "", "iat": now, "nbf": now, "exp": now + 300}

    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, max_entries=1000, verifier=accept_all)
    first = f"{header}.e30.sig0"
    cache.verify(first)
    for i in range(1, 100_000):
        cache.verify(f"{header}.e30.sig{i}")
        if i % 10_000 == 0:
            assert len(cache) <= 1000
    assert len(cache) == 1000
    assert cache.misses == 100_000 and cache.hits == 0
    recent = f"{header}.e30.sig99999"
    cache.verify(recent)
    assert cache.hits == 1  # the newest is kept, the oldest went
    cache.verify(first)
    assert cache.misses == 100_001


def test_tokens_without_a_usable_kid_are_verified_every_time(key, jwks):
    """Nothing is cached for a token whose key cannot be pinned down: verify decides alone."""
    accepted = {"sub": "ada", "scope": "", "iat": 0, "nbf": 0, "exp": 2**40}
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, verifier=lambda *a, **k: dict(accepted))
    no_kid = jwt.encode({"sub": "ada"}, key[0], algorithm="RS256")
    assert cache.verify(no_kid)["sub"] == "ada" and len(cache) == 0


def test_cached_answers_from_the_keys_given_without_io_and_only_for_a_token_it_holds(key, jwks):
    """`cached` (the gateway's event loop asks it): the claims of a token verified before while the keys the
    caller holds still publish its key; None, never a fetch, for anything else (then `verify` decides)."""
    class NoFetching(dict):
        def __getattr__(self, name):
            raise AssertionError("cached() must not touch the JWKS")

    counting = CountingVerify()
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE, verifier=counting)
    token, keys = sign(key), NoFetching({k["kid"]: k for k in jwks["keys"]})
    assert cache.cached(token, [], keys) is None  # never verified: verify's to decide
    assert cache.verify(token, ["catalog:read"])["sub"] == "ada" and counting.calls == 1
    claims = cache.cached(token, ["orders:write"], keys)
    assert claims["sub"] == "ada" and counting.calls == 1
    claims["sub"] = "eve"  # a copy: the cache keeps its own
    assert cache.cached(token, [], keys)["sub"] == "ada"
    with pytest.raises(TokenError) as caught:
        cache.cached(token, ["admin"], keys)
    assert caught.value.reason == "missing_scope"
    other = dict(keys[key[1]], n=jwks["keys"][0]["n"][:-4] + "AAAA")
    assert cache.cached(token, [], {key[1]: other}) is None  # the kid now names other key material
    assert cache.cached(token, [], keys) is None  # ... and the entry is gone: verify checks it in full again
    assert cache.verify(token)["sub"] == "ada" and counting.calls == 2
    assert cache.cached(token, [], {}) is None  # its key left the JWKS


def test_cached_refuses_an_expired_token_it_holds(key, jwks, monkeypatch):
    cache = VerifiedTokens(jwks, ISSUER, AUDIENCE)
    token = sign(key)
    cache.verify(token)
    keys = {k["kid"]: k for k in jwks["keys"]}
    set_clock(monkeypatch, time.time() + 301)
    assert cache.cached(token, [], keys) is None
