"""What each process needs, measured here, and the resource requests and limits that follow from it.

A scheduler places a container by its request and kills it past its limit, so both come from a measurement, not
a guess. The figures are the resident memory (RSS) of each process of the whole system, after a shopper's
journey through it (log in, products, an order the broker's consumers act on):

    bench/system_memory.py --rounds 1, 2026-11-29 07:01 UTC, 2 cores, load average 8 (bench/RESULTS.md)

legacy_stock is not in the whole system; its figure is from bench/process_memory.py (RESULTS.md, "Memory and
imports of each process", 2026-11-28). A service this table does not know (your own module) is given catalog's.

    request = RSS x 1.25, rounded up to 8 MiB     what it holds at rest, and room for a burst of requests
    limit   = 2 x request (at least 64 MiB)       buffers under load, the CDN's store filling; past it, OOM-killed
    CPU: request 50m (the whole system idles on 2 cores), limit one core: a Python server's threads share one
    interpreter lock, so a second core buys it little (see microcosm.serve.pin_to_cpu); scale out instead.
"""
from __future__ import annotations

import math

SOURCE = "bench/system_memory.py --rounds 1, 2026-11-29 10:33 UTC (bench/RESULTS.md)"
RSS_MB = {  # process -> resident memory in MB (10**6 bytes), as measured
    "redis": 12.5,
    "zookeeper": 54.9,  # one server, java -Xmx64m -XX:+UseSerialGC (the image is given the same JVMFLAGS)
    "registry": 42.3,
    "identity": 59.1,
    "catalog": 43.9,
    "balancer": 54.8,
    "orders": 49.4,
    "inventory": 43.9,
    "notifications": 43.7,
    "carts": 41.2,
    "web": 41.9,
    "cdn": 55.1,
    "gateway": 70.7,  # its asyncio front: aiohttp and uvloop beside Flask
    "legacy_stock": 42.6,  # bench/process_memory.py, 2026-11-28
}
DEFAULT = "catalog"
HEADROOM = 1.25
CPU_REQUEST, CPU_LIMIT = "50m", "1"


def rss_mb(service: str) -> float:
    """The measured RSS of `service` (a built-in's name, or redis/zookeeper), catalog's for one not measured."""
    return RSS_MB.get(service, RSS_MB[DEFAULT])


def memory_request_mib(service: str) -> int:
    mib = rss_mb(service) * 1e6 / 2**20
    return int(math.ceil(mib * HEADROOM / 8) * 8)


def memory_limit_mib(service: str) -> int:
    return max(2 * memory_request_mib(service), 64)


def resources(service: str) -> dict:
    """Kubernetes' `resources` of a container running `service`."""
    return {"requests": {"cpu": CPU_REQUEST, "memory": f"{memory_request_mib(service)}Mi"},
            "limits": {"cpu": CPU_LIMIT, "memory": f"{memory_limit_mib(service)}Mi"}}


def compose_resources(service: str) -> dict:
    """Compose's `deploy.resources` for the same figures (reservations are Kubernetes' requests)."""
    return {"reservations": {"memory": f"{memory_request_mib(service)}M"},
            "limits": {"cpus": CPU_LIMIT, "memory": f"{memory_limit_mib(service)}M"}}
