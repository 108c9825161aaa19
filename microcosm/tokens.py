"""Checking an access token from the identity provider: what a gateway (or any service) does with a bearer token.

    jwks = JWKSCache("http://127.0.0.1:8005/.well-known/jwks.json")
    claims = verify(token, jwks, issuer="http://127.0.0.1:8005", audience="microcosm", required_scopes=["orders:write"])

`verify` trusts nothing the token says about itself until the signature is checked with a key the provider
published: the algorithm is pinned to RS256 (a token that says `alg: none`, or HS256 "signed" with the public
key, is refused before any key is touched), the key is chosen by `kid` from the published JWKS only, and then
`exp`, `nbf`, `iss`, `aud` and the scopes are checked. Every refusal is a `TokenError` with a reason code.

Nothing a token carries, however malformed, gets past as anything but a `TokenError`: its parts must be
base64url JSON objects (no duplicate members, no NaN, bounded size and nesting), header parameters and claims
must have the types the standards give them, and the identity it names (`sub`, `scope`, `client_id`) must be
plain printable text, since a gateway passes it on in HTTP headers.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
import threading
import time

import jwt
import requests
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"  # the only one we accept; never read it from the token
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]
MAX_TOKEN_CHARS = 8192  # the provider's tokens are under 1 KB; a gateway refuses headers over 8 KB anyway
MAX_KID_CHARS = 256
MAX_JWKS_BYTES = 1024 * 1024  # a provider's JWKS larger than this is refused, not read into memory
LATEST_DATE = 253402300799  # 9999-12-31T23:59:59Z: a NumericDate after this is no date at all
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # header.payload.signature, base64url
VISIBLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: safe as an HTTP header value
VISIBLE_WORDS = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")

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


def _caller_headers() -> dict:
    """Inside a service's request (the gateway checking a token): who fetches, so that the provider's hop
    record, and the traffic monitor, name the gateway rather than an anonymous client."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return {}
    app = flask.current_app
    return {"X-Caller": app.name, "X-Caller-Instance": str(app.config.get("INSTANCE") or app.name),
            "X-Request-ID": str(flask.g.get("request_id") or ""), "X-Parent-Hop": str(flask.g.get("hop") or "")}


