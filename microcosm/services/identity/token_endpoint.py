"""The token endpoint and its neighbours: `POST /token`, `POST /login`, `POST /revoke`.

- `POST /token` (RFC 6749) reads its parameters form-encoded or as JSON and hands them to the grant named by
  `grant_type` (grants.py). Every answer, a token or an error, is sent with `Cache-Control: no-store`.
- `POST /login` is the password grant for humans in a notebook: `{username, password[, scope]}` as JSON.
- `POST /revoke` (RFC 7009) ends a refresh token's whole family: logging out. Access tokens cannot be revoked:
  they are checked without asking this service, so they just expire.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

from ..base import Str, read_json
from .grants import GRANTS, HANDLERS, password_grant
from .oauth import need, no_secrets_in_url, oauth_error, token_params

if TYPE_CHECKING:
    from .app import Provider


def routes(idp: Provider) -> Blueprint:
    bp = Blueprint("identity_tokens", __name__)

    @bp.post("/token")
    def token():
        params = token_params()
        grant = params.get("grant_type")
        if not grant:
            raise oauth_error(400, "invalid_request", "parameter 'grant_type' is required", field="grant_type")
        handler = HANDLERS.get(grant)
        if handler is None:
            raise oauth_error(400, "unsupported_grant_type",
                              f"grant_type must be one of {', '.join(GRANTS)}", field="grant_type")
        return handler(idp, params)

    @bp.post("/login")
    def login():
        """The password grant for humans in a notebook: {username, password[, scope]} as JSON."""
        no_secrets_in_url()
        body = read_json(username=Str(min=1, max=64), password=Str(min=1, max=1024),
                         scope=Str(required=False, max=1000))
        return password_grant(idp, {k: v for k, v in body.items() if v is not None})

    @bp.post("/revoke")
    def revoke():
        """RFC 7009. Revoking a refresh token ends its whole family (the login session). Unknown tokens are
        answered 200 too: the caller learns nothing. Access tokens cannot be revoked: they expire."""
        params = token_params()
        presented = need(params, "token")
        if presented.count(".") == 2 or params.get("token_type_hint") == "access_token":
            raise oauth_error(400, "unsupported_token_type", "access tokens are JWTs checked without asking "
                              f"this service, so they cannot be revoked; they expire within {idp.access_ttl} s")
        idp.refresh.revoke(presented)
        return {"revoked": True}

    return bp
