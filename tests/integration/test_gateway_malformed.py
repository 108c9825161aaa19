"""Two sweeps against a live gateway (and the identity provider's own token check, /userinfo), as tables:

- no token, however malformed, gets anything but a 401 (with our JSON error and a Bearer challenge); the one
  exception is a token too big for the gateway's header limit, which is a 431 before anyone reads it;
- no request, however malformed (methods, headers, bodies, query strings, paths), gets a 500.

Tokens that must reach the claim checks are signed with the provider's own key, read from its data folder.
Requests go out over a raw socket, so each one is exactly the bytes in the table.
"""
from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from microcosm.services.identity import public_jwk
from microcosm.tokens import REASONS
from identity_helpers import b64, provider_key
from raw_http import raw_request

STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Forger:
    """Tokens like a real one of the provider's, with a header and claims written as raw JSON text."""

    def __init__(self, world):
        good = world.alice["Authorization"].split(" ", 1)[1]
        self.good, self.kid = good, jwt.get_unverified_header(good)["kid"]
        self.claims = jwt.decode(good, options={"verify_signature": False})
        self.key = provider_key(world.identity, self.kid)

    def header(self, **changes) -> str:
        return json.dumps({k: v for k, v in {"alg": "RS256", "typ": "JWT", "kid": self.kid, **changes}.items()
                           if v is not ...})

    def payload(self, **changes) -> str:
        return json.dumps({k: v for k, v in {**self.claims, **changes}.items() if v is not ...})

    def raw_claim(self, name: str, json_value: str) -> str:
        return self.payload(**{name: "@@"}).replace('"@@"', json_value)

    def sign(self, header: str | None = None, payload: str | None = None, key=None) -> str:
        signing_input = f"{b64((header or self.header()).encode())}.{b64((payload or self.payload()).encode())}"
        signature = (key or self.key).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# name -> the whole Authorization header value (or values: a list sends the header once per value)
