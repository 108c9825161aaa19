"""Users: registering (`POST /users`) and asking who a token belongs to (`GET /userinfo`).

A username is 3 to 32 of a-z 0-9 _ . - (case-insensitive: stored lower-case); a password at least 8
characters and not the username. Only the password's argon2id hash is stored (passwords.py). Every
well-formed registration counts against its address's limit (limits.py), since each one costs a hash.
A new user's tokens may carry `user_scope` (config), by default `DEFAULT_USER_SCOPE`.

`/userinfo` checks a Bearer token exactly as every other service does (`microcosm.tokens.verify` with the
published keys): a bad token is a JSON 401 that says why, with `WWW-Authenticate: Bearer error=...`.
"""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from flask import Blueprint, request

from ... import tokens
from ..base import ApiError, Str, read_json
from .limits import client_address
from .oauth import no_secrets_in_url

if TYPE_CHECKING:
    from .app import Provider

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
DEFAULT_USER_SCOPE = "openid profile catalog:read orders:read orders:write carts:read carts:write"


def routes(idp: Provider) -> Blueprint:
    bp = Blueprint("identity_users", __name__)

    @bp.post("/users")
    def register():
        no_secrets_in_url()
        body = read_json(username=Str(min=1, max=64), password=Str(min=1, max=1024))
        username, password = body["username"].lower(), body["password"]
        if not USERNAME.match(username):
            raise ApiError(400, "username: 3 to 32 of a-z 0-9 _ . - starting with a letter or digit", field="username")
        if len(password) < 8:
            raise ApiError(400, "password: at least 8 characters", field="password")
        if password.lower() == username:
            raise ApiError(400, "password: must not be the username", field="password")
        # every well-formed registration counts (each one may cost a hash)
        idp.limiter.registering(client_address(idp.trusted_proxies))
        if idp.db.one("SELECT id FROM users WHERE username = ?", username):
            raise ApiError(409, f"username '{username}' is taken", field="username")
        try:
            user_id = idp.db.execute("INSERT INTO users (username, password_hash, scope, created_at) "
                                     "VALUES (?, ?, ?, ?)", username, idp.passwords.hash(password), idp.user_scope,
                                     time.time())
        except Exception as exc:  # two registrations of one name at once: the UNIQUE constraint decides
            if "UNIQUE" in str(exc):
                raise ApiError(409, f"username '{username}' is taken", field="username") from None
            raise
        return {"id": user_id, "username": username, "scope": idp.user_scope}, 201

    @bp.get("/userinfo")
    def userinfo():
        try:
            claims = tokens.verify(tokens.bearer_token(request.headers.get("Authorization")), idp.keys.jwks(),
                                   idp.issuer, idp.audience)
        except tokens.TokenError as exc:
            error = ApiError(exc.status, exc.message, reason=exc.reason)
            error.www_authenticate = f'Bearer error="invalid_token", error_description="{exc.reason}"'
            raise error from None
        return {"sub": claims["sub"], "scope": claims["scope"], "exp": claims["exp"]}

    return bp
