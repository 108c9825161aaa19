"""What the API gateway costs: a route through it vs the same service direct, and each step's share.

    .venv/bin/python bench/gateway_overhead.py [--duration 5] [--rounds 3] [--connections 16]

Targets, side by side in interleaved rounds (GET one product from catalog):
  direct                 catalog's GET /products/1
  gateway: routing only  GET /api/products/1, public route, rate limit off
  + token check          the same route needing a token (RS256 verify against the cached JWKS)
  + rate limit           and a token bucket per user in Redis (one Lua script per request; never trips)

Every gateway is its own process; all gateway threads are pinned to one core and catalog's to the other
(so the comparison does not depend on which core `launch` happened to give each one). The load comes from
wrk (or the Python fallback) with the Authorization header where needed. Throughput, p50/p99 under load,
the gateway's CPU per request (the cost of each step, without queueing), and latency at low load
(one connection, 100 requests/s). Prints Markdown; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from common import CpuMeter, fmt, machine_line, median, table, wait_quiet  # noqa: E402

import microcosm  # noqa: E402

SECRET = "bench-client-secret-0123456789abcdef"
TOKEN_ROUTE = [{"prefix": "/api/products", "service": "catalog", "path": "/products", "methods": {"GET": []}}]


def pin(pid: int, core: int) -> None:
    """Every thread of process `pid` onto `core` (threads started before a plain sched_setaffinity keep theirs)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {core})
        except OSError:
            pass


def measure(duration=5.0, rounds=3, connections=16, tool="auto", quiet_wait=10.0, log=print) -> dict:
    data = Path(tempfile.mkdtemp(prefix="microcosm-bench-gateway-"))
    started = []

    def start(service, name, **config):
        s = microcosm.launch(service, name, traffic=False, access_log=False, **config)
        started.append(s)
        return s

    try:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        catalog = start("catalog", "bench-gw-catalog", data_dir=str(data / "catalog"))
        identity = start("identity", "bench-gw-identity", data_dir=str(data / "identity"), access_ttl=3600,
                         argon2={"time_cost": 1, "memory_kib": 8192, "parallelism": 1},
                         clients={"bench": {"secret": SECRET, "scope": "catalog:read"}})
        common = {"identity_url": identity.url, "upstreams": {"catalog": catalog.url},
                  "rate_limit_prefix": f"bench:{os.getpid()}:"}
        routing = start("gateway", "bench-gw-routing", rate_limit=False, **common)
        tokened = start("gateway", "bench-gw-token", rate_limit=False, routes=TOKEN_ROUTE, **common)
        limited = start("gateway", "bench-gw-limited", routes=TOKEN_ROUTE,
                        rate_limit={"capacity": 1e12, "refill_per_s": 1e12}, **common)
        token = identity.post("/token", data={"grant_type": "client_credentials"}, auth=("bench", SECRET)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        if len(cores) > 1:
            pin(catalog.pid, cores[0])
            for g in (identity, routing, tokened, limited):
                pin(g.pid, cores[1])
        targets = {  # name: (process measured, url, path, headers)
            "direct (catalog)": (catalog, catalog.url, "/products/1", {}),
            "gateway: routing only": (routing, routing.url, "/api/products/1", {}),
            "gateway: + token check": (tokened, tokened.url, "/api/products/1", auth),
            "gateway: + rate limit": (limited, limited.url, "/api/products/1", auth),
        }
        for name, (_, url, path, headers) in targets.items():  # warm up, and check each answers 200
            result = loadgen.run(url + path, connections, 1.0, tool, headers=headers)
            if result["errors"]:
                raise RuntimeError(f"{name} answered errors during warm-up: {result}")
        runs = {name: [] for name in targets}
        for r in range(rounds):
            for name, (proc, url, path, headers) in targets.items():
                wait_quiet(quiet_wait)
                with CpuMeter(proc.pid) as cpu:
                    result = loadgen.run(url + path, connections, duration, tool, headers=headers)
                result["cores"] = cpu.cores(cpu.server)
                result["cpu_us"] = cpu.server / max(1, result["requests"]) * 1e6
                runs[name].append(result)
                log(f"  round {r + 1}: {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms, {result['cpu_us']:.0f} us CPU/request, errors {result['errors']}")
        out = {name: {k: median([x[k] for x in rs]) for k in ("rps", "p50_ms", "p99_ms", "cores", "cpu_us")}
               | {"errors": sum(x["errors"] for x in rs), "tool": rs[0]["tool"]} for name, rs in runs.items()}
        for name, (_, url, path, headers) in targets.items():
            wait_quiet(quiet_wait)
            out[name]["low"] = loadgen.paced_latency(url, path, headers=headers)
            log(f"  low load: {name}: p50 {out[name]['low']['p50_ms']:.2f} ms, p99 {out[name]['low']['p99_ms']:.2f} ms")
        return {"targets": out, "duration": duration, "rounds": rounds, "connections": connections}
    finally:
        for s in reversed(started):
            s.stop()
            s.forget()


def report(f: dict) -> str:
    t = f["targets"]
    names = list(t)
    direct, full = t[names[0]], t[names[-1]]
    rows = []
    previous = None
    for name in names:
        x = t[name]
        step = "" if previous is None or name == names[1] else fmt(x["cpu_us"] - previous["cpu_us"], 0)
        rows.append([name, fmt(x["rps"], 0), fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2), fmt(x["cores"], 2),
                     fmt(x["cpu_us"], 0), step, fmt(x["low"]["p50_ms"], 2), fmt(x["low"]["p99_ms"], 2),
                     x["errors"] + x["low"]["errors"]])
        previous = x
    return "\n".join([
        "## API gateway overhead (GET one product from catalog)\n",
        f"{direct['tool']}, {f['duration']:g} s per run, median of {f['rounds']} interleaved rounds. "
        "'cores' and 'CPU us/request' are the measured process's own (catalog for the direct row, the gateway "
        "otherwise); 'step' is the CPU a step adds per request over the row above. Low load: one connection, "
        "100 requests/s.\n",
        table(["target", "req/s", "p50 ms", "p99 ms", "cores", "CPU us/request", "step us", "low-load p50",
               "low-load p99", "errors"], rows),
        "",
        f"**through the gateway with token check and rate limit: {full['rps'] / direct['rps']:.2f} of direct "
        f"throughput; p99 {full['p99_ms'] / direct['p99_ms']:.1f}x direct's; "
        f"+{full['low']['p50_ms'] - direct['low']['p50_ms']:.2f} ms at low load (p50)**\n",
        f"_{machine_line()}_",
    ])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--quiet-wait", type=float, default=10.0, help="wait up to this long for a quiet machine before each run")
    args = p.parse_args(argv)
    figures = measure(args.duration, args.rounds, args.connections, args.loadgen, args.quiet_wait,
                      log=lambda m: print(m, file=sys.stderr, flush=True))
    print(report(figures))


if __name__ == "__main__":
    main()