AUTHORIZATIONS = {
    # JOSE header parameters, odd or unknown
    "crit naming exp": lambda f: f"Bearer {f.sign(f.header(crit=['exp']))}",
    "crit naming an unknown extension": lambda f: f"Bearer {f.sign(f.header(crit=['x-ext'], **{'x-ext': 1}))}",
    "crit a string": lambda f: f"Bearer {f.sign(f.header(crit='x'))}",
    "b64 false": lambda f: f"Bearer {f.sign(f.header(b64=False, crit=['b64']))}",
    "jku elsewhere, signed by a stranger": lambda f: f"Bearer {f.sign(f.header(jku='http://127.0.0.1:9/j'), key=STRANGER)}",
    "x5u elsewhere, signed by a stranger": lambda f: f"Bearer {f.sign(f.header(x5u='http://127.0.0.1:9/c'), key=STRANGER)}",
    "embedded jwk of a stranger": lambda f: "Bearer " + f.sign(
        f.header(jwk=public_jwk(STRANGER.public_key(), f.kid)), key=STRANGER),
    "embedded jwk with its own kid": lambda f: "Bearer " + f.sign(
        f.header(kid="stranger", jwk=public_jwk(STRANGER.public_key(), "stranger")), key=STRANGER),
    "kid an integer": lambda f: f"Bearer {f.sign(f.header(kid=5))}",
    "kid a list": lambda f: f"Bearer {f.sign(f.header(kid=[f.kid]))}",
    "kid an object": lambda f: f"Bearer {f.sign(f.header(kid={'kid': f.kid}))}",
    "kid null": lambda f: f"Bearer {f.sign(f.header(kid=None))}",
    "kid very long": lambda f: f"Bearer {f.sign(f.header(kid='k' * 3000))}",
    "alg a list": lambda f: f"Bearer {f.sign(f.header(alg=['RS256']))}",
    "alg an integer": lambda f: f"Bearer {f.sign(f.header(alg=256))}",
    "alg an object": lambda f: f"Bearer {f.sign(f.header(alg={'alg': 'RS256'}))}",
    "alg none": lambda f: f"Bearer {b64(f.header(alg='none').encode())}.{b64(f.payload().encode())}.",
    "header duplicate alg": lambda f: f"Bearer {f.sign(f.header()[:-1] + ', ' + chr(34) + 'alg' + chr(34) + ': 1}')}",
    "header nested 1500 deep": lambda f: f"Bearer {f.sign(f.header()[:-1] + ', ' + chr(34) + 'x' + chr(34) + ': ' + nested(1500) + '}')}",
    # claims of the wrong type, signed with the provider's key
    "exp a string": lambda f: f"Bearer {f.sign(payload=f.payload(exp='tomorrow'))}",
    "exp a list": lambda f: f"Bearer {f.sign(payload=f.payload(exp=[1]))}",
    "exp huge float": lambda f: f"Bearer {f.sign(payload=f.payload(exp=1e300))}",
    "exp NaN": lambda f: f"Bearer {f.sign(payload=f.raw_claim('exp', 'NaN'))}",
    "exp Infinity": lambda f: f"Bearer {f.sign(payload=f.raw_claim('exp', 'Infinity'))}",
    "exp 1e400": lambda f: f"Bearer {f.sign(payload=f.raw_claim('exp', '1e400'))}",
    "exp 5000 digits": lambda f: f"Bearer {f.sign(payload=f.raw_claim('exp', '9' * 5000))}",
    "exp true": lambda f: f"Bearer {f.sign(payload=f.payload(exp=True))}",
    "nbf an object": lambda f: f"Bearer {f.sign(payload=f.payload(nbf={}))}",
    "iat a string": lambda f: f"Bearer {f.sign(payload=f.payload(iat='now'))}",
    "sub an integer": lambda f: f"Bearer {f.sign(payload=f.payload(sub=5))}",
    "sub an object": lambda f: f"Bearer {f.sign(payload=f.payload(sub={'name': 'alice'}))}",
    "sub empty": lambda f: f"Bearer {f.sign(payload=f.payload(sub=''))}",
    "sub with CR LF": lambda f: f"Bearer {f.sign(payload=f.payload(sub='alice' + chr(13) + chr(10) + 'X-User: admin'))}",
    "sub not ASCII": lambda f: f"Bearer {f.sign(payload=f.payload(sub='alicé'))}",
    "scope a list": lambda f: f"Bearer {f.sign(payload=f.payload(scope=['carts:read']))}",
    "scope with a newline": lambda f: f"Bearer {f.sign(payload=f.payload(scope='carts:read' + chr(10) + 'x'))}",
    "aud a list of integers": lambda f: f"Bearer {f.sign(payload=f.payload(aud=[1, 2]))}",
    "aud a list of objects": lambda f: f"Bearer {f.sign(payload=f.payload(aud=[{'aud': 'microcosm'}]))}",
    "iss an object": lambda f: f"Bearer {f.sign(payload=f.payload(iss={'iss': 1}))}",
    "jti an integer": lambda f: f"Bearer {f.sign(payload=f.payload(jti=5))}",
    "client_id an object": lambda f: f"Bearer {f.sign(payload=f.payload(client_id={'id': 'shop'}))}",
    "duplicate sub": lambda f: f"Bearer {f.sign(payload=f.payload()[:-1] + ', ' + chr(34) + 'sub' + chr(34) + ': ' + chr(34) + 'bob' + chr(34) + '}')}",
    "payload a list": lambda f: f"Bearer {f.sign(payload='[1]')}",
    "payload nested 1500 deep": lambda f: f"Bearer {f.sign(payload=f.payload()[:-1] + ', ' + chr(34) + 'x' + chr(34) + ': ' + nested(1500) + '}')}",
    # the token's shape, and the header around it
    "non-base64 characters": lambda f: "Bearer ab!c.de$f.gh*i",
    "non-UTF-8 bytes": lambda f: "Bearer \xff\xfe.\xfd\xfc.\xfb",
    "non-UTF-8 bytes in a real token": lambda f: f"Bearer {f.good[:20]}\xff{f.good[20:]}",
    "two dots": lambda f: "Bearer a.b",
    "four dots": lambda f: f"Bearer {f.good}.x.y",
    "only dots": lambda f: "Bearer ..",
    "empty header part": lambda f: "Bearer " + "." + f.good.split(".", 1)[1],
    "empty payload part": lambda f: f"Bearer {f.good.split('.')[0]}..{f.good.split('.')[2]}",
    "padding": lambda f: f"Bearer {f.good}==",
    "Bearer and no token": lambda f: "Bearer",
    "Bearer and spaces": lambda f: "Bearer     ",
    "a tab instead of a space": lambda f: f"Bearer\t{f.good}",
    "a tab inside the token": lambda f: f"Bearer {f.good[:10]}\t{f.good[10:]}",
    "lowercase bearer, garbage": lambda f: "bearer not-a-token",
    "two Authorization headers": lambda f: [f"Bearer {f.good}", f"Bearer {f.good}"],
    "two Authorization headers, one bad": lambda f: [f"Bearer {f.good}", "Bearer x.y.z"],
    "a token and more": lambda f: f"Bearer {f.good} {f.good}",
    "Basic": lambda f: "Basic YWxpY2U6cHc=",
    "empty": lambda f: "",
    "100 KB token": lambda f: "Bearer " + "a" * 100_000 + ".b.c",
}


