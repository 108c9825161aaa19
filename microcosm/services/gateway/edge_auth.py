"""Step 2, authenticate: the caller's token is checked once, here at the edge, and the services behind are
told who is calling in headers.

Each route says per method which scopes a token must carry (routing.py). For a method that needs a token,
`EdgeAuth.authenticate(scopes)` reads `Authorization: Bearer <token>` and checks it with
`microcosm.tokens.verify` against the identity provider's public keys (its JWKS, cached, fetched again
when a token names a key id the cache does not know): RS256 only, `exp`, `nbf`, `iss`, `aud`, scopes. A token
verified once is remembered until it expires (`tokens.VerifiedTokens`): its signature is not checked again, but
its expiry, its key's presence in the JWKS and the scopes are, on every request.
`token_verifier="file.py:name"` loads a verifier of your own instead (run on every request). The answers when
it fails:

- **401** with `WWW-Authenticate: Bearer realm="microcosm"` when there is no token, or with
  `error="invalid_token"` and the reason when it is expired, forged, for another audience ...: "who are you?";
- **403** with `error="insufficient_scope"` and the scopes needed: "we know who you are; you may not".

A route with `owner=True` (carts) also needs the first segment after its prefix to be the caller's own name
(`check_owner`), else 403.

What goes on (`identity_headers`): only an allow-list of the client's headers, the `X-Forwarded-*` trio,
and the caller's identity as `X-User`, `X-Scopes`, `X-Client`, with `X-Identity-Proof` (an HMAC of the
three under the launch secret, `microcosm.trust`) when the gateway was launched with one. Whatever identity
headers, proof or admin secret the client sent are dropped, since they are not on the allow-list. A service
behind trusts `X-User` only as far as it trusts the network that carries it: anyone who can reach the
service's own port can send one. The proof lets a holder of the launch secret (the balancer checks it with
`trust.identity_proven`) tell the gateway's headers from forged ones; a route with `forward_token=True`
passes the token itself on, and the service verifies it.
"""
from __future__ import annotations

import functools
import logging
import time

from ... import tokens, trust
from ..base import ApiError
from ..loader import load_object

log = logging.getLogger("microcosm.gateway")

FORWARDED_HEADERS = ("Content-Type", "Accept", "Accept-Language", "If-None-Match", "If-Modified-Since",
                     "If-Match", "Idempotency-Key", "User-Agent")  # all other client headers stay here
IDENTITY_HEADERS = trust.IDENTITY_HEADERS  # X-User, X-Scopes, X-Client: set by the gateway only (+ the proof)
# where WSGI keeps each of them: read there directly, as werkzeug's `name in request.headers` raises and catches
# a KeyError for every header the client did not send (most of them, on most requests)
_ENVIRON_KEYS = [(h, "CONTENT_TYPE" if h == "Content-Type" else "HTTP_" + h.upper().replace("-", "_"))
                 for h in FORWARDED_HEADERS]
KEYS_AHEAD = 0.5  # s: the asyncio front has the JWKS fetched again this long before it expires (keys_expiring)


