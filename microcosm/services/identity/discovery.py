"""What the provider publishes about itself, to anybody: its discovery document, its keys, their timeline.

- `GET /.well-known/openid-configuration` (OpenID Connect Discovery): where the endpoints are, which grants
  and algorithms it supports. A client or verifier needs only the provider's address to find the rest.
- `GET /.well-known/jwks.json`: the public keys (a JWK Set), each with its kid. Verifiers may cache it for
  `publish_delay` seconds, since a new key is published at least that long before it signs (keys.py).
- `GET /keys`: the keys' timeline (public facts only): published, signing, retiring.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Blueprint, jsonify

from .grants import GRANTS

if TYPE_CHECKING:
    from .app import Provider


def routes(idp: Provider) -> Blueprint:
    bp = Blueprint("identity_discovery", __name__)

    @bp.get("/.well-known/jwks.json")
    def jwks():
        response = jsonify(idp.keys.jwks())
        # verifiers may cache it this long; a new key is published at least this long before it signs
        response.headers["Cache-Control"] = f"public, max-age={max(0, int(idp.publish_delay))}"
        return response

    @bp.get("/.well-known/openid-configuration")
    def discovery():
        url = idp.public_url
        return {
            "issuer": idp.issuer,
            "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/.well-known/jwks.json",
            "revocation_endpoint": f"{url}/revoke",
            "userinfo_endpoint": f"{url}/userinfo",
            "registration_endpoint": f"{url}/users",
            "grant_types_supported": list(GRANTS),
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": sorted(set(idp.user_scope.split())),
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id"],
            "access_token_lifetime": idp.access_ttl,
        }

    @bp.get("/keys")
    def key_timeline():
        """The keys' timeline (public facts only): published, signing, retiring."""
        idp.keys.prune()
        return {"keys": idp.keys.timeline(), "now": time.time(), "publish_delay": idp.publish_delay,
                "access_ttl": idp.access_ttl}

    return bp
