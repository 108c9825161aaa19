"""What the integration tests of the gateway and the balancer ask of a real identity provider: a cheap one to
start, a user's token, and the provider's own private key (to forge tokens that are rightly signed)."""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization

ADMIN = "admin-secret-for-gateway-tests-0123456789"
PASSWORD = "correct horse battery"
CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}  # logins in seconds are not what is tested


def user_token(identity, username="ada", **params) -> str:
    """A new user's access token, from the provider's password grant."""
    identity.post("/users", json={"username": username, "password": PASSWORD})
    answer = identity.post("/token", data={"grant_type": "password", "username": username,
                                           "password": PASSWORD, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def provider_key(identity, kid: str):
    """The provider's private key `kid`, read from its data folder."""
    pem = (Path(identity.config["data_dir"]) / "keys" / f"{kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def b64(data: bytes) -> str:
    """base64url without padding, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
