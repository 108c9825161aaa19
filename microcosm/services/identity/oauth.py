"""OAuth 2 on the wire (RFC 6749): how parameters come in, and how tokens and errors go out.

- **Parameters** come form-encoded (what the RFC says) or as JSON (what our own clients find easier); each one
  a string, given once. A secret in the URL is refused outright: URLs end up in logs and browser history.
- **A token answer** is `{access_token, token_type, expires_in, scope[, refresh_token]}`, never cached.
- **An error** is `{"error": "invalid_grant", "error_description": ...}` as OAuth clients expect, and carries
  the house fields too (message, status, request_id), so both OAuth clients and our own clients read it; a
  refused caller learns how to retry (WWW-Authenticate, Retry-After).
- **Scopes** granted are at most the scopes allowed: a request can narrow them, never widen them.
"""
from __future__ import annotations

import re

from flask import jsonify, request

from ..base import ApiError, error_response
from ..redaction import SECRET_PARAMS

SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 scope-token characters


def oauth_error(status: int, error: str, description: str, **details) -> ApiError:
    """An RFC 6749 error ({"error": "invalid_grant", "error_description": ...}) that also carries the house
    fields (message, status, request_id), so both OAuth clients and our own clients read it."""
    return ApiError(status, description, error=error, error_description=description, **details)


def no_secrets_in_url() -> None:
    found = SECRET_PARAMS.search(request.query_string.decode("latin-1"))
    if found:
        raise oauth_error(400, "invalid_request", f"'{found.group(1)}' must be sent in the body, never in the "
                                                  "URL (URLs end up in logs and browser history)")


def token_params() -> dict[str, str]:
    """The request's parameters, form-encoded (RFC 6749) or JSON; each one a string, given at most once."""
    no_secrets_in_url()
    if request.mimetype == "application/x-www-form-urlencoded":
        form = request.form
        repeated = [k for k in form if len(form.getlist(k)) > 1]
        if repeated:
            raise oauth_error(400, "invalid_request", f"parameter '{repeated[0]}' is given more than once",
                              field=repeated[0])
        return dict(form.items())
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise oauth_error(400, "invalid_request", "the body must be a JSON object")
        for key, value in body.items():
            if not isinstance(value, str):
                raise oauth_error(400, "invalid_request", f"parameter '{key}' must be a string", field=key)
        return body
    raise oauth_error(415, "invalid_request", "send the parameters form-encoded "
                      "(application/x-www-form-urlencoded) or as JSON (application/json), "
                      f"not '{request.mimetype or 'none'}'")


def need(params: dict, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise oauth_error(400, "invalid_request", f"parameter '{name}' is required", field=name)
    return value


def granted_scope(requested: str | None, allowed: str) -> str:
    """The scopes a token gets: all that are allowed if none are asked for, else the ones asked for, each of
    which must be allowed (invalid_scope otherwise)."""
    if not requested:
        return allowed
    wanted = requested.split()
    if not all(SCOPE.match(s) for s in wanted):
        raise oauth_error(400, "invalid_scope", "scope must be space-separated scope names", field="scope")
    extra = [s for s in wanted if s not in allowed.split()]
    if extra:
        raise oauth_error(400, "invalid_scope", f"scope '{extra[0]}' is not allowed here", field="scope")
    return " ".join(dict.fromkeys(wanted))


def token_answer(access: str, scope: str, expires_in: int, refresh: str | None = None):
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in, "scope": scope}
    if refresh:
        body["refresh_token"] = refresh
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: never cache a token answer
    response.headers["Pragma"] = "no-cache"
    return response


def error_answer(exc: ApiError):
    """Every ApiError of this service as JSON, with the headers that tell a refused caller what to do."""
    response = error_response(exc.code, exc.description, **exc.details)
    if getattr(exc, "www_authenticate", None):
        response.headers["WWW-Authenticate"] = exc.www_authenticate
    if exc.code in (429, 503) and "retry_after" in exc.details:
        response.headers["Retry-After"] = str(exc.details["retry_after"])
    if request.path in ("/token", "/revoke"):
        response.headers["Cache-Control"] = "no-store"
    return response
