"""The grants: the ways to get a token at `POST /token` (RFC 6749), each one a function of its parameters.

- `password`: a user logs in with a username and password. Rate-limited before any hashing (limits.py),
  checked with argon2id (passwords.py); the answer is an access token and a refresh token of a new family.
  A wrong password and an unknown user get the same answer, after the same work.
- `client_credentials`: a service proves it is itself with its client id and secret (HTTP Basic, or in the
  body). Its token's `sub` is `client:<id>`; it gets no refresh token (RFC 6749 4.4.3): it can always ask
  again with its secret.
- `refresh_token`: a new access token without the password, for a refresh token that is spent in exchange
  (refresh.py).

Each grant ends in `access_token`: the claims (issuer, subject, audience, lifetime, scope), signed RS256 with
the key that signs now (keys.py), its kid in the header so a verifier knows which public key to use.
"""
from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import jwt
from flask import request

from .limits import client_address
from .oauth import granted_scope, need, oauth_error, token_answer

if TYPE_CHECKING:
    from .app import Provider

GRANTS = ("password", "client_credentials", "refresh_token")


def access_token(idp: Provider, sub: str, scope: str, **extra) -> str:
    """A signed access token (a JWT, RFC 9068) for `sub` with `scope`, valid for the provider's access_ttl."""
    kid, key = idp.keys.signing_key()
    now = int(time.time())
    claims = {"iss": idp.issuer, "sub": sub, "aud": idp.audience, "iat": now, "nbf": now,
              "exp": now + idp.access_ttl, "jti": uuid.uuid4().hex, "scope": scope, **extra}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


def password_grant(idp: Provider, params: dict):
    username, password = need(params, "username").lower(), need(params, "password")
    address = client_address(idp.trusted_proxies)
    idp.limiter.check(username, address)
    user = idp.db.one("SELECT * FROM users WHERE username = ?", username)
    if not idp.passwords.check(user["password_hash"] if user else None, password):
        idp.limiter.failed(username, address)
        raise oauth_error(400, "invalid_grant", "wrong username or password")  # the same for unknown users
    idp.limiter.succeeded(username)
    if idp.passwords.outdated(user["password_hash"]):  # the cost went up since: store the stronger hash
        idp.db.execute("UPDATE users SET password_hash = ? WHERE id = ?", idp.passwords.hash(password), user["id"])
    scope = granted_scope(params.get("scope"), user["scope"])
    access = access_token(idp, username, scope)
    return token_answer(access, scope, idp.access_ttl, idp.refresh.issue(username, scope))


def client_from_request(params: dict) -> tuple[str, str] | None:
    """(client_id, secret) from HTTP Basic (client_secret_basic) or the body (client_secret_post)."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return unquote_plus(auth.username or ""), unquote_plus(auth.password or "")
    if params.get("client_id") or params.get("client_secret"):
        return params.get("client_id", ""), params.get("client_secret", "")
    return None


def client_credentials_grant(idp: Provider, params: dict):
    def refused():
        error = oauth_error(401, "invalid_client", "unknown client or wrong client secret")
        if request.authorization is not None:
            error.www_authenticate = 'Basic realm="identity"'
        return error

    given = client_from_request(params)
    if given is None:  # no client named at all: nothing to check, nothing to learn, no hash spent
        raise refused()
    address = client_address(idp.trusted_proxies)
    idp.limiter.check(None, address)  # an address over its failure limit costs nothing more
    client = idp.db.one("SELECT * FROM clients WHERE client_id = ?", given[0])
    # an unknown client is checked against a dummy hash: the same work and the same answer as a wrong secret
    if not idp.passwords.check(client["secret_hash"] if client else None, given[1]):
        idp.limiter.failed(None, address)
        raise refused()
    scope = granted_scope(params.get("scope"), client["scope"])
    # no refresh token for a client (RFC 6749 4.4.3): it can always ask again with its secret
    access = access_token(idp, f"client:{client['client_id']}", scope, client_id=client["client_id"])
    return token_answer(access, scope, idp.access_ttl)


def refresh_grant(idp: Provider, params: dict):
    sub, scope, refresh = idp.refresh.exchange(need(params, "refresh_token"), params.get("scope"))
    return token_answer(access_token(idp, sub, scope), scope, idp.access_ttl, refresh)


HANDLERS = {"password": password_grant, "client_credentials": client_credentials_grant,
            "refresh_token": refresh_grant}
