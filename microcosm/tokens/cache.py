"""A verified-token cache: a token checked once is not checked again, in full, until it expires.

    cache = VerifiedTokens(jwks, issuer="http://127.0.0.1:8005", audience="microcosm")
    claims = cache.verify(token, required_scopes=["orders:write"])   # what tokens.verify gives, or TokenError

A client sends the same access token with every request until it expires: minutes, and hundreds of requests.
Checking its RS256 signature is most of what `verify` costs, so a gateway remembers the tokens it has verified;
production gateways do the same (Envoy's `jwt_authn` filter keeps a JWT cache). What such a cache must never do
is accept a token that `verify` would refuse now. So:

- **only verified tokens get in**: a token enters after `verify` accepted it, so whatever an attacker makes up
  never takes a place (a made-up token costs a full check every time, as it would without the cache);
- **bounded**: at most `max_entries` tokens (the least recently used leaves first), each kept under the SHA-256
  of its text, so memory stays bounded however many tokens, and however long, clients send;
- **never past `exp`**: an entry ends at the token's expiry, and on every use the time claims are checked again
  against the clock (`nbf`, `iat`, `exp`), as `verify` would;
- **only while its key is published**: an entry remembers the key (JWK) that verified it and is used only while
  the JWKS publishes that same key under that `kid`; once the key is rotated out, its tokens are refused at once,
  cached or not (and a kid published again with other key material checks its tokens again);
- **scopes on every use**: the routes need different ones, so they are not part of what is cached.

The cache only ever says yes: a token it cannot vouch for goes to `verify`, which says why not, so a refusal
reads the same with the cache as without it. Only the token check's signature and claims are cached, never an
answer: the rate limit and the owner check still run on every request.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import NamedTuple

import jwt

from .keys import find_key
from .verify import check_scopes, verify as verify_token

MAX_ENTRIES = 10_000  # about 1.5 KB each (the claims of a provider's token): 15 MB at most


class Entry(NamedTuple):
    claims: dict  # as verify returned them
    kid: str
    jwk: dict  # the key, as published, that the token was verified with
    not_before: int  # the later of nbf and iat
    expires: int  # exp


class VerifiedTokens:
    """`verify` for one provider (its JWKS, issuer and audience), remembering the tokens it accepted."""

    def __init__(self, jwks, issuer: str, audience: str, *, max_entries: int = MAX_ENTRIES, leeway: float = 0,
                 verifier=verify_token):
        self.jwks, self.issuer, self.audience, self.leeway = jwks, issuer, audience, leeway
        self.max_entries, self.verifier = max_entries, verifier
        self.entries: OrderedDict[bytes, Entry] = OrderedDict()  # oldest use first
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def verify(self, token: str | None, required_scopes=()) -> dict:
        """The token's claims if `verify` would accept it now with these scopes; TokenError otherwise."""
        if not isinstance(token, str) or not token:
            return self.verifier(token, self.jwks, self.issuer, self.audience, required_scopes, leeway=self.leeway)
        digest = hashlib.sha256(token.encode()).digest()
        claims = self._held(digest, None)
        if claims is None:
            self.misses += 1
            claims = self._verify_and_keep(token, digest)
        check_scopes(claims, required_scopes)
        return dict(claims)  # a copy: a caller that changes it does not change the cache

    def cached(self, token: str, required_scopes, keys: dict) -> dict | None:
        """`verify`'s answer for a token the cache holds, without I/O: `keys` are the JWKS's keys by kid as the
        caller holds them (it has checked they are not out of date). None when the cache cannot vouch for the
        token: then `verify` decides (and may fetch the JWKS). Scopes are checked as `verify` checks them."""
        claims = self._held(hashlib.sha256(token.encode()).digest(), keys)
        if claims is None:
            return None
        check_scopes(claims, required_scopes)
        return dict(claims)

    def _held(self, digest: bytes, keys: dict | None) -> dict | None:
        """The claims kept under `digest` if still good (`keys`: the JWKS's keys; None: ask the JWKS), else None
        (an entry no longer good is forgotten)."""
        with self.lock:
            entry = self.entries.get(digest)
            if entry is not None:
                self.entries.move_to_end(digest)
        if entry is None:
            return None
        if self._still_good(entry, keys):
            self.hits += 1
            return entry.claims
        self._forget(digest)
        return None

    def _still_good(self, entry: Entry, keys: dict | None = None) -> bool:
        now = time.time()
        if not entry.not_before <= now + self.leeway or now >= entry.expires:
            return False
        jwk = find_key(self.jwks, entry.kid) if keys is None else keys.get(entry.kid)
        return jwk == entry.jwk  # still published, and still the same key

    def _verify_and_keep(self, token: str, digest: bytes) -> dict:
        kid = _kid_of(token)
        jwk = find_key(self.jwks, kid) if kid else None  # the key before the check ...
        claims = self.verifier(token, self.jwks, self.issuer, self.audience, (), leeway=self.leeway)
        if jwk is None or find_key(self.jwks, kid) != jwk:  # ... and after: the same, so it is the one that verified
            return claims
        entry = Entry(claims, kid, jwk, max(int(claims["nbf"]), int(claims["iat"])), int(claims["exp"]))
        if time.time() < entry.expires:
            with self.lock:
                self.entries[digest] = entry
                while len(self.entries) > self.max_entries:
                    self.entries.popitem(last=False)
        return claims

    def _forget(self, digest: bytes) -> None:
        with self.lock:
            self.entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self.entries)

    def state(self) -> dict:
        """How the cache does (for /_gateway)."""
        return {"entries": len(self.entries), "max_entries": self.max_entries, "hits": self.hits,
                "misses": self.misses}


def _kid_of(token: str) -> str | None:
    """The key id a token names (read before its signature is checked: only to pick the key to remember)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except (jwt.InvalidTokenError, ValueError, TypeError, RecursionError):
        return None
    return kid if isinstance(kid, str) else None
