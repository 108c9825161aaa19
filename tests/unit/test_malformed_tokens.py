"""No token, however malformed, gets anything but a TokenError with a 401 from microcosm.tokens.verify (and
bearer_token): odd or unknown JOSE header parameters, claims of the wrong type, nesting, size, bytes that are
not base64url or not UTF-8, the wrong number of dots. Tokens that must reach the claim checks are signed with
the real key, so a wrong type cannot hide behind a bad signature. A table, one row per way of being wrong."""
from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from microcosm.services.identity import public_jwk, thumbprint
from microcosm.tokens import REASONS, TokenError, bearer_token, verify

ISSUER, AUDIENCE = "http://127.0.0.1:9", "microcosm"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = thumbprint(KEY.public_key())
STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [public_jwk(KEY.public_key(), KID)]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header_json: str, payload_json: str, key=KEY) -> str:
    """A JWS over exactly these JSON texts (so NaN, duplicates and nesting survive), signed RS256 with `key`."""
    signing_input = f"{b64(header_json.encode())}.{b64(payload_json.encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def header(**changes) -> str:
    return json.dumps({k: v for k, v in {"alg": "RS256", "typ": "JWT", "kid": KID, **changes}.items()
                       if v is not ...})


def claims(**changes) -> dict:
    """Valid claims, changed as asked. The tokens are made when the module is collected and may be checked
    many minutes later in a full run, so they live a day (no test here is about expiry timing)."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "iat": now, "nbf": now, "exp": now + 86400, "jti": "j1",
            "scope": "orders:read"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def payload(**changes) -> str:
    return json.dumps(claims(**changes))


def raw_claim(name: str, json_value: str) -> str:
    """The payload with one claim's value written as raw JSON text (NaN, 1e400, a 5000-digit number ...)."""
    return payload(**{name: "@@"}).replace('"@@"', json_value)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def public_jwk_of(key) -> dict:
    return public_jwk(key.public_key(), KID)