@pytest.fixture(scope="module")
def forger(world):
    return Forger(world)


def send_authorization(url: str, path: str, value) -> tuple:
    values = value if isinstance(value, list) else [value]
    headers = [("Authorization", v) for v in values]
    return raw_request(url, "GET", path, dict(headers) if len(headers) == 1 else None,
                       extra_lines=[f"{k}: {v}" for k, v in headers] if len(headers) > 1 else None)


@pytest.mark.parametrize("name", list(AUTHORIZATIONS))
def test_no_token_however_malformed_gets_anything_but_a_401(world, forger, name):
    value = AUTHORIZATIONS[name](forger)
    for where, url, path in (("gateway", world.gateway.url, "/api/carts/alice"),
                             ("identity", world.identity.url, "/userinfo")):
        status, headers, body = send_authorization(url, path, value)
        if name == "100 KB token":
            # the gateway refuses headers over its 8 KiB limit before it reads them: 431, not a token check.
            # identity has no such limit of its own; waitress's is 256 KiB, so the token is read and refused.
            expected = 431 if where == "gateway" else 401
        else:
            expected = 401
        assert status == expected, (where, status, body)
        assert headers["Content-Type"].startswith("application/json") and body["status"] == expected, (where, body)
        if expected == 401:
            assert body["reason"] in REASONS, (where, body)
            assert headers["WWW-Authenticate"].startswith("Bearer"), where


def test_the_good_token_and_its_honest_variants_pass(world, forger):
    """The table's tokens differ from a good one only in what they are named for."""
    for value in (f"Bearer {forger.good}", f"bearer {forger.good}", f"BEARER {forger.good}",
                  f"Bearer   {forger.good}", f"Bearer {forger.sign()}"):
        status, _, body = send_authorization(world.gateway.url, "/api/carts/alice", value)
        assert status == 200 and body["user"] == "alice", body


# --- no request, however malformed, gets a 500 ---------------------------------------------------------------------
def token(world) -> str:
    return world.alice["Authorization"]


