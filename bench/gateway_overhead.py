"""What the API gateway costs: a route through it vs the same service direct, and each step's share.

    .venv/bin/python bench/gateway_overhead.py [--duration 5] [--rounds 3] [--connections 16] [--baseline-ref REV ...]

Targets, side by side in interleaved rounds (GET one product from catalog):
  direct                 catalog's GET /products/1
  floor: bare Flask      a Flask route under waitress that forwards nothing (bench/bare_flask.py)
  floor: + service base  the same route on microcosm's create_service (request ids, metrics, chaos, errors)
  gateway: routing only  GET /api/products/1, public route, rate limit off
  + token check          the same route needing a token (RS256 verify against the cached JWKS)
  + rate limit           and a token bucket per user in Redis (one Lua script per request; never trips)
  + rate limit (fast_path=False)  the last one with its front reading every request with aiohttp's parser
                         (not straight from the bytes: front/fast.py)
  + rate limit (front=False)  the last one served by waitress alone, without the gateway's asyncio front
  + rate limit (REV)     with --baseline-ref: the last one, run from the code of commit REV (bench/baseline.py);
                         give it more than once for a row per commit (say, the issue's before and yesterday's code)

Every gateway is its own process; all gateway threads are pinned to one core and catalog's to the other
(so the comparison does not depend on which core `launch` happened to give each one). The load comes from
wrk (or the Python fallback) with the Authorization header where needed. Throughput, p50/p99 under load,
the gateway's CPU per request (the cost of each step, without queueing), and latency at low load (a connection
to each target, 100 requests/s in all, to the targets in turn, so that all are measured over the same moments).
Prints Markdown; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline  # noqa: E402
import loadgen  # noqa: E402
from common import CpuMeter, fmt, machine_line, median, table, wait_quiet  # noqa: E402
from floor import Floor  # noqa: E402

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


def measure(duration=5.0, rounds=3, connections=16, tool="auto", quiet_wait=10.0, log=print, baseline_ref=()) -> dict:
    data = Path(tempfile.mkdtemp(prefix="microcosm-bench-gateway-"))
    started = []
    refs = [baseline_ref] if isinstance(baseline_ref, str) else list(baseline_ref or ())
    old_codes = {ref: baseline.checkout(ref) for ref in refs}
    entered = []  # the checkouts made (each left in the finally)

    def start(service, name, code=None, **config):
        config.update(traffic=False, access_log=False)
        s = baseline.launch(code, service, name, **config) if code else microcosm.launch(service, name, **config)
        started.append(s)
        return s

    try:
        floor = Floor("bare_flask.py")
        started.append(floor)
        floor_base = Floor("bare_flask.py", "--base")
        started.append(floor_base)
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
        parsed = start("gateway", "bench-gw-parsed", routes=TOKEN_ROUTE, fast_path=False,
                       rate_limit={"capacity": 1e12, "refill_per_s": 1e12}, **common)
        unfronted = start("gateway", "bench-gw-waitress", routes=TOKEN_ROUTE, front=False,
                          rate_limit={"capacity": 1e12, "refill_per_s": 1e12}, **common)
        olds = {}
        for i, (ref, code) in enumerate(old_codes.items()):
            folder = code.__enter__()
            entered.append(code)
            olds[ref] = start("gateway", f"bench-gw-baseline-{i}", code=folder, routes=TOKEN_ROUTE,
                              rate_limit={"capacity": 1e12, "refill_per_s": 1e12}, **common)
        token = identity.post("/token", data={"grant_type": "client_credentials"}, auth=("bench", SECRET)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        if len(cores) > 1:
            pin(catalog.pid, cores[0])
            for g in (identity, routing, tokened, limited, parsed, unfronted, floor, floor_base, *olds.values()):
                pin(g.pid, cores[1])
        targets = {  # name: (process measured, url, path, headers)
            "direct (catalog)": (catalog, catalog.url, "/products/1", {}),
            "floor: bare Flask route": (floor, floor.url, "/api/products/1", {}),
            "floor: + service base": (floor_base, floor_base.url, "/api/products/1", {}),
            "gateway: routing only": (routing, routing.url, "/api/products/1", {}),
            "gateway: + token check": (tokened, tokened.url, "/api/products/1", auth),
            "gateway: + rate limit": (limited, limited.url, "/api/products/1", auth),
            "gateway: + rate limit (fast_path=False)": (parsed, parsed.url, "/api/products/1", auth),
            "gateway: + rate limit (front=False)": (unfronted, unfronted.url, "/api/products/1", auth),
        }
        for ref, old in olds.items():
            targets[f"gateway: + rate limit ({baseline.label(ref)})"] = (old, old.url, "/api/products/1", auth)
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
        wait_quiet(quiet_wait)  # low load: every target in turn, so they share the same moments of the machine
        low = loadgen.interleaved_latency({name: (url, path, headers) for name, (_, url, path, headers) in targets.items()})
        for name in targets:
            out[name]["low"] = low[name]
            log(f"  low load: {name}: p50 {low[name]['p50_ms']:.2f} ms, p99 {low[name]['p99_ms']:.2f} ms")
        front = limited.get("/_gateway").json()["front"]  # (how many of its requests the front read from the bytes)
        return {"targets": out, "duration": duration, "rounds": rounds, "connections": connections, "front": front}
    finally:
        for s in reversed(started):
            s.stop()
            s.forget()
        for code in entered:
            code.__exit__(None, None, None)


STEPS = {"gateway: + token check": "gateway: routing only", "gateway: + rate limit": "gateway: + token check"}


def report(f: dict) -> str:
    t = f["targets"]
    direct, full = t["direct (catalog)"], t["gateway: + rate limit"]
    rows = []
    for name, x in t.items():
        step = fmt(x["cpu_us"] - t[STEPS[name]]["cpu_us"], 0) if name in STEPS else ""
        rows.append([name, fmt(x["rps"], 0), fmt(x["rps"] / direct["rps"], 2), fmt(x["p50_ms"], 2),
                     fmt(x["p99_ms"], 2), fmt(x["cores"], 2), fmt(x["cpu_us"], 0), step, fmt(x["low"]["p50_ms"], 2),
                     fmt(x["low"]["p50_ms"] - direct["low"]["p50_ms"], 2) if x is not direct else "",
                     fmt(x["low"]["p99_ms"], 2), x["errors"] + x["low"]["errors"]])
    floor = t["floor: bare Flask route"]
    lines = [
        "## API gateway overhead (GET one product from catalog)\n",
        f"{direct['tool']}, {f['duration']:g} s per run, median of {f['rounds']} interleaved rounds. "
        "'cores' and 'CPU us/request' are the measured process's own (catalog for the direct row, the floor's or "
        "the gateway's otherwise); 'step' is the CPU a step adds per request over the step before it. Low load: "
        "a connection to each target, one request every 10 ms to each in turn (500 each); '+p50' is over direct's.\n",
        table(["target", "req/s", "vs direct", "p50 ms", "p99 ms", "cores", "CPU us/request", "step us",
               "low-load p50", "+p50 ms", "low-load p99", "errors"], rows),
        "",
        f"**through the gateway with token check and rate limit: {full['rps'] / direct['rps']:.2f} of direct "
        f"throughput (goal: at least 0.5); p99 {full['p99_ms'] / direct['p99_ms']:.1f}x direct's; "
        f"+{full['low']['p50_ms'] - direct['low']['p50_ms']:.2f} ms at low load (p50; goal: at most 1.5)**\n",
        f"**the floor: a bare Flask route under waitress costs {floor['cpu_us']:.0f} us of CPU per request; the "
        f"gateway with both checks {full['cpu_us']:.0f} us ({full['cpu_us'] / floor['cpu_us']:.1f}x the floor), "
        f"catalog's whole answer {direct['cpu_us']:.0f} us**\n",
    ]
    for name, x in t.items():
        if name.startswith("gateway: + rate limit ("):
            lines.append(f"**now vs {name[len('gateway: + rate limit '):]}, same run: {full['rps'] / x['rps']:.2f}x "
                         f"the throughput, {full['cpu_us'] / x['cpu_us']:.2f}x the CPU per request, low-load p50 "
                         f"{full['low']['p50_ms'] - x['low']['p50_ms']:+.2f} ms**\n")
    if f.get("front"):
        lines.append(f"_the full gateway's front answered {f['front']['on_the_loop']} requests on its loop, "
                     f"{f['front'].get('read_from_bytes', 0)} of them read straight from the bytes_\n")
    lines.append(f"_{machine_line()}_")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--quiet-wait", type=float, default=10.0, help="wait up to this long for a quiet machine before each run")
    p.add_argument("--baseline-ref", action="append", default=[],
                   help="also run the full gateway from this commit's code, in the same rounds (repeatable)")
    args = p.parse_args(argv)
    figures = measure(args.duration, args.rounds, args.connections, args.loadgen, args.quiet_wait,
                      log=lambda m: print(m, file=sys.stderr, flush=True), baseline_ref=args.baseline_ref)
    print(report(figures))


if __name__ == "__main__":
    main()
