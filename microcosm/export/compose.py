"""The plan as a Docker Compose file: one service per component, `deploy.replicas` its instances, a health check
on /health, `depends_on` what it needs (started once that is healthy: up()'s order), named volumes for Redis and
for each service that keeps data.

    docker build -t microcosm:0.1.0 -f export/Dockerfile .  &&  docker compose -f export/compose.yaml up

A component finds another by its service name on the Compose network (Docker's DNS: catalog-lb ->
http://catalog-lb:8000, see plan.py). The launch secret is read from launch-secret.env, beside this file and
never in it. ZooKeeper is one server here (the Kubernetes manifests run the three-server ensemble).
"""
from __future__ import annotations

import json

from . import footprint
from .plan import (DATA, IMAGE, REDIS_IMAGE, ZOOKEEPER_IMAGE, ZOOKEEPER_PORT, Unit, dns, plan, public_names,
                   zookeeper_name)

SECRET_FILE = "launch-secret.env"
FIRST_PUBLISHED = 8080  # the public components on localhost:8080, 8081, ...
HEALTHCHECK = {"interval": "2s", "timeout": "3s", "retries": 15, "start_period": "5s"}


def zookeeper_hosts(name: str = "zookeeper") -> str:
    return f"{name}:{ZOOKEEPER_PORT}"


def published_ports(topology) -> dict[str, int]:
    """component (its DNS name) -> the first port on the host that reaches it (one per replica from there)."""
    ports, port = {}, FIRST_PUBLISHED
    for name in public_names(topology):
        ports[dns(name)], port = port, port + topology[name].count
    return ports


def units(topology) -> tuple[list[Unit], dict[str, int]]:
    """The plan for Compose, and the host ports of what a browser reaches (link(...) is http://localhost:PORT)."""
    published = published_ports(topology)
    links = {name: f"http://localhost:{published[dns(name)]}" for name in public_names(topology)}
    return plan(topology, links, zookeeper_hosts(zookeeper_name(topology))), published


def compose(units: list[Unit], published: dict[str, int]) -> dict:
    services, volumes = {}, {}
    for unit in units:
        if unit.service == "redis":
            service = _redis(unit)
        elif unit.service == "zookeeper":
            service = _zookeeper(unit)
        else:
            service = _service(unit)
        if unit.keeps_data or unit.service == "zookeeper":
            volumes[f"{unit.name}-data"] = {}
            service["volumes"] = [f"{unit.name}-data:{DATA}"]
        if unit.needs:
            service["depends_on"] = {n: {"condition": "service_healthy"} for n in unit.needs}
        if unit.name in published:
            first = published[unit.name]
            host = str(first) if unit.replicas == 1 else f"{first}-{first + unit.replicas - 1}"
            service["ports"] = [f"{host}:{unit.port}"]
        services[unit.name] = service
    return {"name": "microcosm", "services": services, **({"volumes": volumes} if volumes else {})}


def _deploy(unit: Unit, footprint_of: str) -> dict:
    return {"replicas": unit.replicas, "resources": footprint.compose_resources(footprint_of)}


def _service(unit: Unit) -> dict:
    # Compose replaces $VAR in the file with the host's environment: a $ in the configuration is written $$
    config = json.dumps(unit.config, sort_keys=True).replace("$", "$$")
    check = (f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{unit.port}/health', timeout=2)")
    return {"image": IMAGE,
            "command": ["python", "-m", "microcosm.serve", unit.service, *_name(unit), "--config", config],
            "environment": {"MICROCOSM_HOST": "0.0.0.0", "MICROCOSM_PORT": str(unit.port)},
            "env_file": [SECRET_FILE],
            "healthcheck": {"test": ["CMD", "python", "-c", check], **HEALTHCHECK},
            "deploy": _deploy(unit, unit.service), "restart": "unless-stopped"}


def _name(unit: Unit) -> list[str]:
    """One instance: its component's name. Replicas share this command line: without --name each is named after
    its service and its container (catalog-3f2a1b9c0d4e, see microcosm.serve.instance_name)."""
    return ["--name", unit.name] if unit.replicas == 1 else []


def _redis(unit: Unit) -> dict:
    return {"image": REDIS_IMAGE, "command": ["redis-server", "--appendonly", "yes", "--dir", DATA],
            "healthcheck": {"test": ["CMD", "redis-cli", "ping"], **HEALTHCHECK},
            "deploy": _deploy(unit, "redis"), "restart": "unless-stopped"}


def _zookeeper(unit: Unit) -> dict:
    return {"image": ZOOKEEPER_IMAGE,
            "environment": {"ZOO_MY_ID": "1", "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr,envi",
                            "ZOO_ADMINSERVER_ENABLED": "false", "JVMFLAGS": "-Xmx64m -XX:+UseSerialGC"},
            "healthcheck": {"test": ["CMD", "zkServer.sh", "status"], **HEALTHCHECK},
            "deploy": _deploy(unit, "zookeeper"), "restart": "unless-stopped"}
