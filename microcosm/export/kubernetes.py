"""The plan as Kubernetes manifests: for each component a Deployment and a Service (ZooKeeper a StatefulSet with a
headless Service), its launch options in a ConfigMap, the launch secret in a Secret, an Ingress to what a browser
reaches, and a HorizontalPodAutoscaler for each stateless service.

    kubectl apply -f export/kubernetes/        (after docker build -t microcosm:0.1.0 -f export/Dockerfile .)

What changes in the move: a component finds another by its Service's DNS name (catalog-lb -> http://catalog-lb:8000,
see plan.py); ZooKeeper is a three-server ensemble, each server a pod with a stable name (zookeeper-0.zookeeper)
and its own volume; Redis keeps its data on a volume (append-only file), so a restarted pod finds it; nothing
starts "in order": a pod that cannot yet reach what it needs fails its readiness probe, or restarts, until it can.
"""
from __future__ import annotations

import json

from . import footprint
from .plan import (DATA, IMAGE, REDIS_IMAGE, ZOOKEEPER_IMAGE, ZOOKEEPER_PORT, Unit, dns, plan, public_names,
                   zookeeper_name)

SECRET_NAME, SECRET_KEY = "microcosm-launch-secret", "admin-secret"
SECRET_FILE = "_launch-secret.yaml"  # '_': no component's file can be called so, and it is applied first
ENSEMBLE = 3  # ZooKeeper servers: a majority (2) survives one lost server
PART_OF = {"app.kubernetes.io/part-of": "microcosm"}


def zookeeper_hosts(name: str = "zookeeper") -> str:
    """The ensemble's connect string: each server by its stable DNS name under the headless Service."""
    return ",".join(f"{name}-{i}.{name}:{ZOOKEEPER_PORT}" for i in range(ENSEMBLE))


def units(topology, domain: str) -> tuple[list[Unit], dict[str, str]]:
    """The plan for a cluster, and the Ingress's host per public component (link(...) is http://HOST)."""
    hosts = {dns(name): f"{dns(name)}.{domain}" for name in public_names(topology)}  # Service -> host name
    links = {name: f"http://{hosts[dns(name)]}" for name in public_names(topology)}
    return plan(topology, links, zookeeper_hosts(zookeeper_name(topology))), hosts


def manifests(units: list[Unit], secret: str, hosts: dict[str, str]) -> dict[str, list[dict]]:
    """File name -> the resources in it. `hosts`: component -> the host name the Ingress routes to it."""
    files = {SECRET_FILE: [_secret(secret)]}
    for unit in units:
        if unit.service == "zookeeper":
            files[f"{unit.name}.yaml"] = _zookeeper(unit)
        elif unit.service == "redis":
            files[f"{unit.name}.yaml"] = _redis(unit)
        else:
            files[f"{unit.name}.yaml"] = _service(unit)
    if hosts:
        files["_ingress.yaml"] = [_ingress(hosts, {u.name: u.port for u in units})]
    return files


def _meta(name: str, **extra) -> dict:
    return {"name": name, "labels": {"app.kubernetes.io/name": name, **PART_OF}, **extra}


def _selector(name: str) -> dict:
    return {"app.kubernetes.io/name": name}


def _secret(secret: str) -> dict:
    # made by export() for this folder; replace it (kubectl create secret generic ...) before a real deployment
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(SECRET_NAME), "type": "Opaque",
            "stringData": {SECRET_KEY: secret}}


