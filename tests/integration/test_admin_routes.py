"""Admin and fault-injection routes answer only the launch secret, and code is loaded from a .py file only.

Every admin route of every service (`/_chaos` everywhere, `/_balancer/*`, registry writes) is tried over HTTP
without the secret and with a wrong one: directly, through the balancer, and through the gateway. Then the
same routes with the secret that a notebook's `Service` handle sends by itself, so cells keep working.
"""
from pathlib import Path

import pytest
import requests

from microcosm import trust

ECHO = str(Path(__file__).parent / "services" / "echo_service.py")
CHAOS = [("GET", "/_chaos", None), ("PUT", "/_chaos", {"fail_rate": 1}), ("DELETE", "/_chaos", None)]
REGISTRY_WRITES = [
    ("POST", "/services/catalog/instances", {"id": "evil", "url": "http://127.0.0.1:9", "ttl": 300,
                                             "metadata": {"weight": 1000}}),
    ("PUT", "/services/catalog/instances/catalog/heartbeat", None),
    ("DELETE", "/services/catalog/instances/catalog", None),
]
BALANCER_ADMIN = [
    ("GET", "/_balancer/status", None), ("GET", "/_balancer/strategy", None), ("GET", "/_balancer/backends", None),
    ("PUT", "/_balancer/strategy", {"strategy": "round_robin"}),
    ("PUT", "/_balancer/backends", {"backends": ["http://127.0.0.1:9"]}),
]


@pytest.fixture(scope="module")
def system(launch_for_module):
    """catalog (registered), carts, legacy stock, a registry, a balancer in front of catalog, and a gateway."""
    launch = launch_for_module
    registry = launch("registry", "admin-registry")
    catalog = launch("catalog", "catalog", registry_url=registry.url)
    found = {}
    found["registry"], found["catalog"] = registry, catalog
    found["carts"] = launch("carts", "admin-carts")
    found["stock"] = launch("legacy_stock", "admin-stock")
    found["echo"] = launch(ECHO, "admin-echo", traffic=False)
    found["balancer"] = launch("balancer", "admin-balancer", upstream="catalog", backends=[catalog.url])
    found["echo_balancer"] = launch("balancer", "admin-echo-balancer", upstream="echo", backends=[found["echo"].url])
    found["gateway"] = launch("gateway", "admin-gateway", upstreams={"catalog": found["balancer"].url,
                                                                      "carts": found["carts"].url},
                              rate_limit=False)
    return found


def plain(method, url, body, **headers):
    """A request from anyone on the machine: plain requests, no launch secret unless given."""
    return requests.request(method, url, json=body, headers=headers, timeout=10)


def assert_refused(answer, status=401):
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["status"] == status and body["reason"] == "admin_only"
    assert trust.ADMIN_HEADER in body["message"] or "launch secret" in body["message"]


def direct_routes():
    for service in ("catalog", "carts", "stock", "registry", "balancer_backend", "gateway"):
        for method, path, body in CHAOS:
            yield service, method, path, body
    for method, path, body in REGISTRY_WRITES:
        yield "registry", method, path, body
    for method, path, body in BALANCER_ADMIN:
        yield "balancer", method, path, body
    yield "gateway", "GET", "/_gateway", None  # its routing table and the upstreams' addresses


@pytest.mark.parametrize("service, method, path, body", list(direct_routes()))
def test_every_admin_route_refuses_a_caller_without_the_secret(system, service, method, path, body):
    target = system["catalog"] if service == "balancer_backend" else system[service]
    assert_refused(plain(method, target.url + path, body))
    assert_refused(plain(method, target.url + path, body, **{trust.ADMIN_HEADER: "guess"}), 403)
    assert_refused(plain(method, target.url + path, body, **{trust.ADMIN_HEADER: ""}))


def test_nothing_a_refused_caller_sent_took_effect(system):
    catalog, registry, lb = system["catalog"], system["registry"], system["balancer"]
    for method, path, body in CHAOS + REGISTRY_WRITES:
        plain(method, registry.url + path, body)
        plain(method, catalog.url + path, body)
    for method, path, body in BALANCER_ADMIN:
        plain(method, lb.url + path, body)
    assert catalog.get("/_chaos").json()["fail_rate"] == 0
    instances = registry.get("/services/catalog").json()["instances"]
    assert [i["id"] for i in instances] == ["catalog"]  # not deregistered, no "evil" added
    assert [b["url"] for b in lb.get("/_balancer/backends").json()["backends"]] == [catalog.url]
    assert lb.get("/products").status_code == 200


@pytest.mark.parametrize("method, path, body", CHAOS)
def test_a_backends_chaos_route_through_the_balancer_needs_the_secret(system, method, path, body):
    assert_refused(plain(method, system["balancer"].url + path, body))
    assert system["catalog"].get("/_chaos").json()["fail_rate"] == 0