class JWKSCache:
    """The provider's published keys, fetched once and kept.

    A token signed with a key id we have not seen makes it fetch again (the provider publishes a new key
    before signing with it, so one refetch finds it), but at most once every `min_refetch` seconds: a stream
    of tokens with made-up key ids must not turn into a stream of requests to the provider. The keys are also
    refetched when older than `max_age` (or the provider's Cache-Control max-age, if shorter), and if the
    provider is down the last keys we had keep working.

    The lock guards only the cache's state, never the HTTP fetch: one fetch is in flight at a time, and while
    it is, a token whose key we already hold is checked at once; only a token whose key id we do not know
    waits for the fetch (at most about `timeout`), since the fetch is its one chance to find the key.
    """

    def __init__(self, jwks_url: str, *, max_age: float = 300.0, min_refetch: float = 1.0, timeout: float = 2.0):
        self.url, self.max_age, self.min_refetch, self.timeout = jwks_url, max_age, min_refetch, timeout
        self.lock = threading.Lock()
        self.fetched = threading.Condition(self.lock)  # notified when a fetch ends
        self.fetching = False  # a fetch is in flight (in some thread, outside the lock)
        self.keys: dict[str, dict] = {}
        self.fetched_at = 0.0  # last successful fetch
        self.tried_at = float("-inf")  # last attempt, successful or not
        self.expires_at = 0.0
        self.fetches = 0  # how many times we asked the provider (for tests and notebooks)
        self.last_error: str | None = None

    def _download(self) -> tuple[dict, float]:
        """(keys by kid, max-age) from the provider; raises on any failure. Runs without the lock."""
        with requests.get(self.url, timeout=self.timeout, stream=True, headers=_caller_headers()) as answer:
            answer.raise_for_status()
            body = answer.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the JWKS is over {MAX_JWKS_BYTES} bytes")
            cache_control = answer.headers.get("Cache-Control", "")
        keys = {}
        for k in json.loads(body)["keys"]:
            if isinstance(k, dict) and isinstance(k.get("kid"), str):
                keys[k["kid"]] = k
        max_age = self.max_age
        found = re.search(r"max-age=(\d{1,9})", cache_control)
        if found:
            max_age = min(max_age, float(found.group(1)))
        return keys, max_age

    def _refresh(self, wanted: str | None) -> None:
        """Fetch if due. Called with the lock held; releases it during the fetch, or while it waits for another
        thread's fetch when it has no key for `wanted` (None: any key at all)."""
        have = wanted in self.keys if wanted is not None else bool(self.keys)
        if self.fetching:
            if not have:  # the fetch in flight is this token's one chance to find its key
                self.fetched.wait_for(lambda: not self.fetching, timeout=2 * self.timeout + 1)
            return  # else: the keys we hold are good enough while someone else refreshes them
        now = time.monotonic()
        if (have and now < self.expires_at) or now - self.tried_at < self.min_refetch:
            return
        self.fetching, self.tried_at = True, now
        self.fetches += 1
        self.lock.release()
        try:
            keys, max_age, error = None, 0.0, None
            try:
                keys, max_age = self._download()
            except (requests.RequestException, ValueError, KeyError, TypeError, RecursionError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        finally:
            self.lock.acquire()
            self.fetching = False
            self.fetched.notify_all()
        if keys is None:
            self.last_error = error  # keep what we had
            return
        self.keys, self.last_error = keys, None
        self.fetched_at = time.monotonic()
        self.expires_at = self.fetched_at + max_age

    def key(self, kid: str) -> dict | None:
        """The published JWK with this key id, refetching (rate-limited) if it is unknown or the cache is old."""
        with self.lock:
            self._refresh(kid)
            return self.keys.get(kid)

    def jwks(self) -> dict:
        with self.lock:
            self._refresh(None)
            return {"keys": list(self.keys.values())}


def _find_key(jwks, kid: str) -> dict | None:
    if isinstance(jwks, JWKSCache):
        return jwks.key(kid)
    if isinstance(jwks, str):
        jwks = json.loads(jwks)
    for key in jwks.get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


_parsed_keys: dict[str, tuple[dict, object]] = {}  # kid -> (the JWK as published, the key parsed from it)
MAX_PARSED_KEYS = 64


def _public_key(kid: str, jwk: dict):
    """The published JWK as a key object, parsed once per key rather than once per token.

    Only a JWK just found in the JWKS reaches here, so a key that has left the JWKS is refused (unknown_key)
    before this cache is read, and the cache holds at most what providers published. A kid published again
    with other key material is parsed again: the cached key is used only while the JWK is the same."""
    cached = _parsed_keys.get(kid)
    if cached is not None and cached[0] == jwk:
        return cached[1]
    key = RSAAlgorithm.from_jwk(jwk)
    if len(_parsed_keys) >= MAX_PARSED_KEYS:
        _parsed_keys.clear()
    _parsed_keys[kid] = (dict(jwk), key)
    return key


def _object(pairs: list) -> dict:
    found = {}
    for name, value in pairs:
        if name in found:  # two parsers could read {"sub": "ada", "sub": "bob"} two ways: refuse it
            raise ValueError(f"member {name!r} appears twice")
        found[name] = value
    return found


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _json_part(part: str, what: str) -> dict:
    """One base64url part of a JWT as the JSON object it must be (TokenError 'malformed' otherwise)."""
    try:
        text = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_not_json)
    except RecursionError:
        raise TokenError("malformed", f"the token's {what} is nested too deeply") from None
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise TokenError("malformed", f"the token's {what} is not base64url-encoded JSON ({exc})") from None
    if not isinstance(value, dict):
        raise TokenError("malformed", f"the token's {what} must be a JSON object")
    return value


