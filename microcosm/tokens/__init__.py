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

A gateway checks the same token on every request until it expires: `VerifiedTokens` (cache.py) remembers the
tokens `verify` accepted, so their signatures are checked once, while `exp`, `nbf`, the key's presence in the
JWKS and the scopes are still checked on every use.

The package: errors.py (TokenError, its reasons, the bearer header), keys.py (the JWKS cache, keys parsed once),
verify.py (the checks, in order), cache.py (the verified-token cache).
"""
from .errors import REASONS, TokenError, bearer_token
from .keys import JWKSCache
from .verify import ALGORITHM, REQUIRED_CLAIMS, check_identity, check_scopes, verify
from .cache import VerifiedTokens

__all__ = ["REASONS", "TokenError", "bearer_token", "JWKSCache", "ALGORITHM", "REQUIRED_CLAIMS", "check_identity",
           "check_scopes", "verify", "VerifiedTokens"]
