"""Checking an access token from the identity provider: what a gateway (or any service) does with a bearer token.

    jwks = JWKSCache("http://127.0.0.1:8005/.well-known/jwks.json")
    claims = verify(token, jwks, issuer="http://127.0.0.1:8005", audience="microcosm", required_scopes=["orders:write"])

`verify` trusts nothing the token says about itself until the signature is checked with a key the provider
published: the algorithm is pinned to RS256 (a token that says `alg: none`, or HS256 "signed" with the public
key, is refused before any key is touched), the key is chosen by `kid` from the published JWKS only, and then
`exp`, `nbf`, `iss`, `aud` and the scopes are checked. Every refusal is a `TokenError` with a reason code.
"""
from __future__ import annotations

import json
import re
import threading
import time

import jwt
import requests
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"  # the only one we accept; never read it from the token
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]

# reason code -> HTTP status a server should answer with (403: the token is fine but not enough)
REASONS = {
    "missing_token": 401, "malformed": 401, "bad_signature": 401, "alg_not_allowed": 401, "expired": 401,
    "not_yet_valid": 401, "wrong_issuer": 401, "wrong_audience": 401, "unknown_key": 401, "missing_scope": 403,
}


class TokenError(Exception):
    """A token was refused. `reason` is one of REASONS; `status` the HTTP status to answer with."""

    def __init__(self, reason: str, message: str):
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, REASONS[reason]

    def __repr__(self) -> str:
        return f"TokenError({self.reason!r}, {self.message!r})"


def bearer_token(authorization: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header; TokenError('missing_token') without one."""
    if not authorization or not authorization.strip():
        raise TokenError("missing_token", "no Authorization header: send 'Authorization: Bearer <access token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("missing_token", "the Authorization header must be 'Bearer <access token>'")
    return token.strip()


class JWKSCache:
    """The provider's published keys, fetched once and kept.

    A token signed with a key id we have not seen makes it fetch again (the provider publishes a new key
    before signing with it, so one refetch finds it), but at most once every `min_refetch` seconds: a stream
    of tokens with made-up key ids must not turn into a stream of requests to the provider. The keys are also
    refetched when older than `max_age` (or the provider's Cache-Control max-age, if shorter), and if the
    provider is down the last keys we had keep working.
    """

    def __init__(self, jwks_url: str, *, max_age: float = 300.0, min_refetch: float = 1.0, timeout: float = 2.0):
        self.url, self.max_age, self.min_refetch, self.timeout = jwks_url, max_age, min_refetch, timeout
        self.lock = threading.Lock()
        self.keys: dict[str, dict] = {}
        self.fetched_at = 0.0  # last successful fetch
        self.tried_at = float("-inf")  # last attempt, successful or not
        self.expires_at = 0.0
        self.fetches = 0  # how many times we asked the provider (for tests and notebooks)
        self.last_error: str | None = None

    def _fetch(self) -> None:
        self.tried_at = time.monotonic()
        self.fetches += 1
        try:
            answer = requests.get(self.url, timeout=self.timeout)
            answer.raise_for_status()
            keys = {k["kid"]: k for k in answer.json()["keys"] if "kid" in k}
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return  # keep what we had
        max_age = self.max_age
        found = re.search(r"max-age=(\d+)", answer.headers.get("Cache-Control", ""))
        if found:
            max_age = min(max_age, float(found.group(1)))
        self.keys, self.last_error = keys, None
        self.fetched_at = time.monotonic()
        self.expires_at = self.fetched_at + max_age

    def key(self, kid: str) -> dict | None:
        """The published JWK with this key id, refetching (rate-limited) if it is unknown or the cache is old."""
        with self.lock:
            now = time.monotonic()
            stale = now >= self.expires_at
            if (kid not in self.keys or stale) and now - self.tried_at >= self.min_refetch:
                self._fetch()
            return self.keys.get(kid)

    def jwks(self) -> dict:
        with self.lock:
            if not self.keys and time.monotonic() - self.tried_at >= self.min_refetch:
                self._fetch()
            return {"keys": list(self.keys.values())}


def _find_key(jwks, kid: str) -> dict | None:
    if isinstance(jwks, JWKSCache):
        return jwks.key(kid)
    if isinstance(jwks, str):
        jwks = json.loads(jwks)
    for key in jwks.get("keys", []):
        if key.get("kid") == kid:
            return key
    return None


def verify(token: str | None, jwks, issuer: str, audience: str, required_scopes=(), *, leeway: float = 0) -> dict:
    """The token's claims if it is a valid access token of `issuer` for `audience` with every required scope.

    `jwks` is a JWKSCache, or a JWKS document ({"keys": [...]}) as a dict or JSON text. Raises TokenError.
    """
    if not token:
        raise TokenError("missing_token", "no access token")
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenError("malformed", "an access token is a JWT: three base64url parts separated by dots")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise TokenError("malformed", f"the token's header cannot be read ({exc})") from None
    alg = header.get("alg")
    if alg != ALGORITHM:  # before any key is used: `none` and HS256-with-the-public-key end here
        raise TokenError("alg_not_allowed", f"algorithm {alg!r} is not accepted; tokens must be signed {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError("unknown_key", "the token names no key id (kid)")
    jwk = _find_key(jwks, kid)
    if jwk is None:
        raise TokenError("unknown_key", f"no published key has id {kid!r} (never published, or removed)")
    if jwk.get("kty") != "RSA" or jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
        raise TokenError("alg_not_allowed", f"key {kid!r} is not an RS256 signing key")
    try:
        public_key = RSAAlgorithm.from_jwk(jwk)
    except (jwt.InvalidKeyError, ValueError, KeyError) as exc:
        raise TokenError("unknown_key", f"key {kid!r} in the JWKS cannot be read ({exc})") from None
    try:
        claims = jwt.decode(token, public_key, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                            leeway=leeway, options={"require": REQUIRED_CLAIMS})
    except jwt.InvalidSignatureError:
        raise TokenError("bad_signature", "the signature does not match the token's contents") from None
    except jwt.ExpiredSignatureError:
        raise TokenError("expired", "the token has expired (exp is in the past)") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("not_yet_valid", "the token is not valid yet (nbf or iat is in the future)") from None
    except jwt.InvalidIssuerError:
        raise TokenError("wrong_issuer", f"the token was not issued by {issuer}") from None
    except jwt.InvalidAudienceError:
        raise TokenError("wrong_audience", f"the token is not meant for audience {audience!r}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError("malformed", f"the token lacks a required claim ({exc.claim})") from None
    except jwt.InvalidTokenError as exc:  # DecodeError, bad claim types ...
        raise TokenError("malformed", f"the token cannot be read ({exc})") from None
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenError("malformed", "the scope claim must be a space-separated string")
    missing = [s for s in required_scopes if s not in scope.split()]
    if missing:
        raise TokenError("missing_scope", f"the token lacks scope {' '.join(missing)!r}")
    return claims