def _shown(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_identity(claims) -> dict:
    """`claims` if the identity they name can be passed on in HTTP headers (X-User, X-Scopes, X-Client): a
    non-empty printable-ASCII `sub` and `client_id`, a `scope` of space-separated printable words. A gateway
    calls this on whatever its verifier returned; TokenError('malformed') otherwise."""
    if not isinstance(claims, dict):
        raise TokenError("malformed", "the token's claims are not a JSON object")
    sub = claims.get("sub")
    if not isinstance(sub, str) or len(sub) > 256 or not VISIBLE.fullmatch(sub):
        raise TokenError("malformed", "the sub claim must be 1-256 printable ASCII characters without spaces")
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenError("malformed", "the scope claim must be a space-separated string")
    if len(scope) > 4096 or scope and not VISIBLE_WORDS.fullmatch(scope):
        raise TokenError("malformed", "the scope claim must be printable ASCII words separated by single spaces")
    client = claims.get("client_id")
    if client is not None and (not isinstance(client, str) or len(client) > 256 or not VISIBLE.fullmatch(client)):
        raise TokenError("malformed", "the client_id claim must be 1-256 printable ASCII characters")
    return claims


def _check_dates(claims: dict) -> None:
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= LATEST_DATE:
            raise TokenError("malformed", f"the {name} claim must be a date in seconds since 1970 "
                                          f"(up to {LATEST_DATE}), got {_shown(value)}")


def verify(token: str | None, jwks, issuer: str, audience: str, required_scopes=(), *, leeway: float = 0) -> dict:
    """The token's claims if it is a valid access token of `issuer` for `audience` with every required scope.

    `jwks` is a JWKSCache, or a JWKS document ({"keys": [...]}) as a dict or JSON text. Raises TokenError.
    """
    if not token:
        raise TokenError("missing_token", "no access token")
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenError("malformed", "an access token is a JWT: three base64url parts separated by dots")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError("malformed", f"the token is {len(token)} characters; an access token here is at most "
                                      f"{MAX_TOKEN_CHARS}")
    if not JWT_SHAPE.fullmatch(token):
        raise TokenError("malformed", "an access token is a JWT: three parts of base64url characters "
                                      "(A-Z a-z 0-9 - _) separated by dots")
    header_b64, payload_b64, _ = token.split(".")
    header = _json_part(header_b64, "header")
    _json_part(payload_b64, "payload")  # only its shape: no claim is read before the signature is checked
    alg = header.get("alg")
    if alg != ALGORITHM:  # before any key is used: `none` and HS256-with-the-public-key end here
        raise TokenError("alg_not_allowed", f"algorithm {_shown(alg)} is not accepted; tokens must be signed {ALGORITHM}")
    if "crit" in header:  # RFC 7515 4.1.11: extensions the recipient must understand; we understand none
        raise TokenError("malformed", "the token's header has critical extensions (crit) this verifier does "
                                      "not understand")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError("unknown_key", "the token names no key id (kid), or a kid that is not a string")
    if len(kid) > MAX_KID_CHARS:
        raise TokenError("unknown_key", f"the token's key id is {len(kid)} characters long; no key has such an id")
    jwk = _find_key(jwks, kid)
    if jwk is None:
        raise TokenError("unknown_key", f"no published key has id {_shown(kid, 80)} (never published, or removed)")
    if jwk.get("kty") != "RSA" or jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
        raise TokenError("alg_not_allowed", f"key {kid!r} is not an RS256 signing key")
    try:
        public_key = _public_key(kid, jwk)
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError) as exc:
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
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # what PyJWT may let through
        raise TokenError("malformed", f"the token cannot be read ({type(exc).__name__})") from None
    _check_dates(claims)
    claims.setdefault("scope", "")  # no scope claim: no scopes (and claims["scope"] is always a string)
    check_identity(claims)
    missing = [s for s in required_scopes if s not in claims["scope"].split()]
    if missing:
        raise TokenError("missing_scope", f"the token lacks scope {' '.join(missing)!r}")
    return claims
