"""What each component becomes in a cluster, as one table for a notebook (read from the same plan the manifests
are written from, so the table and the files cannot disagree).

    from microcosm.export.summary import in_the_cluster
    in_the_cluster()            # the whole system: kind, address, memory request / limit, autoscaled or why not
"""
from __future__ import annotations

from ..show import HTMLTable, table
from . import footprint, kubernetes
from .plan import IN_MEMORY, REDIS_PORT, SERVICE_PORT, Unit

COLUMNS = ("component", "runs as", "replicas", "address in the cluster", "memory request / limit", "autoscaled")


def in_the_cluster(topology=None, domain: str = "microcosm.localhost") -> HTMLTable:
    from ..system.bring_up import as_topology

    units, hosts = kubernetes.units(as_topology(topology), domain)
    return table([_row(u, hosts) for u in units], COLUMNS)


def _row(unit: Unit, hosts: dict[str, str]) -> tuple:
    if unit.service == "zookeeper":
        runs, replicas, address = "StatefulSet, headless Service", kubernetes.ENSEMBLE, \
            kubernetes.zookeeper_hosts(unit.name)
    else:
        runs = "Deployment, Service" + (", volume claim" if unit.keeps_data else "")
        replicas = unit.replicas
        address = f"redis://{unit.name}:{REDIS_PORT}/0" if unit.service == "redis" else \
            f"http://{unit.name}:{SERVICE_PORT}"
    if unit.name in hosts:
        address += f" (and http://{hosts[unit.name]} through the Ingress)"
    memory = f"{footprint.memory_request_mib(unit.service)} / {footprint.memory_limit_mib(unit.service)} MiB"
    if unit.stateless:
        scaled = f"yes: {unit.replicas} to {kubernetes.max_replicas(unit.replicas)} on CPU"
    elif unit.infrastructure:
        scaled = "no: infrastructure"
    elif unit.service in IN_MEMORY:
        scaled = "no: its state is in its memory"
    else:
        scaled = "no: keeps data on its volume"
    return unit.name, runs, replicas, address, memory, scaled