@pytest.mark.parametrize("raw_path", [
    "/_balancer/status", "/_gateway/../_chaos", "/api/products/%5fchaos", "/api/products/%5F%63haos", "/api/../_chaos", "/api/products/../../_chaos",
    "/api/products/%2e%2e/%2e%2e/_chaos", "/api/products/%2e%2e/_balancer/strategy", "/api/products/..%2f_chaos",
    "/api/carts/x/%2e%2e/%2e%2e/_chaos",
])
def test_no_admin_route_is_reachable_through_the_gateway(system, raw_path):
    """Even with the launch secret: the gateway never forwards X-Admin-Secret, and no public path leads to
    a service's admin route."""
    import http.client

    gateway = system["gateway"]
    for method, body in (("GET", None), ("PUT", b'{"fail_rate": 1}')):
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        conn.request(method, raw_path, body=body, headers={trust.ADMIN_HEADER: trust.launch_secret(),
                                                           "Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        conn.close()
        assert answer.status in (400, 401, 403, 404, 405), (raw_path, answer.status)
    for name in ("catalog", "carts"):
        assert system[name].get("/_chaos").json()["fail_rate"] == 0
    assert system["balancer"].get("/_balancer/strategy").json()["strategy"] == "round_robin"


def test_the_gateway_and_the_balancer_pass_no_secret_on(system, launch):
    """What a service behind sees of a caller's X-Admin-Secret: nothing via the gateway."""
    gateway = system["gateway"]
    answer = requests.get(gateway.url + "/api/products", headers={trust.ADMIN_HEADER: trust.launch_secret()},
                          timeout=10)
    assert answer.status_code == 200  # (what catalog saw is checked with the echo service below)
    echo_gateway = launch("gateway", "admin-echo-gateway", upstreams={"echo": system["echo"].url},
                          routes=[{"prefix": "/api/echo", "service": "echo", "path": "/echo", "methods": {"GET": None}}],
                          rate_limit=False)
    seen = requests.get(echo_gateway.url + "/api/echo", timeout=10,
                        headers={trust.ADMIN_HEADER: trust.launch_secret()}).json()["headers"]
    assert trust.ADMIN_HEADER not in seen


@pytest.mark.parametrize("service, method, path, body", [
    ("catalog", "PUT", "/_chaos", {"delay_ms": 0}), ("catalog", "DELETE", "/_chaos", None),
    ("balancer", "GET", "/_balancer/status", None), ("balancer", "PUT", "/_balancer/strategy", {"strategy": "round_robin"}),
    ("registry", "PUT", "/services/catalog/instances/catalog/heartbeat", None),
])
def test_the_notebooks_handles_carry_the_secret(system, service, method, path, body):
    assert system[service].request(method, path, json=body).status_code == 200


# --- code is loaded from a .py file only --------------------------------------------------------------------------
@pytest.mark.parametrize("strategy, options", [
    ("subprocess:Popen", {"args": ["touch", "PWNED"]}),
    ("os:system", {}),
    ("builtins:eval", {}),
    ("microcosm.services.balancer:RoundRobin", {}),
    ("/etc/passwd:root", {}),
    ("strategy.txt:Pick", {}),
    ("mine.py:__import__('os')", {}),
])
def test_the_balancer_loads_no_code_but_a_py_file_even_with_the_secret(system, tmp_path, strategy, options):
    lb = system["balancer"]
    strategy = strategy.replace("PWNED", str(tmp_path / "pwned"))
    options = {k: [a.replace("PWNED", str(tmp_path / "pwned")) for a in v] if isinstance(v, list) else v
               for k, v in options.items()}
    answer = lb.put("/_balancer/strategy", json={"strategy": strategy, "options": options})
    assert answer.status_code == 400 and answer.json()["field"] in ("strategy", "options")
    assert not (tmp_path / "pwned").exists()
    assert lb.get("/_balancer/strategy").json()["strategy"] == "round_robin"


def test_a_py_file_strategy_loads_for_the_secret_holder(system, tmp_path):
    mine = tmp_path / "first_one.py"
    mine.write_text("def pick(backends, request):\n    return backends[0]\n")
    lb = system["balancer"]
    assert lb.put("/_balancer/strategy", json={"strategy": f"{mine}:pick"}).status_code == 200
    assert lb.get("/products").status_code == 200
    assert lb.put("/_balancer/strategy", json={"strategy": "round_robin"}).status_code == 200


@pytest.mark.parametrize("options, words", [
    ({"replicas": 10**9}, "replicas"),
    ({"replicas": -1}, "replicas"),
    ({"key": "header:" + "x" * 5000}, "at most 200 characters"),
    ({"key": "header:" + "x" * 150}, "short string"),
    ({f"o{i}": 1 for i in range(40)}, "at most 16"),
    ({"key": {"nested": ["deep"]}}, "must be a number"),
])
def test_strategy_options_are_validated_and_bounded(system, options, words):
    answer = system["balancer"].put("/_balancer/strategy", json={"strategy": "consistent_hash", "options": options})
    assert answer.status_code == 400 and words in answer.json()["message"]
    assert system["balancer"].get("/health").status_code == 200