JSON = "Content-Type: application/json"
# name -> (method, target, header lines, body). {token} in a header line is alice's Authorization value.
REQUESTS = {
    "unknown method": ("FOO", "/api/products", [], b""),
    "unknown method on a composed route": ("FOO", "/api/product-page/1", [], b""),
    "unknown method on stock": ("PURGE", "/api/stock/1", [], b""),
    "very long method": ("X" * 20_000, "/api/products", [], b""),
    "lowercase method": ("get", "/api/products", [], b""),
    "method with odd token characters": ("GET!#$", "/api/products", [], b""),
    "TRACE": ("TRACE", "/api/products", [], b""),
    "CONNECT": ("CONNECT", "127.0.0.1:80", [], b""),
    "OPTIONS *": ("OPTIONS", "*", [], b""),
    "OPTIONS on a protected route": ("OPTIONS", "/api/carts/alice", [], b""),
    "HEAD on a public route": ("HEAD", "/api/products", [], b""),
    "HEAD on a protected route": ("HEAD", "/api/carts/alice", ["Authorization: {token}"], b""),
    "PATCH nobody routes": ("PATCH", "/api/carts/alice", ["Authorization: {token}"], b""),
    "Content-Length letters": ("POST", "/api/stock/1", ["Content-Length: abc"], b""),
    "Content-Length negative": ("POST", "/api/stock/1", ["Content-Length: -1"], b""),
    "Content-Length superscript two": ("POST", "/api/stock/1", ["Content-Length: \xb2"], b""),
    "Content-Length twice, different": ("PUT", "/api/carts/alice/items/1",
                                        ["Authorization: {token}", JSON, "Content-Length: 2", "Content-Length: 15"],
                                        b'{"quantity": 1}'),
    "Content-Length larger than the body limit": ("PUT", "/api/carts/alice/items/1",
                                                  ["Authorization: {token}", JSON, "Content-Length: 10000000"], b""),
    "chunked with a bad chunk size": ("PUT", "/api/carts/alice/items/1",
                                      ["Authorization: {token}", JSON, "Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n"),
    "chunked body over the limit": ("PUT", "/api/echo/x", ["Authorization: {token}", "Transfer-Encoding: chunked"],
                                    b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"),
    "chunked and Content-Length": ("PUT", "/api/carts/alice/items/1",
                                   ["Authorization: {token}", JSON, "Transfer-Encoding: chunked", "Content-Length: 5"],
                                   b"f\r\n{\"quantity\": 1}\r\n0\r\n\r\n"),
    # waitress answers 501 itself, as RFC 9112 6.1 asks of a server that does not know a transfer coding
    "Transfer-Encoding unknown": ("PUT", "/api/carts/alice/items/1", ["Authorization: {token}", "Transfer-Encoding: gzip"], b""),
    "body not JSON on stock": ("POST", "/api/stock/1", ["Authorization: {token}", JSON], b"{not json"),
    "body JSON of the wrong shape on stock": ("POST", "/api/stock/1", ["Authorization: {token}", JSON], b'[1, 2]'),
    "Content-Type with bytes over 127": ("PUT", "/api/carts/alice/items/1",
                                         ["Authorization: {token}", "Content-Type: application/json; charset=\xff"],
                                         b'{"quantity": 1}'),
    "empty Host": ("GET", "/openapi.json", ["Host:"], b""),
    "odd Host": ("GET", "/openapi.json", ["Host: [::1"], b""),
    "Host with bytes over 127": ("GET", "/api/echo/x", ["Host: h\xe9\xff"], b""),
    "very long Host": ("GET", "/openapi.json", ["Host: " + "h" * 7000], b""),
    "X-Forwarded-For garbage": ("GET", "/api/echo/x", ["X-Forwarded-For: \xff, ;;, 999.1.1.1, \x01"], b""),
    "X-Request-ID with bytes over 127": ("GET", "/api/echo/x", ["X-Request-ID: \xff\xfe"], b""),
    "X-Request-ID long": ("GET", "/api/echo/x", ["X-Request-ID: " + "r" * 7000], b""),
    "User-Agent with a NUL": ("GET", "/api/echo/x", ["User-Agent: a\x00b"], b""),
    "Accept-Language with control characters": ("GET", "/api/echo/x", ["Accept-Language: \x01\x02\x7f"], b""),
    "Origin garbage on a preflight": ("OPTIONS", "/api/echo/x", ["Origin: \xff", "Access-Control-Request-Method: \x01"], b""),
    "Origin null": ("GET", "/api/echo/x", ["Origin: null"], b""),
    "header name with odd characters": ("GET", "/api/echo/x", ["X-A\x7fb: 1", "X_Underscore: 1"], b""),
    "header without a colon": ("GET", "/api/echo/x", ["NoColonHere"], b""),
    "headers over the limit": ("GET", "/api/echo/x", ["X-Padding: " + "p" * 10_000], b""),
    "query not UTF-8, encoded": ("GET", "/api/products?limit=%ff%fe", [], b""),
    "query not UTF-8, raw": ("GET", "/api/products?limit=\xff", [], b""),
    "query superscript two": ("GET", "/api/products?limit=%C2%B2", [], b""),
    "query lone percent": ("GET", "/api/products?%", [], b""),
    "query with a raw tab and NUL": ("GET", "/api/echo/x?a=\t\x00", [], b""),
    "query with an encoded CR LF": ("GET", "/api/echo/x?a=%0d%0aX-Injected:%201", [], b""),
    "query of 100 KB": ("GET", "/api/products?x=" + "q" * 100_000, [], b""),
    "query of 300 KB": ("GET", "/api/products?x=" + "q" * 300_000, [], b""),
    "query with a token in it, encoded name": ("GET", "/api/products?access%5Ftoken=abc", [], b""),
    "path lone percent": ("GET", "/api/products/%", [], b""),
    "path only a percent": ("GET", "/%", [], b""),
    "path with a NUL": ("GET", "/api/products/%00", [], b""),
    "path not UTF-8": ("GET", "/api/%ff", [], b""),
    "path with raw bytes over 127": ("GET", "/api/products/\xe9", [], b""),
    "path huge": ("GET", "/api/products/" + "p" * 200_000, [], b""),
    "path without a leading slash": ("GET", "api/products", [], b""),
    "absolute-form target elsewhere": ("GET", "http://127.0.0.1:9/api/products", [], b""),
    "stock id huge": ("GET", "/api/stock/99999999999999999999999999", [], b""),
    "stock id Arabic-Indic digit": ("GET", "/api/stock/%D9%A1", [], b""),
    "stock id superscript": ("GET", "/api/stock/%C2%B2", [], b""),
    "product page id huge": ("GET", "/api/product-page/99999999999999999999999999", [], b""),
    "product page id zero": ("GET", "/api/product-page/0", [], b""),
    "products id huge": ("GET", "/api/products/99999999999999999999999999", [], b""),  # beyond SQLite's integers
    "orders id huge": ("GET", "/api/orders/99999999999999999999999999", ["Authorization: {token}"], b""),
    "carts item id huge": ("PUT", "/api/carts/alice/items/99999999999999999999999999", ["Authorization: {token}", JSON],
                           b'{"quantity": 1}'),
    "HTTP/1.0 without Host": ("GET", "/api/products", [], b""),
}


ALLOWED = {"Transfer-Encoding unknown": 501}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_no_request_however_malformed_gets_a_500(world, name):
    method, target, lines, body = REQUESTS[name]
    lines = [line.replace("{token}", token(world)) for line in lines]
    host = not any(line.lower().startswith("host:") for line in lines) and "without Host" not in name
    status, headers, answer = raw_request(world.gateway.url, method, target, None, body, extra_lines=lines,
                                          host=host, version="HTTP/1.0" if "HTTP/1.0" in name else "HTTP/1.1",
                                          content_length=not any("Length" in x or "Transfer" in x for x in lines))
    assert status < 500 or status == ALLOWED.get(name), (status, answer)
    if status >= 400 and method != "HEAD":
        assert headers["Content-Type"].startswith("application/json"), (status, answer)
    assert world.gateway.alive
