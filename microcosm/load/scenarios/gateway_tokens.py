"""gateway_tokens: callers with access tokens through the gateway, renewing them as they go.

Each user gets a token from the identity provider and asks for a new one every MICROCOSM_TOKEN_RENEW
seconds (default 1), so while keys rotate, tokens signed by the newest key keep arriving at the gateway.
Requests are named by the key that signed their token ("GET /api/orders [key 1a2b3c4d]"): the results
show which keys the gateway met. Set by `microcosm.load(..., env={...})`:

    MICROCOSM_IDENTITY_URL   the provider (required)
    MICROCOSM_CLIENT_ID, MICROCOSM_CLIENT_SECRET   a client-credentials client (or MICROCOSM_USERNAME/PASSWORD)
    MICROCOSM_LOAD_PATH      the route to call (default /api/orders)
"""
import base64
import json
import os
import time

from locust import FastHttpUser, between, task

IDENTITY = os.environ.get("MICROCOSM_IDENTITY_URL", "").rstrip("/")
RENEW = float(os.environ.get("MICROCOSM_TOKEN_RENEW", "1"))
PATH = os.environ.get("MICROCOSM_LOAD_PATH", "/api/orders")


def key_id(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"][:8]


class TokenHolder(FastHttpUser):
    wait_time = between(0.02, 0.1)

    def on_start(self):
        self.token, self.got_at = None, 0.0
        self.renew()

    def renew(self):
        if os.environ.get("MICROCOSM_USERNAME"):
            form = {"grant_type": "password", "username": os.environ["MICROCOSM_USERNAME"],
                    "password": os.environ["MICROCOSM_PASSWORD"]}
        else:
            form = {"grant_type": "client_credentials", "client_id": os.environ["MICROCOSM_CLIENT_ID"],
                    "client_secret": os.environ["MICROCOSM_CLIENT_SECRET"]}
        with self.client.post(f"{IDENTITY}/token", data=form, name="POST identity /token", catch_response=True) as r:
            if r.status_code == 200:
                self.token, self.got_at = r.json()["access_token"], time.monotonic()
            else:
                r.failure(f"token endpoint answered {r.status_code}")

    @task
    def call_with_token(self):
        if self.token is None or time.monotonic() - self.got_at > RENEW:
            self.renew()
        if self.token is None:
            return
        self.client.get(PATH, headers={"Authorization": f"Bearer {self.token}"},
                        name=f"GET {PATH} [key {key_id(self.token)}]")
