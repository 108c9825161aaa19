"""The alternative to identity headers: a route that forwards the token, and a service that verifies it itself,
so a forged X-User means nothing to it, whether it comes through the gateway or straight to its port."""
from pathlib import Path

import requests

from identity_helpers import CHEAP_ARGON2, user_token

VERIFYING = str(Path(__file__).parent / "services" / "verifying_whoami.py")


def test_a_service_that_verifies_the_forwarded_token_ignores_forged_headers(launch, tmp_path):
    identity = launch("identity", "fwd-identity", data_dir=str(tmp_path / "identity"), argon2=CHEAP_ARGON2,
                      traffic=False)
    service = launch(VERIFYING, "fwd-whoami", identity_url=identity.url, traffic=False)
    routes = [{"prefix": "/api/me", "service": "me", "path": "/whoami", "methods": {"GET": []}, "forward_token": True},
              {"prefix": "/api/me-headers", "service": "me", "path": "/whoami", "methods": {"GET": []}}]
    gateway = launch("gateway", "fwd-gateway", identity_url=identity.url, upstreams={"me": service.url},
                     routes=routes, rate_limit=False, traffic=False)
    token = user_token(identity, "ada")
    ada = {"Authorization": f"Bearer {token}"}

    through = requests.get(gateway.url + "/api/me", headers={**ada, "X-User": "admin"}, timeout=10)
    assert through.status_code == 200 and through.json()["user"] == "ada"
    assert through.json()["x_user_header"] == "ada"  # the gateway's, not the client's "admin"
    without = requests.get(gateway.url + "/api/me-headers", headers=ada, timeout=10)
    assert without.status_code == 401 and without.json()["reason"] == "missing_token"  # token not forwarded
    forged = requests.get(service.url + "/whoami", headers={"X-User": "admin"}, timeout=10)
    assert forged.status_code == 401  # straight to its port: no token, no identity
    direct = requests.get(service.url + "/whoami", headers=ada, timeout=10)
    assert direct.status_code == 200 and direct.json()["user"] == "ada"