# name -> the token. Every one must be refused with a 401 (a TokenError whose status is 401).
TOKENS = {
    # --- JOSE header parameters, odd or unknown (all signed with the real key unless said) ---
    "crit naming a registered claim": signed(header(crit=["exp"]), payload()),
    "crit naming an unknown extension": signed(header(crit=["x-ext"], **{"x-ext": 1}), payload()),
    "crit as a string": signed(header(crit="x"), payload()),
    "crit empty list": signed(header(crit=[]), payload()),
    "b64 false (unencoded payload)": signed(header(b64=False, crit=["b64"]), payload()),
    "b64 false without crit": signed(header(b64=False), payload()),
    "jku to our key, signed by a stranger": signed(header(jku="http://evil.example/jwks"), payload(), STRANGER),
    "x5u to our key, signed by a stranger": signed(header(x5u="http://evil.example/cert"), payload(), STRANGER),
    "embedded jwk of a stranger, our kid": signed(header(jwk=public_jwk_of(STRANGER)), payload(), STRANGER),
    "embedded jwk of a stranger, its own kid": signed(
        header(kid="stranger", jwk=public_jwk(STRANGER.public_key(), "stranger")), payload(), STRANGER),
    "x5c of garbage, signed by a stranger": signed(header(x5c=["bm90IGEgY2VydA"]), payload(), STRANGER),
    "kid an integer": signed(header(kid=5), payload()),
    "kid a list": signed(header(kid=[KID]), payload()),
    "kid an object": signed(header(kid={"kid": KID}), payload()),
    "kid null": signed(header(kid=None), payload()),
    "kid missing": signed(header(kid=...), payload()),
    "kid empty": signed(header(kid=""), payload()),
    "kid very long": signed(header(kid="k" * 5000), payload()),
    "kid ours with a NUL": signed(header(kid=KID + "\x00"), payload()),
    "alg a list": signed(header(alg=["RS256"]), payload()),
    "alg an integer": signed(header(alg=256), payload()),
    "alg null": signed(header(alg=None), payload()),
    "alg missing": signed(header(alg=...), payload()),
    "alg lower case": signed(header(alg="rs256"), payload()),
    "alg with a space": signed(header(alg="RS256 "), payload()),
    "alg none": f"{b64(header(alg='none').encode())}.{b64(payload().encode())}.",
    "header a list": signed("[1, 2]", payload()),
    "header a string": signed('"RS256"', payload()),
    "header with duplicate alg": signed(header()[:-1] + ', "alg": "none"}', payload()),
    "header nested 2000 deep": signed(header()[:-1] + f', "x": {nested(2000)}' + "}", payload()),
    "header with NaN": signed(header()[:-1] + ', "x": NaN}', payload()),
    # --- claims of the wrong type (signed with the real key: they reach the claim checks) ---
    "exp a string": signed(header(), payload(exp="tomorrow")),
    "exp a list": signed(header(), payload(exp=[int(time.time()) + 300])),
    "exp an object": signed(header(), payload(exp={"t": 1})),
    "exp true": signed(header(), payload(exp=True)),
    "exp null": signed(header(), payload(exp=None)),
    "exp huge float": signed(header(), payload(exp=1e300)),
    "exp past year 9999": signed(header(), payload(exp=253402300800)),
    "exp negative": signed(header(), payload(exp=-1)),
    "exp NaN": signed(header(), raw_claim("exp", "NaN")),
    "exp Infinity": signed(header(), raw_claim("exp", "Infinity")),
    "exp 1e400": signed(header(), raw_claim("exp", "1e400")),
    "exp 5000 digits": signed(header(), raw_claim("exp", "9" * 5000)),
    "nbf a string": signed(header(), payload(nbf="now")),
    "iat a list": signed(header(), payload(iat=[1])),
    "iat NaN": signed(header(), raw_claim("iat", "NaN")),
    "sub an integer": signed(header(), payload(sub=5)),
    "sub an object": signed(header(), payload(sub={"name": "ada"})),
    "sub a list": signed(header(), payload(sub=["ada"])),
    "sub null": signed(header(), payload(sub=None)),
    "sub empty": signed(header(), payload(sub="")),
    "sub with CR LF (header injection)": signed(header(), payload(sub="ada\r\nX-Admin-Secret: x")),
    "sub with a space": signed(header(), payload(sub="ada bob")),
    "sub not ASCII": signed(header(), payload(sub="adä")),
    "sub very long": signed(header(), payload(sub="a" * 5000)),
    "scope a list": signed(header(), payload(scope=["orders:read"])),
    "scope an integer": signed(header(), payload(scope=5)),
    "scope with a tab": signed(header(), payload(scope="orders:read\torders:write")),
    "scope with a newline": signed(header(), payload(scope="orders:read\nX-User: admin")),
    "aud a list of integers": signed(header(), payload(aud=[1, 2])),
    "aud a list of objects": signed(header(), payload(aud=[{"aud": AUDIENCE}])),
    "aud an object": signed(header(), payload(aud={"aud": AUDIENCE})),
    "aud empty list": signed(header(), payload(aud=[])),
    "iss an object": signed(header(), payload(iss={"iss": ISSUER})),
    "iss a list": signed(header(), payload(iss=[ISSUER])),
    "jti an integer": signed(header(), payload(jti=5)),
    "client_id an object": signed(header(), payload(client_id={"id": "shop"})),
    "client_id an integer": signed(header(), payload(client_id=5)),
    "client_id with CR LF": signed(header(), payload(client_id="shop\r\nX: y")),
    "duplicate sub": signed(header(), payload()[:-1] + ', "sub": "admin"}'),
    "payload a list": signed(header(), "[1, 2]"),
    "payload a string": signed(header(), '"ada"'),
    "payload null": signed(header(), "null"),
    "payload nested 2000 deep": signed(header(), payload()[:-1] + f', "x": {nested(2000)}' + "}"),
    "payload not UTF-8": f"{b64(header().encode())}.{b64(bytes([0xFF, 0xFE]) + payload().encode())}.c2ln",
    "payload not JSON": signed(header(), "{not json"),
    # --- the token's shape ---
    "100 KB": "a" * 100_000 + "." + "b" * 10 + "." + "c" * 10,
    "non-base64 characters": "ab!c.de$f.gh*i",
    "standard base64 (+ and /)": signed(header(), payload()).replace("-", "+").replace("_", "/") + "+/",
    "padded with =": signed(header(), payload()) + "==",
    "spaces inside": signed(header(), payload()).replace(".", " . ", 1),
    "non-UTF-8 characters": "\xff\xfe.\xfd.\xfc",
    "a NUL": signed(header(), payload()) + "\x00",
    "two dots": "a.b",
    "one dot": f"{b64(header().encode())}.{b64(payload().encode())}",
    "four dots": signed(header(), payload()) + ".x.y",
    "only dots": "..",
    "empty header": f".{b64(payload().encode())}.c2ln",
    "empty payload": f"{b64(header().encode())}..c2ln",
    "empty signature": f"{b64(header().encode())}.{b64(payload().encode())}.",
    "header of one base64 character": f"a.{b64(payload().encode())}.c2ln",
    "not base64 JSON": "bm90.anNvbg.c2ln",
}


