"""microcosm.tokens.verify against each way of forging or misusing a token, with tokens crafted here by PyJWT
and cryptography (no server). Each test names the attack and the reason code the verifier must give."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from microcosm.services.identity import public_jwk
from microcosm.tokens import JWKSCache, TokenError, bearer_token, verify

ISSUER, AUDIENCE = "http://127.0.0.1:9", "microcosm"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def jwks(key):
    private, kid = key
    return {"keys": [public_jwk(private.public_key(), kid)]}


def claims(**overrides):
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "iat": now, "nbf": now, "exp": now + 300,
            "jti": "j1", "scope": "catalog:read orders:write"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key, headers=None, **overrides):
    private, kid = key
    return jwt.encode(claims(**overrides), private, algorithm="RS256", headers={"kid": kid, **(headers or {})})


def reason(token, jwks, **kwargs) -> str:
    with pytest.raises(TokenError) as caught:
        verify(token, jwks, ISSUER, AUDIENCE, **kwargs)
    return caught.value.reason


def test_a_good_token_gives_its_claims(key, jwks):
    got = verify(sign(key), jwks, ISSUER, AUDIENCE, required_scopes=["orders:write"])
    assert got["sub"] == "ada" and got["scope"] == "catalog:read orders:write"


def test_jwks_as_json_text_works_too(key, jwks):
    assert verify(sign(key), json.dumps(jwks), ISSUER, AUDIENCE)["sub"] == "ada"


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(token, jwks):
    assert reason(token, jwks) == "missing_token"


@pytest.mark.parametrize("header", [None, "", "Basic YWRhOnB3", "Bearer ", "Token abc"])
def test_missing_or_wrong_authorization_header(header):
    with pytest.raises(TokenError) as caught:
        bearer_token(header)
    assert caught.value.reason == "missing_token" and caught.value.status == 401


def test_bearer_header_gives_the_token():
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c.d", "!!!.###.$$$", b64(b"not json") + ".e30.sig"])
def test_malformed(token, jwks):
    assert reason(token, jwks) == "malformed"


def test_alg_none_is_refused(key, jwks):
    _, kid = key
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": kid})
    assert token.endswith(".")  # no signature at all
    assert reason(token, jwks) == "alg_not_allowed"


def test_hs256_signed_with_the_public_key_is_refused(key, jwks):
    """The key-confusion attack: the public key is public, so an attacker HMAC-signs a token with its PEM text
    and hopes the verifier, reading alg from the token, uses the 'key' it has as an HMAC secret."""
    private, kid = key
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims(sub="admin", scope="admin")).encode())
    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    forged = f"{header}.{payload}.{signature}"
    # the forgery is a correct HS256 token for a verifier that would use the PEM as the HMAC secret ...
    assert hmac.compare_digest(signature, b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()))
    # ... ours never lets the token choose the algorithm
    assert reason(forged, jwks) == "alg_not_allowed"


def test_another_rsa_algorithm_is_refused_too(key, jwks):
    private, kid = key
    token = jwt.encode(claims(), private, algorithm="RS512", headers={"kid": kid})
    assert reason(token, jwks) == "alg_not_allowed"


def test_a_symmetric_key_slipped_into_the_jwks_is_not_used(key):
    _, kid = key
    token = jwt.encode(claims(), "s" * 32, algorithm="HS256", headers={"kid": kid})
    assert reason(token, {"keys": [{"kty": "oct", "kid": kid, "k": b64(b"s" * 32)}]}) == "alg_not_allowed"
    rs_token = sign(key)
    assert reason(rs_token, {"keys": [{"kty": "oct", "kid": kid, "k": b64(b"s" * 32)}]}) == "alg_not_allowed"


def test_tampered_payload_breaks_the_signature(key, jwks):
    header, _, signature = sign(key, scope="catalog:read").split(".")
    payload = b64(json.dumps(claims(scope="catalog:read admin")).encode())
    assert reason(f"{header}.{payload}.{signature}", jwks, required_scopes=["admin"]) == "bad_signature"


def test_signed_by_another_key_under_our_key_id(key, other_key, jwks):
    private, _ = other_key
    token = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": key[1]})
    assert reason(token, jwks) == "bad_signature"


def test_a_key_id_nobody_published(other_key, jwks):
    assert reason(sign(other_key), jwks) == "unknown_key"


def test_a_token_from_a_removed_key(key, other_key):
    """After rotation the old key leaves the JWKS: its tokens must stop working even if unexpired."""
    new_private, new_kid = other_key
    only_new = {"keys": [public_jwk(new_private.public_key(), new_kid)]}
    assert verify(sign(other_key), only_new, ISSUER, AUDIENCE)
    assert reason(sign(key), only_new) == "unknown_key"


def test_no_key_id(key, jwks):
    private, _ = key
    token = jwt.encode(claims(), private, algorithm="RS256")
    assert reason(token, jwks) == "unknown_key"


def test_expired(key, jwks):
    now = int(time.time())
    token = sign(key, iat=now - 400, nbf=now - 400, exp=now - 100)
    assert reason(token, jwks) == "expired"
    assert verify(token, jwks, ISSUER, AUDIENCE, leeway=200)["sub"] == "ada"  # clock-skew allowance


def test_not_yet_valid(key, jwks):
    now = int(time.time())
    assert reason(sign(key, nbf=now + 120, exp=now + 600), jwks) == "not_yet_valid"


def test_wrong_issuer(key, jwks):
    assert reason(sign(key, iss="http://evil.example"), jwks) == "wrong_issuer"


def test_wrong_audience(key, jwks):
    assert reason(sign(key, aud="another-system"), jwks) == "wrong_audience"


def test_missing_scope_is_403_not_401(key, jwks):
    with pytest.raises(TokenError) as caught:
        verify(sign(key, scope="catalog:read"), jwks, ISSUER, AUDIENCE, required_scopes=["orders:write"])
    assert caught.value.reason == "missing_scope" and caught.value.status == 403


def test_a_scope_is_a_whole_word_not_a_prefix(key, jwks):
    assert reason(sign(key, scope="orders:writer"), jwks, required_scopes=["orders:write"]) == "missing_scope"


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub", "jti", "nbf", "iat"])
def test_a_required_claim_missing(key, jwks, claim):
    assert reason(sign(key, **{claim: None}), jwks) == "malformed"


# --- the JWKS cache, against a real little HTTP server ------------------------------------------------------
class JWKSServer:
    """A real little HTTP server that answers every GET with `jwks` and counts the requests."""

    def __init__(self, jwks: dict):
        self.jwks, self.requests = jwks, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                outer.before_answer()
                body = json.dumps(outer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.after_answer()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def before_answer(self):
        pass

    def after_answer(self):
        pass

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server(key):
    server = JWKSServer({"keys": [public_jwk(key[0].public_key(), key[1])]})
    yield server
    server.close()


def test_cache_fetches_once_for_many_tokens(key, jwks_server):
    cache = JWKSCache(jwks_server.url)
    for _ in range(20):
        verify(sign(key), cache, ISSUER, AUDIENCE)
    assert jwks_server.requests == 1


def test_cache_refetches_on_a_new_key_id_but_not_more_than_once_a_while(key, other_key, jwks_server):
    cache = JWKSCache(jwks_server.url, min_refetch=60)
    verify(sign(key), cache, ISSUER, AUDIENCE)
    cache.tried_at -= 61  # as if the last fetch were a minute old
    jwks_server.jwks = {"keys": [public_jwk(k.public_key(), kid) for k, kid in (key, other_key)]}  # rotation
    assert verify(sign(other_key), cache, ISSUER, AUDIENCE)["sub"] == "ada"
    assert jwks_server.requests == 2
    # made-up key ids do not make it hammer the provider: at most one fetch per min_refetch
    for i in range(10):
        forged = jwt.encode(claims(), other_key[0], algorithm="RS256", headers={"kid": f"made-up-{i}"})
        assert reason(forged, cache) == "unknown_key"
    assert jwks_server.requests == 2


def test_cache_keeps_the_last_keys_when_the_provider_is_down(key, jwks_server):
    cache = JWKSCache(jwks_server.url, max_age=0, min_refetch=0)
    verify(sign(key), cache, ISSUER, AUDIENCE)
    jwks_server.close()
    assert verify(sign(key), cache, ISSUER, AUDIENCE)["sub"] == "ada"  # refetch failed, old keys still used
    assert cache.last_error is not None


def test_a_parsed_key_that_left_the_jwks_is_refused(key, other_key, jwks_server):
    """Keys are parsed once and kept (tokens/keys.py's key cache), but a token is checked only against a key the
    JWKS publishes now: after rotation the old key's tokens are refused although its parsed key is still kept."""
    cache = JWKSCache(jwks_server.url, max_age=0, min_refetch=0)  # every verification asks for the JWKS again
    old_token = sign(key)
    assert verify(old_token, cache, ISSUER, AUDIENCE)["sub"] == "ada"  # its key is parsed and kept now
    jwks_server.jwks = {"keys": [public_jwk(other_key[0].public_key(), other_key[1])]}  # the old key left
    assert verify(sign(other_key), cache, ISSUER, AUDIENCE)["sub"] == "ada"
    assert reason(old_token, cache) == "unknown_key"
    assert jwks_server.requests == 3


def test_a_kid_published_again_with_other_material_is_parsed_again(key, other_key):
    """The key cache is keyed by the key's content as well as its id: the same kid over another key's numbers
    verifies that key's tokens, and no longer the first key's."""
    _, kid = key
    first = {"keys": [public_jwk(key[0].public_key(), kid)]}
    assert verify(sign(key), first, ISSUER, AUDIENCE)["sub"] == "ada"
    swapped = {"keys": [public_jwk(other_key[0].public_key(), kid)]}  # same kid, other material
    assert reason(sign(key), swapped) == "bad_signature"
    assert verify(sign((other_key[0], kid)), swapped, ISSUER, AUDIENCE)["sub"] == "ada"
    assert verify(sign(key), first, ISSUER, AUDIENCE)["sub"] == "ada"


# --- a slow provider stalls no token whose key we already hold --------------------------------------------------
class StallingJWKSServer(JWKSServer):
    """A JWKS server whose answers can be held back: while `stall` is set, a request signals `entered` and then
    waits on `release` before it answers. The test controls both events; nothing here depends on timing."""

    def __init__(self, jwks: dict):
        self.stall = False
        self.entered, self.release, self.answered = threading.Event(), threading.Event(), threading.Event()
        self.request = threading.local()  # (was this request held back? `stall` may be set while it is answered)
        super().__init__(jwks)

    def before_answer(self):
        self.request.held = self.stall
        if self.stall:
            self.entered.set()
            self.release.wait(60)

    def after_answer(self):
        if getattr(self.request, "held", False):
            self.answered.set()

    def close(self):
        self.release.set()
        super().close()


def test_a_known_key_is_used_while_a_refetch_is_stuck(key, other_key):
    """One verification waits on a refetch (its kid is new) that the provider holds back; meanwhile tokens whose
    key the cache holds are verified (even with the cache past its max-age), and a second unknown kid waits for
    the same fetch instead of starting another. Before the fix the cache held its lock during the fetch."""
    server = StallingJWKSServer({"keys": [public_jwk(key[0].public_key(), key[1])]})
    try:
        cache = JWKSCache(server.url, max_age=0, min_refetch=60, timeout=60)  # stale at once; a long fetch timeout
        assert verify(sign(key), cache, ISSUER, AUDIENCE)["sub"] == "ada"
        cache.tried_at -= 61  # as if the last fetch were a minute old: one refetch is allowed now, not two
        server.jwks = {"keys": [public_jwk(k.public_key(), kid) for k, kid in (key, other_key)]}  # rotation
        server.stall = True
        results: dict = {}

        def check(name, token):
            try:
                results[name] = verify(token, cache, ISSUER, AUDIENCE)["sub"]
            except TokenError as exc:
                results[name] = exc.reason

        new_kid = threading.Thread(target=check, args=("new kid", sign(other_key)))
        new_kid.start()
        assert server.entered.wait(30), "the refetch for the new kid never reached the provider"
        known = threading.Thread(target=check, args=("known kid", sign(key, sub="bob")))
        known.start()
        known.join(30)
        # the known-kid token was verified while the provider still holds the refetch back
        assert results.get("known kid") == "bob", results
        assert not server.release.is_set() and not server.answered.is_set() and new_kid.is_alive()
        second_new = threading.Thread(target=check, args=("second new", sign(other_key, sub="cleo")))
        second_new.start()
        server.release.set()
        new_kid.join(30)
        second_new.join(30)
        assert results["new kid"] == "ada" and results["second new"] == "cleo", results
        assert server.requests == 2 and cache.fetches == 2  # the first fetch, then exactly one refetch
    finally:
        server.close()
