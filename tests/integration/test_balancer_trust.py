"""What the balancer passes on, and what it does not: identity headers only with the gateway's proof,
X-Forwarded-Proto/-Host only from a trusted proxy, and secrets in URLs never in its log."""
from pathlib import Path

import pytest
import requests

from identity_helpers import CHEAP_ARGON2, user_token
from microcosm import trust

ECHO = str(Path(__file__).parent / "services" / "echo_service.py")


@pytest.fixture
def echo(launch):
    """A service that answers with the headers it received."""
    return launch(ECHO, "trust-echo", traffic=False)


@pytest.fixture
def lb(launch, echo):
    """A balancer in front of the echo service."""
    return launch("balancer", "trust-lb", upstream="echo", backends=[echo.url])


def seen_by_backend(lb, **headers) -> dict:
    answer = requests.get(lb.url + "/echo", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return {k.lower(): v for k, v in answer.json()["headers"].items()}


def test_identity_headers_a_client_made_up_are_dropped(lb):
    forged = {"X-User": "admin", "X-Scopes": "catalog:write orders:read", "X-Client": "shop"}
    seen = seen_by_backend(lb, **forged)
    assert not {"x-user", "x-scopes", "x-client"} & set(seen)
    seen = seen_by_backend(lb, **forged, **{trust.PROOF_HEADER: "0" * 64})  # a proof that does not fit
    assert not {"x-user", "x-scopes", "x-client", trust.PROOF_HEADER.lower()} & set(seen)
    other = dict(forged, **{trust.PROOF_HEADER: trust.identity_proof("ada", "catalog:write orders:read", "shop")})
    seen = seen_by_backend(lb, **other)  # a real proof, but for another user
    assert "x-user" not in seen


def test_identity_headers_with_the_gateways_proof_pass(lb):
    proof = trust.identity_proof("ada", "carts:read", "")
    seen = seen_by_backend(lb, **{"X-User": "ada", "X-Scopes": "carts:read", trust.PROOF_HEADER: proof})
    assert seen["x-user"] == "ada" and seen["x-scopes"] == "carts:read"


def test_a_token_through_gateway_and_balancer_reaches_the_service_as_the_user(launch, lb, tmp_path):
    """The whole chain: the gateway verifies the token and names the user; the balancer behind it believes
    the gateway (its proof) and still drops what a client sends it directly."""
    identity = launch("identity", "trust-identity", data_dir=str(tmp_path / "identity"), argon2=CHEAP_ARGON2,
                      publish_delay=1.0, traffic=False)
    gateway = launch("gateway", "trust-gateway", identity_url=identity.url, upstreams={"echo": lb.url},
                     routes=[{"prefix": "/api/echo", "service": "echo", "path": "/echo", "methods": {"GET": []}}],
                     rate_limit=False, traffic=False)
    token = user_token(identity, "ada")
    answer = requests.get(gateway.url + "/api/echo", timeout=10,
                          headers={"Authorization": f"Bearer {token}", "X-User": "admin"})
    assert answer.status_code == 200, answer.text
    seen = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert seen["x-user"] == "ada" and trust.PROOF_HEADER.lower() in seen
    assert "x-user" not in seen_by_backend(lb, **{"X-User": "ada"})  # the same header, straight to the balancer


def test_forwarded_proto_and_host_are_the_balancers_own_unless_the_caller_is_trusted(launch, echo, lb):
    seen = seen_by_backend(lb, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bank.example"})
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{lb.port}"
    behind_proxy = launch("balancer", "trust-lb-2", upstream="echo", backends=[echo.url],
                          trusted_proxies=["127.0.0.1"])
    seen = seen_by_backend(behind_proxy, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"})
    assert seen["x-forwarded-proto"] == "https" and seen["x-forwarded-host"] == "shop.example"


def test_secrets_in_a_url_never_reach_the_balancers_log(echo, lb):
    requests.get(lb.url + "/echo?user=ada&password=hunter2-in-the-url&token=eyJ-secret-token", timeout=10)
    lb.stop()  # a stopped process has written all its log lines
    log = Path(lb.log_path).read_text(errors="replace")
    assert "/echo?user=ada&password=[redacted]&token=[redacted]" in log
    assert "hunter2" not in log and "eyJ-secret" not in log
    assert "hunter2" not in Path(echo.log_path).read_text(errors="replace")  # nor the service's behind it
