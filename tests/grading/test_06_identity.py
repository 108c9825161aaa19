"""Graded tests of lab 06 (identity): the learner's token verification, loaded by a live gateway, under attack.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cell leaves verifier.py there, and points these tests at that folder (see conftest.py).

One identity provider, one catalog and one gateway started with `token_verifier="verifier.py:verify"` serve the
whole module. Each graded test sends one kind of forged (or wrong) token through the gateway, which must answer
401 (403 for a missing scope), and, in the same test, a valid token, which must pass: a verifier that refuses
everything scores nothing. Forged tokens are made here with PyJWT and cryptography; the ones that need a right
signature with one wrong claim are signed with the provider's own private key, read from its data folder.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

points = pytest.mark.points
TASKS = {"The task · `verify`, in three parts": ("",)}  # the lab's tasks, as its headings say (conftest.py)
ADMIN = "admin-secret-for-grading-lab-06-0123456789"
WRITER_SECRET = "writer-client-secret-for-grading-0123456"
PASSWORD = "correct horse battery staple"
CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}  # logins are not what is graded here
ROUTES = [{"prefix": "/api/private", "service": "catalog", "path": "/products",
           "methods": {"GET": ["catalog:read"], "POST": ["catalog:write"]}}]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value) -> str:
    return b64(json.dumps(value).encode())


def parts(token: str) -> tuple[dict, dict, str, str, str]:
    header_part, payload_part, signature_part = token.split(".")
    decode = lambda p: json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))  # noqa: E731
    return decode(header_part), decode(payload_part), header_part, payload_part, signature_part


class Stack:
    """The live processes of this module and the tokens the tests start from."""

    def __init__(self, launch, verifier: Path):
        self.identity = launch("identity", "grade06-identity", admin_secret=ADMIN, publish_delay=2.0,
                               argon2=CHEAP_ARGON2, traffic=False,
                               clients={"writer": {"secret": WRITER_SECRET, "scope": "catalog:read catalog:write"}})
        self.catalog = launch("catalog", "grade06-catalog", traffic=False)
        self.gateway = launch("gateway", "grade06-gateway", identity_url=self.identity.url,
                              token_verifier=f"{verifier}:verify", upstreams={"catalog": self.catalog.url},
                              routes=ROUTES, rate_limit=False, traffic=False)
        answer = self.identity.post("/users", json={"username": "ada", "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        self.token = self.login()  # a valid token of ada: catalog:read, not catalog:write

    def login(self) -> str:
        answer = self.identity.post("/token", data={"grant_type": "password", "username": "ada", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def client_token(self) -> str:
        answer = self.identity.post("/token", data={"grant_type": "client_credentials", "client_id": "writer",
                                                    "client_secret": WRITER_SECRET})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def signing_kid(self) -> str:
        keys = self.identity.get("/keys").json()["keys"]
        return [k for k in keys if k["state"] == "signing"][-1]["kid"]

    def provider_key(self, kid: str):
        path = Path(self.identity.config["data_dir"]) / "keys" / f"{kid}.pem"
        return serialization.load_pem_private_key(path.read_bytes(), password=None)

    def signed(self, *, drop=(), headers=None, **changes) -> str:
        """A token correctly signed RS256 by the provider's current key, with claims changed or dropped."""
        kid = self.signing_kid()
        now = int(time.time())
        claims = {"iss": self.identity.url, "aud": "microcosm", "sub": "ada", "iat": now, "nbf": now,
                  "exp": now + 300, "jti": f"grader-{time.monotonic_ns()}", "scope": "catalog:read", **changes}
        claims = {k: v for k, v in claims.items() if k not in drop}
        return jwt.encode(claims, self.provider_key(kid), algorithm="RS256", headers={"kid": kid, **(headers or {})})

    def get(self, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.gateway.get("/api/private", headers=headers)

    def post(self, token: str):
        return self.gateway.post("/api/private", json={"name": "graded pen", "price_cents": 100},
                                 headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def stack(learner_file, launch_for_module):
    return Stack(launch_for_module, learner_file("verifier.py"))


def valid_passes(stack, token=None):
    """The part of every graded test that a verifier refusing everything fails."""
    answer = stack.get(token or stack.token)
    assert answer.status_code == 200, (f"a valid token was refused: {answer.status_code} {answer.text[:300]}"
                                       f"{_log_hint(stack) if answer.status_code >= 500 else ''}")


def _log_hint(stack) -> str:
    errors = [line.strip() for line in stack.gateway.logs(60).splitlines() if "Error" in line or "Exception" in line]
    return f" | the gateway logged: {errors[-1]}" if errors else ""


def refused(stack, name: str, token: str, status: int = 401, method: str = "GET", reason: str | None = None):
    """The gateway refuses `token` with `status` and, when given, the TokenError reason the lab asks for."""
    answer = stack.get(token) if method == "GET" else stack.post(token)
    assert answer.status_code == status, (f"{name}: the gateway answered {answer.status_code}, not {status}: "
                                          f"{answer.text[:300]}{_log_hint(stack) if answer.status_code >= 500 else ''}")
    if reason is not None:
        said = answer.json().get("reason")
        assert said == reason, f"{name}: refused, but with reason {said!r}; the lab asks for {reason!r}"


# --- the graded tests ----------------------------------------------------------------------------------------
@points(2)
def test_a_valid_token_passes_and_reaches_the_service(stack, lab_dir):
    """ada's real token passes the gateway; with no token, 401; the checks are your own (no jwt.decode, no tokens.verify)."""
    valid_passes(stack)
    assert stack.get(stack.token).json()["products"], "the catalog's answer did not come through"
    refused(stack, "no token", None)
    assert_own_checks(lab_dir / "verifier.py")


def assert_own_checks(path: Path) -> None:
    """The lab is to write the checks: handing the token to microcosm.tokens.verify, or to PyJWT's jwt.decode
    (which makes every policy decision itself), is not an answer. (TokenError may be imported: it is the shape
    of the answer.)"""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("microcosm") and \
                any(alias.name in ("verify", "JWKSCache") for alias in node.names):
            pytest.fail("verifier.py imports the house verifier from microcosm.tokens: write the checks yourself")
        if isinstance(node, ast.Attribute) and node.attr == "verify" and isinstance(node.value, ast.Name) \
                and node.value.id == "tokens":
            pytest.fail("verifier.py calls microcosm.tokens.verify: write the checks yourself")
        if isinstance(node, ast.Attribute) and node.attr == "decode" and isinstance(node.value, ast.Name) \
                and node.value.id == "jwt":
            pytest.fail("verifier.py calls jwt.decode, which decides the checks itself: write them yourself")


@points(1, must_pass=True)
def test_malformed_tokens_are_refused_not_crashed_on(stack):
    """Not a JWT, two parts, broken base64, JSON that is not an object: 401, never a 500."""
    valid_passes(stack)
    for name, token in [("one part", "hello"), ("two parts", "hello.world"), ("broken base64", "!!!.@@@.###"),
                        ("not JSON", f"{b64(b'not json')}.{b64(b'nope')}.{b64(b'sig')}"),
                        ("a JSON list", f"{b64json([1, 2])}.{b64json({'sub': 'x'})}.{b64(b'sig')}")]:
        refused(stack, name, token)


@points(2, must_pass=True)
def test_tampered_payload_is_refused(stack):
    """ada's real token with its payload changed (sub admin, more scopes) and the signature kept: 401."""
    valid_passes(stack)
    header, claims, header_part, _, signature_part = parts(stack.token)
    greedy = {**claims, "sub": "admin", "scope": claims["scope"] + " catalog:write admin"}
    refused(stack, "tampered payload", f"{header_part}.{b64json(greedy)}.{signature_part}", reason="bad_signature")
    refused(stack, "tampered expiry", f"{header_part}.{b64json({**claims, 'exp': claims['exp'] + 86400})}.{signature_part}")


@points(2, must_pass=True)
def test_alg_none_is_refused(stack):
    """Unsigned tokens, alg none (in any spelling), with or without a signature part: 401."""
    valid_passes(stack)
    header, claims, *_ = parts(stack.token)
    greedy = {**claims, "sub": "admin"}
    for alg in ("none", "None", "NONE"):
        forged = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': header['kid']})}.{b64json(greedy)}"
        refused(stack, f"alg {alg}", forged + ".", reason="alg_not_allowed")
        refused(stack, f"alg {alg} with a signature", forged + "." + parts(stack.token)[4], reason="alg_not_allowed")


@points(3, must_pass=True)
def test_hs256_signed_with_the_public_key_is_refused(stack):
    """The key-confusion attack: HS256 'signed' with the provider's public key (PEM text, or the JWK's JSON),
    and a token signed with the provider's real key under another RSA algorithm (RS512): 401."""
    valid_passes(stack)
    header, claims, *_ = parts(stack.token)
    kid = header["kid"]
    jwk = next(k for k in stack.identity.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == kid)
    pem = RSAAlgorithm.from_jwk(jwk).public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    greedy = {**claims, "sub": "admin", "scope": "catalog:read catalog:write admin"}
    for name, secret in [("PEM", pem), ("PEM without its last newline", pem.rstrip(b"\n")),
                         ("JWK JSON", json.dumps(jwk).encode())]:
        signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64json(greedy)}"
        signature = b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        refused(stack, f"HS256 with the public key as {name}", f"{signing_input}.{signature}", method="POST",
                reason="alg_not_allowed")
    rs512 = jwt.encode({**claims, "jti": "rs512"}, stack.provider_key(kid), algorithm="RS512", headers={"kid": kid})
    refused(stack, "RS512 (a right signature, but not the algorithm we accept)", rs512, reason="alg_not_allowed")


@points(2, must_pass=True)
def test_a_strangers_key_is_refused(stack):
    """Signed RS256 by an attacker's own key: under the provider's kid (bad signature), under a kid the provider
    never published, and with no kid at all: 401."""
    valid_passes(stack)
    header, claims, *_ = parts(stack.token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    greedy = {**claims, "sub": "admin"}
    refused(stack, "a stranger's key under the provider's kid",
            jwt.encode(greedy, stranger, algorithm="RS256", headers={"kid": header["kid"]}), reason="bad_signature")
    refused(stack, "an unknown kid", jwt.encode(greedy, stranger, algorithm="RS256", headers={"kid": "made-up-key"}),
            reason="unknown_key")
    refused(stack, "no kid", jwt.encode(greedy, stranger, algorithm="RS256"), reason="unknown_key")


@points(2, must_pass=True)
def test_expired_tokens_are_refused(stack):
    """Rightly signed but expired (a minute ago, a second ago), or with no exp at all: 401."""
    valid_passes(stack)
    now = int(time.time())
    refused(stack, "expired a minute ago", stack.signed(iat=now - 400, nbf=now - 400, exp=now - 60), reason="expired")
    refused(stack, "expired a second ago", stack.signed(exp=now - 1), reason="expired")
    refused(stack, "no exp (it would never expire)", stack.signed(drop=("exp",)))
    refused(stack, "exp not a number", stack.signed(exp="tomorrow"))
    valid_passes(stack, stack.signed())


@points(1, must_pass=True)
def test_not_yet_valid_tokens_are_refused(stack):
    """Rightly signed with nbf in the future: 401."""
    valid_passes(stack)
    now = int(time.time())
    refused(stack, "nbf in a minute", stack.signed(nbf=now + 60), reason="not_yet_valid")
    refused(stack, "no nbf", stack.signed(drop=("nbf",)))


@points(2, must_pass=True)
def test_wrong_issuer_is_refused(stack):
    """Rightly signed, but issued (it says) by someone else, or by nobody: 401."""
    valid_passes(stack)
    refused(stack, "another issuer", stack.signed(iss="http://evil.example"), reason="wrong_issuer")
    refused(stack, "our issuer with a suffix", stack.signed(iss=stack.identity.url + ".evil.example"),
            reason="wrong_issuer")
    refused(stack, "no issuer", stack.signed(drop=("iss",)))


@points(2, must_pass=True)
def test_wrong_audience_is_refused(stack):
    """Rightly signed, but for another audience (also one that merely contains ours), or for none: 401;
    a list of audiences that includes ours passes."""
    valid_passes(stack)
    for aud in ("another-system", "microcosmic", "not-microcosm", ["another-system"], ["micro", "cosm"]):
        refused(stack, f"aud {aud!r}", stack.signed(aud=aud), reason="wrong_audience")
    refused(stack, "no aud", stack.signed(drop=("aud",)))
    valid_passes(stack, stack.signed(aud=["another-system", "microcosm"]))


@points(2, must_pass=True)
def test_missing_scope_is_403_and_the_right_scope_passes(stack):
    """Adding a product needs catalog:write: ada's token lacks it (403), so does one whose scope merely contains
    the word (403); a service client holding it gets its product added (201)."""
    valid_passes(stack)
    refused(stack, "ada's token, no catalog:write", stack.token, status=403, method="POST",
            reason="missing_scope")
    refused(stack, "scope catalog:writer", stack.signed(scope="catalog:read catalog:writer"), status=403, method="POST")
    refused(stack, "scope 'xcatalog:write'", stack.signed(scope="catalog:read xcatalog:write"), status=403, method="POST")
    added = stack.post(stack.client_token())
    assert added.status_code == 201, f"a token with catalog:write could not add a product: {added.status_code} {added.text[:300]}"


@points(3)
def test_key_rotation_keeps_valid_tokens_valid(stack):
    """The provider rotates its key: tokens of the old key still pass, and the first tokens of the new key pass
    as soon as it signs (the gateway's JWKS cache learns the new kid)."""
    valid_passes(stack)
    old_token = stack.login()
    answer = stack.identity.post("/keys/rotate", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 201, answer.text
    new_kid = answer.json()["kid"]
    deadline = time.monotonic() + 10
    while stack.signing_kid() != new_kid and time.monotonic() < deadline:
        time.sleep(0.1)
    new_token = stack.login()
    assert parts(new_token)[0]["kid"] == new_kid, "the provider did not start signing with the new key"
    valid_passes(stack, new_token)
    valid_passes(stack, old_token)
    valid_passes(stack, stack.token)
    refused(stack, "a stranger's key under the new kid",
            jwt.encode({**parts(new_token)[1], "sub": "admin"}, rsa.generate_private_key(65537, 2048),
                       algorithm="RS256", headers={"kid": new_kid}))

