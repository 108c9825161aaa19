"""A refused token: `TokenError` with a reason code and the HTTP status it means, and reading the bearer header."""
from __future__ import annotations

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
