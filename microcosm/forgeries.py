"""Forged tokens: what an attacker can make from one genuine access token, one function per attack.

    from microcosm import forgeries
    for name, token in forgeries.every_forgery(access, jwks, provider_key):
        gateway.get("/api/orders", headers={"Authorization": f"Bearer {token}"})   # each one must get a 401

Each attack starts from `token`, a real access token the attacker holds (their own, or one they stole), and
asks for more than it gives: `sub` becomes `admin` and the scopes grow (`greedy`). The first ones are made
without the provider's private key, as an attacker must; the last ones are signed with the provider's real
key (read from its data folder, as only an operator can) but wrong in one claim, to show that a verifier
checks more than the signature. `microcosm.tokens.verify` refuses every one; chapter 06 sends them to a
gateway, and lab 06 to the verifier the learner writes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def b64(data: bytes) -> str:
    """base64url without its '=' padding, as every part of a JWT is written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decoded(part: str) -> dict:
    """One dot-separated part of a JWT (header or payload) as the JSON object it holds."""
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def unsigned(header: dict, claims: dict) -> str:
    """`header.payload` of a JWT: what a signature signs, and all that an `alg: none` token is."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def greedy(claims: dict) -> dict:
    """What every attack asks for: the same claims, but as `admin`, with catalog:write and admin scopes."""
    return {**claims, "sub": "admin", "scope": (claims.get("scope", "") + " catalog:write admin").strip()}


def _parts(token: str) -> tuple[dict, dict]:
    header_part, payload_part, _ = token.split(".")
    return decoded(header_part), decoded(payload_part)


def not_a_jwt(token: str) -> str:
    """Not three base64url JSON parts at all: a verifier must refuse it before reading anything."""
    return "hello.world"


def tampered_payload(token: str) -> str:
    """The real token's header and signature around a greedy payload. The signature no longer matches, so
    only a verifier that skips the signature check (or decodes without verifying) believes it."""
    header_part, payload_part, signature_part = token.split(".")
    return f"{header_part}.{b64(json.dumps(greedy(decoded(payload_part))).encode())}.{signature_part}"


def alg_none(token: str) -> str:
    """An unsigned token (`"alg": "none"`, empty signature), which the JWT standard allows. A verifier that
    takes the algorithm from the token's header accepts anything."""
    header, claims = _parts(token)
    return unsigned({"alg": "none", "typ": "JWT", "kid": header["kid"]}, greedy(claims)) + "."


def hs256_with_public_key(token: str, public_jwk: dict) -> str:
    """Algorithm confusion: HMAC-SHA256 (HS256, a shared-secret algorithm) keyed with the provider's PUBLIC
    key in PEM form, which anyone can fetch. A verifier that reads `alg` from the token and hands "its key" to
    the HMAC check computes the same MAC and accepts it."""
    header, claims = _parts(token)
    public_pem = RSAAlgorithm.from_jwk(public_jwk).public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}, greedy(claims))
    return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


def strangers_key(token: str) -> str:
    """Properly RS256-signed, but with the attacker's own new RSA key, under the provider's key id. Only the
    check against the provider's published key shows the signature is not the provider's."""
    header, claims = _parts(token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(greedy(claims), stranger, algorithm="RS256", headers={"kid": header["kid"]})


def unknown_kid(token: str) -> str:
    """Signed with the attacker's own key under a key id the provider never published: a verifier must not
    fetch or trust a key because a token names it."""
    _, claims = _parts(token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(greedy(claims), stranger, algorithm="RS256", headers={"kid": "attacker-key-1"})


def provider_key(data_dir, kid: str):
    """The identity provider's private key `kid`, read from its data folder (what only an operator can do)."""
    pem = (Path(data_dir) / "keys" / f"{kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def re_signed(token: str, key, **changes) -> str:
    """The token's own claims with `changes` (a value None removes the claim), signed RS256 with `key` under
    the token's key id: with the provider's key, a genuine signature on whatever claims we choose."""
    header, claims = _parts(token)
    claims = {k: v for k, v in {**claims, **changes}.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header["kid"]})


def expired(token: str, key) -> str:
    """Genuinely signed, but its `exp` passed a minute ago: a stolen old token must not work."""
    return re_signed(token, key, exp=int(time.time()) - 60)


def not_yet_valid(token: str, key) -> str:
    """Genuinely signed, but its `nbf` (not before) is a minute from now."""
    return re_signed(token, key, nbf=int(time.time()) + 60)


def without_exp(token: str, key) -> str:
    """Genuinely signed, but with no `exp` at all: a token that would never expire must be refused."""
    return re_signed(token, key, exp=None)


def other_issuer(token: str, key) -> str:
    """Genuinely signed, but `iss` names another provider: a verifier accepts only its own provider's tokens."""
    return re_signed(token, key, iss="http://evil.example")


def other_audience(token: str, key) -> str:
    """Genuinely signed, but `aud` names another system: a token meant elsewhere must not work here."""
    return re_signed(token, key, aud="another-system")


def every_forgery(token: str, jwks: dict, key) -> list[tuple[str, str]]:
    """(name, forged token) for each attack, as chapter 06 lists them: six made without the provider's key,
    then three signed with it (`key`) but wrong in one claim. `jwks` is the provider's published JWK Set."""
    kid = _parts(token)[0]["kid"]
    public_jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    return [
        ("not a JWT", not_a_jwt(token)),
        ("tampered payload", tampered_payload(token)),
        ("alg none", alg_none(token)),
        ("HS256 with the public key", hs256_with_public_key(token, public_jwk)),
        ("own key, provider's kid", strangers_key(token)),
        ("unknown kid", unknown_kid(token)),
        ("expired (real key)", expired(token, key)),
        ("other audience (real key)", other_audience(token, key)),
        ("other issuer (real key)", other_issuer(token, key)),
    ]
