"""A service that trusts no header: it verifies the caller's token itself (chapter 05's alternative to X-User)."""
from flask import request

from microcosm import tokens
from microcosm.services.base import ApiError, create_service


def create_app(config):
    app = create_service("verifying_whoami", config)
    jwks = tokens.JWKSCache(config["identity_url"] + "/.well-known/jwks.json")

    @app.get("/whoami")
    def whoami():
        try:
            claims = tokens.verify(tokens.bearer_token(request.headers.get("Authorization")), jwks,
                                   config["identity_url"], "microcosm", [])
        except tokens.TokenError as exc:
            raise ApiError(exc.status, exc.message, reason=exc.reason) from None
        return {"user": claims["sub"], "x_user_header": request.headers.get("X-User")}

    return app