@pytest.mark.parametrize("name", list(TOKENS))
def test_no_malformed_token_gets_anything_but_a_401(name):
    with pytest.raises(TokenError) as caught:
        verify(TOKENS[name], JWKS, ISSUER, AUDIENCE)
    assert caught.value.status == 401 and caught.value.reason in REASONS and caught.value.message


def test_the_table_is_not_refused_for_the_wrong_reason():
    """The well-formed ones in the table differ from a good token only in what they are named for."""
    assert verify(signed(header(), payload()), JWKS, ISSUER, AUDIENCE)["sub"] == "ada"
    assert verify(signed(header(), payload(client_id="shop")), JWKS, ISSUER, AUDIENCE)["client_id"] == "shop"
    # parameters nobody needs to understand are ignored, not refused: only crit demands understanding
    assert verify(signed(header(typ="at+jwt", cty="x", **{"x-note": 1}), payload()), JWKS, ISSUER, AUDIENCE)
    # a jku/x5u/jwk pointing elsewhere changes nothing: the key is only ever taken from our JWKS by kid
    assert verify(signed(header(jku="http://evil.example/jwks", jwk=public_jwk_of(STRANGER)), payload()),
                  JWKS, ISSUER, AUDIENCE)["sub"] == "ada"


@pytest.mark.parametrize("name,expected", [
    ("crit naming a registered claim", "malformed"), ("kid an integer", "unknown_key"),
    ("kid very long", "unknown_key"), ("alg a list", "alg_not_allowed"),
    ("jku to our key, signed by a stranger", "bad_signature"),
    ("embedded jwk of a stranger, our kid", "bad_signature"),
    ("embedded jwk of a stranger, its own kid", "unknown_key"),
    ("exp NaN", "malformed"), ("exp huge float", "malformed"), ("sub with CR LF (header injection)", "malformed"),
    ("duplicate sub", "malformed"), ("header nested 2000 deep", "malformed"), ("100 KB", "malformed"),
    ("aud a list of integers", "wrong_audience"), ("iss an object", "wrong_issuer"),
])
def test_the_reason_says_what_is_wrong(name, expected):
    with pytest.raises(TokenError) as caught:
        verify(TOKENS[name], JWKS, ISSUER, AUDIENCE)
    assert caught.value.reason == expected, caught.value.message


def test_a_token_without_a_scope_claim_has_no_scopes():
    got = verify(signed(header(), payload(scope=...)), JWKS, ISSUER, AUDIENCE)
    assert got["scope"] == ""  # present, so whoever reads claims["scope"] gets a string, not a KeyError
    with pytest.raises(TokenError) as caught:
        verify(signed(header(), payload(scope=...)), JWKS, ISSUER, AUDIENCE, required_scopes=["orders:read"])
    assert caught.value.status == 403


GOOD = signed(header(), payload())


@pytest.mark.parametrize("authorization,status", [
    (None, 401), ("", 401), ("Bearer", 401), ("Bearer ", 401), ("Bearer    ", 401), ("Basic YTpi", 401),
    (f"Bearer\t{GOOD}", 401),  # RFC 7235: one or more spaces, not a tab
    (f"Bearer {GOOD}, Bearer {GOOD}", 401),  # two Authorization headers, joined by the server
    (f"Bearer {GOOD} extra", 401), (f"Bearer {GOOD},", 401), (f"Bearer {GOOD}\x00", 401),
    (f"Token {GOOD}", 401), (f"Bearer{GOOD}", 401),
    (f"bearer {GOOD}", 200), (f"BEARER {GOOD}", 200),  # the scheme is case-insensitive (RFC 7235 2.1)
    (f"Bearer   {GOOD}", 200), (f" Bearer {GOOD} ", 200),
])
def test_authorization_headers(authorization, status):
    try:
        verify(bearer_token(authorization), JWKS, ISSUER, AUDIENCE)
    except TokenError as exc:
        assert exc.status == status == 401
    else:
        assert status == 200