def _probes(*, http: str | None = None, command: list[str] | None = None, tcp: str | None = None) -> dict:
    """Ready: answers now (traffic is sent to it); live: has answered lately (else it is restarted). The check is
    GET `http` on the port named "http", a `command` run in the container, or a connection to the port `tcp`."""
    how = ({"httpGet": {"path": http, "port": "http"}} if http else {"exec": {"command": list(command)}} if command
           else {"tcpSocket": {"port": tcp}})
    timing = {"timeoutSeconds": 2}
    return {"readinessProbe": {**how, "initialDelaySeconds": 1, "periodSeconds": 2, "failureThreshold": 2, **timing},
            "livenessProbe": {**how, "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 3, **timing}}


def _service_object(unit: Unit, ports: list[tuple[str, int]], headless: bool = False) -> dict:
    spec = {"selector": _selector(unit.name), "ports": [{"name": n, "port": p, "targetPort": n} for n, p in ports]}
    if headless:  # no virtual IP: DNS names each pod (zookeeper-0.zookeeper), even before it is ready
        spec.update(clusterIP="None", publishNotReadyAddresses=True)
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(unit.name), "spec": spec}


def _claim(name: str, shared: bool = False) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(name),
            "spec": {"accessModes": ["ReadWriteMany" if shared else "ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}


def _deployment(unit: Unit, container: dict, volume: dict, recreate: bool = False) -> dict:
    spec = {"replicas": unit.replicas, "selector": {"matchLabels": _selector(unit.name)},
            "template": {"metadata": {"labels": _meta(unit.name)["labels"]},
                         "spec": {"containers": [container], "volumes": [{"name": "data", **volume}]}}}
    if recreate:  # one volume that only one pod may mount: stop the old pod before the new one starts
        spec["strategy"] = {"type": "Recreate"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(unit.name), "spec": spec}


def _service(unit: Unit) -> list[dict]:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{unit.name}-config"),
              "data": {"config.json": json.dumps(unit.config, sort_keys=True)}}
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "MICROCOSM_HOST", "value": "0.0.0.0"}, {"name": "MICROCOSM_PORT", "value": str(unit.port)},
           {"name": "MICROCOSM_CONFIG",
            "valueFrom": {"configMapKeyRef": {"name": f"{unit.name}-config", "key": "config.json"}}},
           {"name": "MICROCOSM_ADMIN_SECRET", "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": SECRET_KEY}}}]
    container = {"name": unit.name, "image": IMAGE, "command": ["python", "-m", "microcosm.serve"],
                 # $(VAR) is expanded by Kubernetes from the container's env: each pod is an instance of its own name
                 "args": [unit.service, "--name", "$(POD_NAME)", "--config", "$(MICROCOSM_CONFIG)"],
                 "env": env, "ports": [{"name": "http", "containerPort": unit.port}],
                 **_probes(http="/health"), "resources": footprint.resources(unit.service),
                 "volumeMounts": [{"name": "data", "mountPath": DATA}]}
    resources = [config]
    if unit.keeps_data:
        resources.append(_claim(f"{unit.name}-data", shared=unit.replicas > 1))
        volume = {"persistentVolumeClaim": {"claimName": f"{unit.name}-data"}}
    else:
        volume = {"emptyDir": {}}
    resources += [_deployment(unit, container, volume, recreate=unit.keeps_data and unit.replicas == 1),
                  _service_object(unit, [("http", unit.port)])]
    if unit.stateless:
        resources.append(_autoscaler(unit))
    return resources


def max_replicas(replicas: int) -> int:
    """How far an autoscaler may go: four times the topology's count (at least 4)."""
    return max(4, 4 * replicas)


def _autoscaler(unit: Unit) -> dict:
    """More replicas when the pods' CPU passes 70 % of what they requested, back down when it falls."""
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(unit.name),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": unit.name},
                     "minReplicas": unit.replicas, "maxReplicas": max_replicas(unit.replicas),
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}


def _redis(unit: Unit) -> list[dict]:
    container = {"name": "redis", "image": REDIS_IMAGE,
                 "args": ["redis-server", "--appendonly", "yes", "--dir", DATA],  # every write in a file on the volume
                 "ports": [{"name": "redis", "containerPort": unit.port}],
                 **_probes(command=["redis-cli", "ping"]), "resources": footprint.resources("redis"),
                 "volumeMounts": [{"name": "data", "mountPath": DATA}]}
    return [_claim(f"{unit.name}-data"),
            _deployment(unit, container, {"persistentVolumeClaim": {"claimName": f"{unit.name}-data"}}, recreate=True),
            _service_object(unit, [("redis", unit.port)])]


def _zookeeper(unit: Unit) -> list[dict]:
    name = unit.name
    servers = " ".join(f"server.{i + 1}={name}-{i}.{name}:2888:3888;{ZOOKEEPER_PORT}" for i in range(ENSEMBLE))
    env = {"ZOO_SERVERS": servers, "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr,envi", "ZOO_ADMINSERVER_ENABLED": "false",
           "ZOO_CFG_EXTRA": "quorumListenOnAllIPs=true", "JVMFLAGS": "-Xmx64m -XX:+UseSerialGC"}
    container = {"name": "zookeeper", "image": ZOOKEEPER_IMAGE,
                 # each server's id is its pod's ordinal + 1 (zookeeper-0 -> 1): the image writes it to myid
                 "command": ["bash", "-c", 'export ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 )) && '
                                           'exec /docker-entrypoint.sh zkServer.sh start-foreground'],
                 "env": [{"name": k, "value": v} for k, v in env.items()],
                 "ports": [{"name": "client", "containerPort": ZOOKEEPER_PORT},
                           {"name": "peer", "containerPort": 2888}, {"name": "election", "containerPort": 3888}],
                 **_probes(tcp="client"), "resources": footprint.resources("zookeeper"),
                 "volumeMounts": [{"name": "data", "mountPath": DATA}]}
    stateful = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(name),
                "spec": {"serviceName": name, "replicas": ENSEMBLE, "podManagementPolicy": "Parallel",
                         "selector": {"matchLabels": _selector(name)},
                         "template": {"metadata": {"labels": _meta(name)["labels"]},
                                      "spec": {"containers": [container]}},
                         "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                             "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    service = _service_object(unit, [("client", ZOOKEEPER_PORT), ("peer", 2888), ("election", 3888)], headless=True)
    return [service, stateful]


def _ingress(hosts: dict[str, str], ports: dict[str, int]) -> dict:
    """One entry for the browser: a host name per public component (the cluster's default ingress class)."""
    rules = [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": name, "port": {"number": ports[name]}}}}]}} for name, host in hosts.items()]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta("microcosm"),
            "spec": {"rules": rules}}
