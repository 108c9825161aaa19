"""microcosm.export's Compose file: valid against the compose-spec schema (offline), a service per component with
its replicas, health checks, start order and volumes, references as DNS names, and the secret beside the file."""
from __future__ import annotations

import copy

import pytest
from export_schemas import compose_errors, export_to, no_network  # noqa: F401 - no_network is a fixture

from microcosm.export import footprint
from microcosm.system import SYSTEM, Component, Topology, url, urls

SMALL = Topology(Component("redis"), Component("catalog", count=2),
                 Component("catalog-lb", "balancer", upstream="catalog", backends=urls("catalog")),
                 Component("orders", catalog_url=url("catalog-lb")),
                 Component("gateway", upstreams={"catalog": url("catalog-lb"), "orders": url("orders")}))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return export_to(tmp_path_factory.mktemp("whole"), SYSTEM, formats=["compose"], secret="s3cret-launch-value")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return export_to(tmp_path_factory.mktemp("small"), SMALL, formats=("compose",))


@pytest.mark.parametrize("which", ["whole", "small"])
def test_the_compose_file_is_valid_against_the_compose_spec_schema_offline(which, request, no_network):
    assert compose_errors(request.getfixturevalue(which).compose) == []


def test_the_schema_check_can_fail(whole, no_network):
    broken = copy.deepcopy(whole.compose)
    broken["services"]["gateway"]["deploy"]["replicas"] = [2]  # a count (or a ${VARIABLE} string), not a list
    assert compose_errors(broken)
    broken = copy.deepcopy(whole.compose)
    broken["services"]["gateway"]["healtcheck"] = broken["services"]["gateway"].pop("healthcheck")  # a typo
    assert compose_errors(broken)
    broken = copy.deepcopy(whole.compose)
    broken["services"]["gateway"]["depends_on"]["redis"]["condition"] = "service_ready"  # not a condition
    assert compose_errors(broken)


def test_a_service_per_component_with_its_count_as_replicas(whole):
    services = whole.compose["services"]
    assert list(services) == [c.name for c in SYSTEM.order()]
    for c in SYSTEM:
        assert services[c.name]["deploy"]["replicas"] == c.count, c.name
    assert services["catalog"]["deploy"]["resources"] == footprint.compose_resources("catalog")


def test_every_service_has_a_health_check_and_starts_after_what_it_needs_is_healthy(whole):
    services = whole.compose["services"]
    for c in SYSTEM:
        service = services[c.name]
        assert service["healthcheck"]["test"][0] == "CMD", c.name
        if not c.infrastructure:
            assert "http://127.0.0.1:8000/health" in service["healthcheck"]["test"][-1]
        needs = SYSTEM.needs(c.name)
        assert service.get("depends_on", {}) == {n: {"condition": "service_healthy"} for n in needs}, c.name
    assert set(services["orders"]["depends_on"]) == {"redis", "registry", "catalog-lb"}


def test_redis_and_the_services_that_keep_data_have_named_volumes(whole):
    compose = whole.compose
    assert compose["services"]["redis"]["volumes"] == ["redis-data:/data"]
    assert compose["services"]["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert compose["services"]["catalog"]["volumes"] == ["catalog-data:/data"]
    assert "volumes" not in compose["services"]["gateway"]
    assert set(compose["volumes"]) >= {"redis-data", "catalog-data", "orders-data", "identity-data",
                                        "zookeeper-data"}


def test_references_become_service_names_on_the_compose_network(whole, small):
    command = whole.compose["services"]["orders"]["command"]
    assert command[:6] == ["python", "-m", "microcosm.serve", "orders", "--name", "orders"]
    catalog = whole.compose["services"]["catalog"]["command"]  # two replicas: each named after its container
    assert catalog[:5] == ["python", "-m", "microcosm.serve", "catalog", "--config"]
    assert '"catalog_url": "http://catalog-lb:8000"' in command[-1]
    assert '"backends": ["http://catalog:8000"]' in small.compose["services"]["catalog-lb"]["command"][-1]
    assert '"zk"' not in command[-1]
    assert '"gateway_url": "http://localhost:8081"' in whole.compose["services"]["web"]["command"][-1]
    assert "127.0.0.1:" not in str({k: v["command"] for k, v in whole.compose["services"].items()
                                    if "command" in v})


def test_what_a_browser_reaches_is_published_on_localhost(whole):
    services = whole.compose["services"]
    assert services["cdn"]["ports"] == ["8080:8000"] and services["gateway"]["ports"] == ["8081:8000"]
    assert [name for name, s in services.items() if "ports" in s] == ["cdn", "gateway"]


def test_the_launch_secret_is_beside_the_compose_file_never_in_it(whole):
    assert "s3cret-launch-value" not in (whole.folder / "compose.yaml").read_text()
    secret_file = whole.folder / "launch-secret.env"
    assert secret_file.read_text() == "MICROCOSM_ADMIN_SECRET=s3cret-launch-value\n"
    assert secret_file.stat().st_mode & 0o077 == 0
    for name, service in whole.compose["services"].items():
        if not SYSTEM[name].infrastructure:
            assert service["env_file"] == ["launch-secret.env"], name


def test_a_dollar_in_a_launch_option_is_escaped_from_compose_interpolation(tmp_path):
    exported = export_to(tmp_path, Topology(Component("catalog", currency="$US")), formats=["compose"])
    assert '"currency": "$$US"' in exported.compose["services"]["catalog"]["command"][-1]


def test_names_with_underscores_are_dns_labels_in_compose_too(tmp_path, no_network):
    topology = Topology(Component("redis"), Component("legacy_stock"), Component("my_gateway", "gateway",
                        upstreams={"stock": url("legacy_stock")}, rate_limit=False))
    compose = export_to(tmp_path, topology, formats=["compose"]).compose
    assert compose_errors(compose) == []
    assert list(compose["services"]) == ["redis", "legacy-stock", "my-gateway"]
    assert set(compose["services"]["my-gateway"]["depends_on"]) == {"redis", "legacy-stock"}
    assert compose["services"]["my-gateway"]["ports"] == ["8080:8000"]
    assert '"stock": "http://legacy-stock:8000"' in compose["services"]["my-gateway"]["command"][-1]
