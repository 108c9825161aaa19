"""microcosm.forgeries: each forged token is the attack its docstring names, and tokens.verify refuses it for
the reason chapter 06 teaches (no server: a provider key and its JWKS made here)."""
from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from microcosm import forgeries
from microcosm.services.identity import public_jwk, thumbprint
from microcosm.tokens import TokenError, verify

ISSUER, AUDIENCE = "http://127.0.0.1:9", "microcosm"


@pytest.fixture(scope="module")
def provider():
    """The provider's private key, its kid, its JWKS, and ada's genuine token."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = thumbprint(key.public_key())
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "iat": now, "nbf": now, "exp": now + 3600,
              "jti": "j1", "scope": "orders:read"}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    return key, kid, {"keys": [public_jwk(key.public_key(), kid)]}, token


def refused_because(token, jwks) -> str:
    with pytest.raises(TokenError) as caught:
        verify(token, jwks, ISSUER, AUDIENCE, ["orders:read"])
    return caught.value.reason


def test_every_forgery_of_the_chapter_is_refused_for_its_own_reason(provider):
    key, _, jwks, token = provider
    assert verify(token, jwks, ISSUER, AUDIENCE, ["orders:read"])["sub"] == "ada"  # the genuine one passes
    reasons = {name: refused_because(forged, jwks) for name, forged in forgeries.every_forgery(token, jwks, key)}
    assert reasons == {
        "not a JWT": "malformed", "tampered payload": "bad_signature", "alg none": "alg_not_allowed",
        "HS256 with the public key": "alg_not_allowed", "own key, provider's kid": "bad_signature",
        "unknown kid": "unknown_key", "expired (real key)": "expired",
        "other audience (real key)": "wrong_audience", "other issuer (real key)": "wrong_issuer"}


def test_the_forgeries_ask_for_more_than_the_genuine_token_gives(provider):
    _, kid, jwks, token = provider
    for forged in (forgeries.tampered_payload(token), forgeries.alg_none(token), forgeries.strangers_key(token),
                   forgeries.hs256_with_public_key(token, jwks["keys"][0])):
        claims = forgeries.decoded(forged.split(".")[1])
        assert claims["sub"] == "admin" and claims["scope"] == "orders:read catalog:write admin"
        assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE  # otherwise as genuine as the original


def test_each_forgery_is_built_as_its_docstring_says(provider):
    _, kid, jwks, token = provider
    assert forgeries.tampered_payload(token).split(".")[::2] == token.split(".")[::2]  # header, signature kept
    header_part, payload_part, signature = forgeries.alg_none(token).split(".")
    assert forgeries.decoded(header_part)["alg"] == "none" and signature == ""
    signing_input, mac = forgeries.hs256_with_public_key(token, jwks["keys"][0]).rsplit(".", 1)
    public_pem = jwt.algorithms.RSAAlgorithm.from_jwk(jwks["keys"][0]).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert forgeries.decoded(signing_input.split(".")[0])["alg"] == "HS256"
    assert mac == forgeries.b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    assert jwt.get_unverified_header(forgeries.strangers_key(token))["kid"] == kid
    assert jwt.get_unverified_header(forgeries.unknown_kid(token))["kid"] != kid


def test_re_signed_with_the_real_key_changes_only_what_it_is_told(provider):
    key, _, jwks, token = provider
    for forged, claim in ((forgeries.not_yet_valid(token, key), "nbf"), (forgeries.without_exp(token, key), "exp")):
        before, after = forgeries.decoded(token.split(".")[1]), forgeries.decoded(forged.split(".")[1])
        assert {k: v for k, v in before.items() if k != claim} == {k: v for k, v in after.items() if k != claim}
    assert "exp" not in forgeries.decoded(forgeries.without_exp(token, key).split(".")[1])
    assert refused_because(forgeries.not_yet_valid(token, key), jwks) == "not_yet_valid"
    assert refused_because(forgeries.without_exp(token, key), jwks) == "malformed"  # exp is a required claim


def test_provider_key_reads_the_key_from_the_provider_s_data_folder(provider, tmp_path):
    key, kid, _, _ = provider
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / f"{kid}.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert forgeries.provider_key(tmp_path, kid).private_numbers() == key.private_numbers()
