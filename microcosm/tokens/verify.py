"""`verify`: an access token checked claim by claim, trusting nothing it says until its signature is checked."""
from __future__ import annotations

import base64
import binascii
import json
import math
import re

import jwt

from .errors import TokenError
from .keys import find_key, parsed_key

ALGORITHM = "RS256"  # the only one we accept; never read it from the token
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]
MAX_TOKEN_CHARS = 8192  # the provider's tokens are under 1 KB; a gateway refuses headers over 8 KB anyway
MAX_KID_CHARS = 256
LATEST_DATE = 253402300799  # 9999-12-31T23:59:59Z: a NumericDate after this is no date at all
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # header.payload.signature, base64url
VISIBLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: safe as an HTTP header value
VISIBLE_WORDS = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")


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
    jwk = find_key(jwks, kid)
    if jwk is None:
        raise TokenError("unknown_key", f"no published key has id {_shown(kid, 80)} (never published, or removed)")
    if jwk.get("kty") != "RSA" or jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
        raise TokenError("alg_not_allowed", f"key {kid!r} is not an RS256 signing key")
    try:
        public_key = parsed_key(kid, jwk)
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
    check_scopes(claims, required_scopes)
    return claims


def check_scopes(claims: dict, required_scopes=()) -> None:
    """TokenError('missing_scope') unless the (verified) claims grant every required scope."""
    missing = [s for s in required_scopes if s not in claims["scope"].split()]
    if missing:
        raise TokenError("missing_scope", f"the token lacks scope {' '.join(missing)!r}")