class EdgeAuth:
    """The token check, set up from the config: `identity_url` (where the JWKS is, unless `jwks_url`),
    `issuer` (default: identity_url), `audience` (default "microcosm"), `token_verifier`."""

    def __init__(self, config: dict):
        identity_url = (config.get("identity_url") or "").rstrip("/")
        self.issuer = config.get("issuer") or identity_url
        self.audience = config.get("audience", "microcosm")
        self.jwks = tokens.JWKSCache(config.get("jwks_url") or f"{identity_url}/.well-known/jwks.json") \
            if identity_url else None
        own = config.get("token_verifier")
        self.verify = load_object(own) if own else tokens.verify
        # ours remembers the tokens it verified (tokens/cache.py); your own verifier runs on every request
        self.verified = tokens.VerifiedTokens(self.jwks, self.issuer, self.audience) \
            if self.jwks is not None and not own else None

    def authenticate(self, scopes: list[str], authorization: str | None, where: str = "", io: bool = True):
        """The caller's verified claims (from the request's `Authorization` header), or a 401/403 ApiError with
        WWW-Authenticate. `where` ("GET /api/orders") is for the log line of a refusal. With `io=False` (the
        asyncio front, on its event loop) None instead of any answer that needs I/O or may take long: a token not
        verified before, keys out of date (a fetch), a verifier of your own; the front then asks again in a thread."""
        if self.jwks is None:
            raise ApiError(503, "this route needs a token, but the gateway has no identity provider (identity_url)")
        try:
            token = tokens.bearer_token(authorization)
            if not io:
                keys = self.jwks.keys if time.monotonic() < self.jwks.expires_at else None  # (not out of date)
                claims = self.verified.cached(token, scopes, keys) if keys is not None and self.verified else None
                if claims is None:
                    return None
            elif self.verified is not None:
                claims = self.verified.verify(token, scopes)
            else:
                claims = self.verify(token, self.jwks, self.issuer, self.audience, scopes)
            return tokens.check_identity(claims)  # whatever the verifier, what goes on in headers is plain text
        except tokens.TokenError as exc:
            log.info("token refused on %s: %s", where, exc.reason)  # never the token
            if exc.reason == "missing_token":
                challenge = 'Bearer realm="microcosm"'
            elif exc.status == 403:
                challenge = f'Bearer realm="microcosm", error="insufficient_scope", scope="{" ".join(scopes)}"'
            else:
                challenge = f'Bearer realm="microcosm", error="invalid_token", error_description="{exc.reason}"'
            error = ApiError(exc.status, exc.message, reason=exc.reason)
            error.headers = {"WWW-Authenticate": challenge}
            raise error from None

    def keys_expiring(self) -> bool:
        """Should the JWKS be fetched now, ahead of its expiry (`jwks.refresh_ahead(KEYS_AHEAD)`, in a thread)?
        The identity provider lets verifiers cache it for `publish_delay` seconds (2 by default): without this,
        a busy gateway's first request after each expiry would wait for the fetch, off its event loop."""
        return self.jwks is not None and self.verified is not None and self.jwks.expiring(KEYS_AHEAD)

    def state(self) -> dict:
        """What the gateway knows of the identity provider (for /_gateway)."""
        jwks = self.jwks
        return {"issuer": self.issuer, "audience": self.audience, "jwks_url": jwks.url if jwks else None,
                "known_keys": sorted(jwks.keys) if jwks else [], "jwks_fetches": jwks.fetches if jwks else 0,
                "verified_tokens": self.verified.state() if self.verified else None}


def check_owner(owner_segment: str | None, claims: dict | None, path: str) -> None:
    """A route with owner=True: the resource named after the prefix must be the caller's own (else 403)."""
    if owner_segment is not None and claims is not None and owner_segment != claims["sub"]:
        raise ApiError(403, f"you may only reach your own resource ({path.split('/')[2]}/{claims['sub']})",
                       reason="not_owner")


def sent_headers(environ: dict) -> dict:
    """The allow-listed headers a client sent, read from a WSGI environ."""
    return {h: environ[key] for h, key in _ENVIRON_KEYS if key in environ}


def identity_headers(claims: dict | None, sent: dict, address: str, scheme: str, host: str,
                     forwarded_for: str | None = None) -> dict:
    """The headers sent on: the allow-listed ones of the client's (`sent`), X-Forwarded-*, and who is calling."""
    headers = dict(sent)
    headers["X-Forwarded-For"] = f"{forwarded_for}, {address}" if forwarded_for else address
    headers["X-Forwarded-Proto"] = scheme
    headers["X-Forwarded-Host"] = host
    if claims is not None:
        user, scopes, client = claims["sub"], claims.get("scope", ""), claims.get("client_id") or ""
        headers["X-User"], headers["X-Scopes"] = user, scopes
        if client:
            headers["X-Client"] = client
        proof = _proof(trust.launch_secret(), user, scopes, client)  # None when launched without a launch secret
        if proof:
            headers[trust.PROOF_HEADER] = proof
    return headers


@functools.lru_cache(maxsize=1024)
def _proof(secret: str | None, user: str, scopes: str, client: str) -> str | None:
    """trust.identity_proof, made once per caller (an HMAC per request otherwise); `secret` is the launch secret
    it is made with, so a new secret makes new proofs. Bounded: at most 1,024 callers' proofs."""
    return trust.identity_proof(user, scopes, client)
