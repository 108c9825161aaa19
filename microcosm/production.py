"""Beyond one machine (chapter 12): what production runs instead of each part built here, and a short side by side
of our load balancer and nginx, measured in the same run.

    from microcosm import production
    production.parts()                     # the table: each home-made part, its chapter, what replaces it
    figures = production.balancer_vs_nginx(seconds=2)    # two catalogs, each proxy loaded in turn
    production.recorded_balancer_vs_nginx()              # bench/RESULTS.md's figures (where nginx is not installed)
    production.edge_vs_nginx(seconds=2)                  # the CDN edge and nginx's proxy_cache, hits

The load comes from bench/loadgen.py in a process of its own (wrk when installed, else its Python clients), as in
bench/balancer_vs_nginx.py, whose full run (3 rounds, CPU per request, latency at low load) is in bench/RESULTS.md.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOADGEN = REPO / "bench" / "loadgen.py"
RESULTS = REPO / "bench" / "RESULTS.md"
PATH = "/products/1"

PARTS = [  # (the part, what we built, chapter, what production runs instead, what that adds)
    ("load balancer", "services/balancer: asyncio, round robin and friends, health checks", "03",
     "nginx, HAProxy, Envoy; a cloud load balancer; Kubernetes Services (kube-proxy)",
     "C event loops (no GIL), TLS, HTTP/2 and gRPC, hot reload, outlier detection"),
    ("service registry", "services/registry + discovery: heartbeats with a TTL, long-poll watch", "04",
     "Consul; Kubernetes Services and Endpoints with cluster DNS; etcd underneath",
     "replicated by Raft, health checks run by the platform, discovery by plain DNS names"),
    ("API gateway", "services/gateway: routes, composition, token check, rate limit in Redis", "05",
     "Kong, Envoy Gateway, an Ingress/Gateway API controller, AWS API Gateway, Apigee",
     "plugins (OIDC, quotas, transforms), a control plane, a developer portal, WAF rules"),
    ("identity provider", "services/identity: argon2id, RS256 JWTs, JWKS, refresh families, rotation", "06",
     "Keycloak, Auth0/Okta, Entra ID, Dex",
     "OpenID Connect certified flows, MFA, federation (SAML, social logins), admin consoles, audited"),
    ("message broker", "Redis Streams: consumer groups, outbox, idempotent consumers, dead letters", "07",
     "Kafka (a replicated log), RabbitMQ (queues), NATS JetStream, cloud queues (SQS, Pub/Sub)",
     "replication across machines, partitions for parallel consumers, retention by days, schemas"),
    ("coordination", "ZooKeeper (one server, a 3-node ensemble): locks, elections, fencing", "08",
     "a 3- or 5-server ZooKeeper or etcd ensemble; Kubernetes leases (on etcd)",
     "the same quorum ideas, run across machines and zones, backed up and upgraded by an operator"),
    ("CDN", "services/cdn: an RFC 9111 edge, stale-if-error, collapsed misses, purge", "10",
     "a commercial CDN (Cloudflare, Fastly, Akamai, CloudFront); Varnish or nginx proxy_cache at home",
     "hundreds of points of presence near users, TLS at the edge, DDoS absorption, instant purge"),
    ("databases", "SQLite per service (WAL), Redis for caches and counters", "02",
     "PostgreSQL or MySQL (managed: RDS, Cloud SQL), Redis with replicas or a managed Redis",
     "replication, point-in-time backups, failover; still one database per service"),
    ("the processes themselves", "microcosm.launch / up(): processes on loopback ports", "11",
     "containers on Kubernetes (this chapter's export), or Docker Compose on one host",
     "restarts, rolling updates, scheduling across machines, resource limits, autoscaling"),
]


def parts():
    """The table of parts: what was built here and what production uses instead (microcosm.show's table)."""
    from .show import table

    return table(PARTS, ["part", "built here", "chapter", "production uses instead", "what it adds"])


def load(url: str, seconds: float = 2.0, connections: int = 8) -> dict:
    """Closed-loop load on `url` for `seconds` from bench/loadgen.py in its own process: its JSON line."""
    if not LOADGEN.exists():
        raise FileNotFoundError(f"{LOADGEN} is missing: the load generator comes with a checkout of microcosm")
    done = subprocess.run([sys.executable, str(LOADGEN), url, "--connections", str(connections), "--duration",
                           str(seconds)], capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def _side_by_side():
    """A folder for the catalogs' data and a list of what was started (services, nginx); all stopped at the end."""
    data_dir, started = tempfile.mkdtemp(prefix="microcosm-ch12-"), []
    try:
        yield data_dir, started
    finally:
        for s in reversed(started):
            s.stop()
            if hasattr(s, "forget"):
                s.forget()
        shutil.rmtree(data_dir, ignore_errors=True)


def _in_turn(targets: dict, seconds: float, connections: int) -> dict:
    for url in targets.values():  # warm up: connections pooled, the caches filled
        load(url + PATH, 0.5, connections)
    return {name: load(url + PATH, seconds, connections) for name, url in targets.items()}


def balancer_vs_nginx(seconds: float = 2.0, connections: int = 8) -> dict:
    """Two catalog instances; in front of them nginx and our balancer (traffic recording and access logs off for
    all), each loaded with GET /products/1 for `seconds` after a short warm-up, one after the other.
    {"nginx": figures, "microcosm balancer": figures}; everything started here is stopped before it returns."""
    from . import launch
    from .runtime.nginx import Nginx

    with _side_by_side() as (data_dir, started):
        backends = [launch("catalog", f"ch12-catalog-{i}", data_dir=data_dir, traffic=False, access_log=False)
                    for i in (1, 2)]
        started += backends
        started.append(launch("balancer", "ch12-balancer", upstream="catalog", backends=[b.url for b in backends],
                              traffic=False, access_log=False))
        started.append(Nginx([b.url for b in backends]))
        return _in_turn({"nginx": started[-1].url, "microcosm balancer": started[-2].url}, seconds, connections)


def edge_vs_nginx(seconds: float = 2.0, connections: int = 8) -> dict:
    """One catalog (max_age=3600: nothing expires during the run) and, in front of it, nginx with a proxy_cache
    zone and our CDN edge; the origin direct, then each cache, loaded with GET /products/1 (hits after the
    warm-up) for `seconds`. {"origin direct": ..., "nginx proxy_cache": ..., "microcosm edge": ...}."""
    from . import launch
    from .runtime.nginx import cached_nginx

    with _side_by_side() as (data_dir, started):
        origin = launch("catalog", "ch12-origin", data_dir=data_dir, max_age=3600, traffic=False, access_log=False)
        started.append(origin)
        started.append(launch("cdn", "ch12-edge", origin=origin.url, traffic=False, access_log=False))
        started.append(cached_nginx(origin.url))
        return _in_turn({"origin direct": origin.url, "nginx proxy_cache": started[-1].url,
                         "microcosm edge": started[-2].url}, seconds, connections)


def recorded_balancer_vs_nginx(results: Path = RESULTS) -> dict:
    """The same comparison as bench/RESULTS.md records it (3 rounds of 5 s, wrk): {"nginx": ..., "microcosm
    balancer": ...} with rps and p99_ms, and "source": the line they come from."""
    text = results.read_text()
    found = re.search(r"\*\*Balancer vs nginx\*\*.*?nginx [\d.]+ ([\d,]+) req/s p99 ([\d.]+) ms; ours ([\d,]+) req/s "
                      r"p99 ([\d.]+) ms", text, re.S)
    if not found:
        raise ValueError(f"{results} has no 'Balancer vs nginx' figures")
    ng_rps, ng_p99, our_rps, our_p99 = found.groups()
    return {"nginx": {"rps": float(ng_rps.replace(",", "")), "p99_ms": float(ng_p99)},
            "microcosm balancer": {"rps": float(our_rps.replace(",", "")), "p99_ms": float(our_p99)},
            "source": f"{results.name}, 'Balancer vs nginx': bench/balancer_vs_nginx.py, wrk -c16, median of 3 rounds of 5 s"}


def recorded_edge_vs_nginx(results: Path = RESULTS) -> dict:
    """The edge against nginx's proxy_cache as bench/RESULTS.md records it (bench/cdn_vs_nginx.py: hits, wrk,
    3 rounds of 5 s): the same keys as edge_vs_nginx, with rps and p99_ms, and "source"."""
    text, found = results.read_text(), {}
    for name, row in (("origin direct", "origin direct (catalog)"), ("nginx proxy_cache", "nginx proxy_cache, hits"),
                      ("microcosm edge", "microcosm edge, hits")):
        cells = re.search(r"^\| " + re.escape(row) + r" \|(.*)$", text, re.M)
        if not cells:
            raise ValueError(f"{results} has no row '{row}' (bench/cdn_vs_nginx.py's hits table)")
        rps, _, _, _, p99 = [c.strip() for c in cells.group(1).split("|")][:5]
        found[name] = {"rps": float(rps.replace(",", "")), "p99_ms": float(p99)}
    return found | {"source": f"{results.name}: bench/cdn_vs_nginx.py, hits, wrk -c16, median of 3 rounds of 5 s"}


def side_by_side(figures: dict, baseline: str = "nginx"):
    """A table of figures from one of the functions above, each against `baseline`'s."""
    from .show import table

    ng = figures[baseline]
    rows = [(name, f"{f['rps']:,.0f}", f"{f['rps'] / ng['rps']:.2f}", f"{f['p99_ms']:.1f}",
             f"{f['p99_ms'] / ng['p99_ms']:.2f}", f.get("errors", "")) for name, f in figures.items() if name != "source"]
    return table(rows, ["proxy", "req/s", f"vs {baseline}", "p99 ms", f"p99 vs {baseline}", "errors"])
