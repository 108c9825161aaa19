"""microcosm.export's Kubernetes manifests: valid against the Kubernetes API's schemas (offline, strict), and the
move's promises kept: DNS names, probes, measured requests, autoscalers only where replicas share nothing,
ZooKeeper an ensemble, Redis on a volume, the secret only in a Secret."""
from __future__ import annotations

import json
import re

import pytest
import yaml
from export_schemas import no_network  # noqa: F401 - a fixture
from export_schemas import KUBERNETES_RELEASES, export_to, kubernetes_errors

from microcosm.export import footprint
from microcosm.system import SYSTEM, Component, Topology, url, urls

SMALL = Topology(Component("redis"), Component("catalog", count=3),
                 Component("catalog-lb", "balancer", upstream="catalog", backends=urls("catalog")),
                 Component("gateway", upstreams={"catalog": url("catalog-lb")}, rate_limit=False))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return export_to(tmp_path_factory.mktemp("whole"), SYSTEM, formats=["kubernetes"], secret="s3cret-launch-value")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return export_to(tmp_path_factory.mktemp("small"), SMALL, formats=["kubernetes"])


@pytest.mark.parametrize("release", KUBERNETES_RELEASES)
@pytest.mark.parametrize("which", ["whole", "small"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas_offline(which, release, request, no_network):
    exported = request.getfixturevalue(which)
    resources = exported.kubernetes()
    assert len(resources) > 5
    errors = [e for r in resources for e in kubernetes_errors(r, release)]
    assert errors == []


def test_the_schema_check_can_fail(whole, no_network):
    """The same check refuses a Deployment with a wrong type, and a field the API does not know (strict)."""
    deployment = whole.kind("Deployment")["gateway"]
    wrong = json.loads(json.dumps(deployment))
    wrong["spec"]["replicas"] = "two"
    assert kubernetes_errors(wrong)
    unknown = json.loads(json.dumps(deployment))
    unknown["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    assert kubernetes_errors(unknown)


def test_each_component_is_a_deployment_with_its_count_and_a_service(whole):
    deployments, services = whole.kind("Deployment"), whole.kind("Service")
    for c in SYSTEM:
        if c.service == "zookeeper":
            continue
        assert deployments[c.name]["spec"]["replicas"] == c.count, c.name
        assert services[c.name]["spec"]["selector"] == deployments[c.name]["spec"]["selector"]["matchLabels"]
    assert set(deployments) == {c.name for c in SYSTEM} - {"zookeeper"}


def test_every_deployment_has_health_probes_and_measured_requests_and_limits(whole, small):
    for exported in (whole, small):
        for name, deployment in exported.kind("Deployment").items():
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name} has no {probe}"
                if name != "redis":
                    assert container[probe]["httpGet"]["path"] == "/health"
            service = "balancer" if name == "catalog-lb" else name
            assert container["resources"] == footprint.resources(service), name
            requested = int(container["resources"]["requests"]["memory"].removesuffix("Mi"))
            assert requested * 2**20 >= footprint.RSS_MB[service] * 1e6  # at least what it was measured to use


def test_every_probe_checks_a_port_its_container_declares(whole):
    workloads = list(whole.kind("Deployment").values()) + list(whole.kind("StatefulSet").values())
    checked = {}
    for workload in workloads:
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        ports = {p["name"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            how = container[probe]
            port = (how.get("httpGet") or how.get("tcpSocket") or {}).get("port")
            assert port in ports or "exec" in how, f"{workload['metadata']['name']}: {probe} checks {how}"
            checked[workload["metadata"]["name"]] = next(iter(set(how) & {"httpGet", "tcpSocket", "exec"}))
    assert checked["zookeeper"] == "tcpSocket" and checked["redis"] == "exec" and checked["orders"] == "httpGet"


def test_only_stateless_services_get_an_autoscaler(whole):
    autoscalers = whole.kind("HorizontalPodAutoscaler")
    assert set(autoscalers) == {"catalog-lb", "carts", "web", "cdn", "gateway"}  # their data is in Redis, or none
    for name, hpa in autoscalers.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] == SYSTEM[name].count < hpa["spec"]["maxReplicas"]
    for keeps_data in ("catalog", "orders", "identity", "inventory", "notifications", "registry", "redis"):
        assert keeps_data not in autoscalers


def test_services_that_keep_data_have_a_volume_claim(whole):
    claims = whole.kind("PersistentVolumeClaim")
    assert set(claims) == {f"{n}-data" for n in ("redis", "catalog", "orders", "identity", "inventory",
                                                  "notifications")}
    assert claims["catalog-data"]["spec"]["accessModes"] == ["ReadWriteMany"]  # two replicas share it
    assert claims["orders-data"]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_redis_keeps_its_data_on_a_volume(whole):
    redis = whole.kind("Deployment")["redis"]["spec"]
    (container,) = redis["template"]["spec"]["containers"]
    assert container["args"][:3] == ["redis-server", "--appendonly", "yes"]
    assert redis["template"]["spec"]["volumes"] == [{"name": "data",
                                                     "persistentVolumeClaim": {"claimName": "redis-data"}}]
    assert redis["strategy"] == {"type": "Recreate"}  # one pod at a time on its ReadWriteOnce volume


def test_zookeeper_is_a_three_server_statefulset_behind_a_headless_service(whole):
    (zookeeper,) = whole.kind("StatefulSet").values()
    assert zookeeper["spec"]["replicas"] == 3 and zookeeper["spec"]["serviceName"] == "zookeeper"
    assert zookeeper["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"  # a volume per server
    service = whole.kind("Service")["zookeeper"]["spec"]
    assert service["clusterIP"] == "None" and service["publishNotReadyAddresses"] is True
    env = {e["name"]: e["value"] for e in zookeeper["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ZOO_SERVERS"].split() == [f"server.{i + 1}=zookeeper-{i}.zookeeper:2888:3888;2181" for i in range(3)]


def test_references_become_dns_names(whole, small):
    orders = whole.config("orders")
    assert orders["catalog_url"] == "http://catalog-lb:8000" and orders["events"] == "redis://redis:6379/0"
    assert whole.config("catalog-lb")["backends"] == ["http://catalog:8000"]  # the Service spreads over replicas
    gateway = whole.config("gateway")
    assert gateway["upstreams"] == {"identity": "http://identity:8000", "catalog": "http://catalog-lb:8000",
                                    "orders": "http://orders:8000", "carts": "http://carts:8000"}
    assert gateway["identity_url"] == whole.config("identity")["url"] == "http://identity:8000"  # the issuer
    assert whole.config("carts")["registry_url"] == "http://registry:8000"
    assert whole.config("web")["gateway_url"] == "http://gateway.microcosm.localhost"  # then= given at start
    assert "http://cdn.microcosm.localhost" in gateway["cors_origins"]  # the origin a browser sends
    assert small.config("gateway")["upstreams"] == {"catalog": "http://catalog-lb:8000"}
    for exported in (whole, small):
        text = "".join(p.read_text() for p in exported.written["kubernetes"])
        assert "127.0.0.1" not in text and "localhost:" not in text


def test_zookeeper_clients_are_given_the_whole_ensemble(tmp_path):
    topology = Topology(Component("redis"), Component("zookeeper"), Component("flash_sale"))
    exported = export_to(tmp_path, topology, formats="kubernetes")
    assert exported.config("flash-sale")["zk"] == "zookeeper-0.zookeeper:2181,zookeeper-1.zookeeper:2181," \
                                                   "zookeeper-2.zookeeper:2181"


def test_the_launch_secret_is_in_a_secret_and_never_in_a_configmap(whole):
    (secret,) = whole.kind("Secret").values()
    assert secret["stringData"] == {"admin-secret": "s3cret-launch-value"}
    for name, config_map in whole.kind("ConfigMap").items():
        assert "s3cret-launch-value" not in yaml.safe_dump(config_map), name
    for deployment in whole.kind("Deployment").values():
        env = deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
        for variable in env:
            assert "s3cret-launch-value" not in str(variable.get("value", ""))
    (secret_file,) = [p for p in whole.written["kubernetes"] if p.name == "_launch-secret.yaml"]
    assert secret_file.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_a_service_runs_from_the_image_with_its_configmap_and_the_secret(whole):
    (container,) = whole.kind("Deployment")["orders"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "microcosm.serve"]
    assert container["args"] == ["orders", "--name", "$(POD_NAME)", "--config", "$(MICROCOSM_CONFIG)"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MICROCOSM_CONFIG"]["valueFrom"]["configMapKeyRef"] == {"name": "orders-config", "key": "config.json"}
    assert env["MICROCOSM_ADMIN_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "microcosm-launch-secret"
    assert env["MICROCOSM_HOST"]["value"] == "0.0.0.0" and env["MICROCOSM_PORT"]["value"] == "8000"


def test_the_ingress_reaches_the_gateway_and_the_cdn_not_the_origin_behind_it(whole, small):
    (ingress,) = whole.kind("Ingress").values()
    routes = {r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["spec"]["rules"]}
    assert routes == {"gateway.microcosm.localhost": "gateway", "cdn.microcosm.localhost": "cdn"}
    (ingress,) = small.kind("Ingress").values()
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["gateway.microcosm.localhost"]


def test_names_with_underscores_become_dns_labels_everywhere(tmp_path, no_network):
    """Kubernetes names (and DNS labels) have no '_': legacy_stock is legacy-stock, as a name and as an address."""
    topology = Topology(Component("redis"), Component("legacy_stock"), Component("my_gateway", "gateway",
                        upstreams={"stock": url("legacy_stock")}, rate_limit=False))
    exported = export_to(tmp_path, topology, formats=["kubernetes"])
    label = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    for resource in exported.kubernetes():
        assert label.match(resource["metadata"]["name"]), resource["metadata"]["name"]
        assert kubernetes_errors(resource) == []
    assert exported.config("my-gateway")["upstreams"] == {"stock": "http://legacy-stock:8000"}
    (ingress,) = exported.kind("Ingress").values()
    assert ingress["spec"]["rules"][0]["host"] == "my-gateway.microcosm.localhost"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "my-gateway"
