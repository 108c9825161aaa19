"""The full chain (issue 17): CDN miss -> balancer -> gateway -> catalog, against catalog direct, in one run.

    .venv/bin/python bench/full_chain.py [--quick] [--duration S] [--rounds N] [--connections C]

Two catalog instances (one SQLite file, max_age=3600 so the edge may store answers) are the origin. In front
of them, in this order: the balancer (round robin over both), a gateway routing `/api/products` to the
balancer (rate limit off; a second gateway also checks a token, RS256 against identity's JWKS, as in
bench/gateway_overhead.py), and a CDN edge in front of each gateway. Rows, loaded in interleaved rounds
(median of N), each GET of product 1:

  catalog direct                  catalog-1's GET /products/1
  balancer -> catalog             the balancer's GET /products/1
  gateway -> ...                  GET /api/products/1 through the gateway (and with the token check)
  edge (miss) -> gateway -> ...   every request a new URL (`/api/products/1?miss=<run>-<thread>-<n>`, from a
                                  wrk Lua script), so every one is a real miss: the edge goes to the origin
                                  and stores the answer (the store evicts the oldest as it fills). A new URL
                                  rather than `Cache-Control: no-cache`: requests for one key are collapsed
                                  (one goes to the origin, the rest wait for it), which is not the miss path.
                                  Checked: a new URL's X-Cache is printed (MISS), and the edge's answers to it
                                  then (HIT).
  edge (hit)                      the same URL every time: the contrast

For each row: req/s, p50/p99 under load, the ratio to direct, and the CPU each process of the chain used per
request (its process group's user+system time over the run / requests). Then the capacity at the knee: the
full chain (edge miss, no token) loaded with 1, 2, 4, ... connections, 2 s each; the knee is the fewest
connections that reach 90% of the best throughput seen, with its p99. Nothing is pinned to a core: the whole
chain and wrk share the machine's cores, as they would on a laptop. Prints Markdown; asserts nothing.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from common import fmt, group_cpu_seconds, load_options, machine_line, median, table, wait_quiet  # noqa: E402
from gateway_overhead import SECRET, TOKEN_ROUTE  # noqa: E402

import microcosm  # noqa: E402
import requests  # noqa: E402

PRODUCT = "/products/1"
MISS_SCRIPT = """-- each request a new URL: a cache miss at the edge
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request() n = (n or 0) + 1; return wrk.format(nil, "%s?miss=%s-" .. tid .. "-" .. n) end
"""


def miss_script(path: str, folder: str) -> str:
    """A wrk script asking for `path` with a new query every request (unique across runs and threads)."""
    name = os.path.join(folder, f"miss-{time.time_ns()}.lua")
    with open(name, "w") as f:
        f.write(MISS_SCRIPT % (path, time.time_ns()))
    return name


def load(url: str, path: str, connections: int, duration: float, tool: str, headers=None, miss=None) -> dict:
    """One load run; with `miss` (a temp folder), every request is a new URL (wrk only)."""
    if miss is None:
        return loadgen.run(url + path, connections, duration, tool, headers=headers)
    if loadgen.available(tool) != "wrk":
        raise SystemExit("the edge-miss rows need wrk (a Lua script gives each request a new URL)")
    return loadgen.run_wrk(url + path, connections, duration, headers=headers, script=miss_script(path, miss))


def measure(duration=5.0, rounds=3, connections=16, tool="auto", quiet_wait=10.0, knee=(1, 2, 4, 8, 16, 32, 64),
            knee_seconds=2.0, log=print) -> dict:
    data = tempfile.mkdtemp(prefix="microcosm-bench-chain-")
    started = []

    def start(service, name, **config):
        started.append(microcosm.launch(service, name, traffic=False, access_log=False, **config))
        return started[-1]

    try:
        catalogs = [start("catalog", f"bench-chain-catalog-{i}", data_dir=os.path.join(data, "catalog"),
                          max_age=3600) for i in (1, 2)]
        balancer = start("balancer", "bench-chain-balancer", upstream="catalog", backends=[c.url for c in catalogs])
        identity = start("identity", "bench-chain-identity", data_dir=os.path.join(data, "identity"), access_ttl=3600,
                         argon2={"time_cost": 1, "memory_kib": 8192, "parallelism": 1},
                         clients={"bench": {"secret": SECRET, "scope": "catalog:read"}})
        common = {"identity_url": identity.url, "upstreams": {"catalog": balancer.url}, "rate_limit": False}
        gateway = start("gateway", "bench-chain-gateway", **common)
        gateway_t = start("gateway", "bench-chain-gateway-token", routes=TOKEN_ROUTE, **common)
        edge = start("cdn", "bench-chain-edge", origin=gateway.url)
        edge_t = start("cdn", "bench-chain-edge-token", origin=gateway_t.url)
        token = identity.post("/token", data={"grant_type": "client_credentials"},
                              auth=("bench", SECRET)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        api = "/api" + PRODUCT
        chain = [edge, gateway, balancer] + catalogs
        chain_t = [edge_t, gateway_t, balancer] + catalogs
        targets = {  # name: (url, path, headers, miss?, processes whose CPU is counted, in chain order)
            "catalog direct": (catalogs[0].url, PRODUCT, None, False, catalogs[:1]),
            "balancer -> catalog": (balancer.url, PRODUCT, None, False, [balancer] + catalogs),
            "gateway -> balancer -> catalog": (gateway.url, api, None, False, chain[1:]),
            "gateway (token) -> balancer -> catalog": (gateway_t.url, api, auth, False, chain_t[1:]),
            "edge (miss) -> gateway -> balancer -> catalog": (edge.url, api, None, True, chain),
            "edge (miss) -> gateway (token) -> balancer -> catalog": (edge_t.url, api, auth, True, chain_t),
            "edge (hit)": (edge.url, api, None, False, [edge]),
        }
        for name, (url, path, headers, miss, _) in targets.items():  # warm up; every row must answer 200
            result = load(url, path, connections, 1.0, tool, headers, data if miss else None)
            if result["errors"]:
                raise RuntimeError(f"{name} answered errors during warm-up: {result}")
        checks = {}
        for label, e, headers in (("no token", edge, {}), ("token", edge_t, auth)):
            new = f"{e.url}{api}?miss=check-{time.time_ns()}"
            checks[label] = [requests.get(new, headers=headers, timeout=10).headers.get("X-Cache", "-")
                             for _ in range(2)]
        checks["hit"] = requests.get(edge.url + api, timeout=10).headers.get("X-Cache", "-")
        log(f"  X-Cache of a new URL, twice: {checks}")
        runs = {name: [] for name in targets}
        for r in range(rounds):
            for name, (url, path, headers, miss, procs) in targets.items():
                wait_quiet(quiet_wait)
                cpu0 = [group_cpu_seconds(p.pid) for p in procs]
                result = load(url, path, connections, duration, tool, headers, data if miss else None)
                n = max(1, result["requests"])
                result["cpu_us"] = {p.name: (group_cpu_seconds(p.pid) - c0) / n * 1e6 for p, c0 in zip(procs, cpu0)}
                runs[name].append(result)
                log(f"  round {r + 1}: {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms, errors {result['errors']}, CPU us/request "
                    + ", ".join(f"{k} {v:.0f}" for k, v in result["cpu_us"].items()))
        out = {name: {k: median([x[k] for x in rs]) for k in ("rps", "p50_ms", "p99_ms")}
               | {"errors": sum(x["errors"] for x in rs), "tool": rs[0]["tool"],
                  "cpu_us": {p: median([x["cpu_us"][p] for x in rs]) for p in rs[0]["cpu_us"]}}
               for name, rs in runs.items()}
        for name, rs in runs.items():  # the ratio within each round (same moments of the machine), then the median
            out[name]["ratio"] = median([x["rps"] / d["rps"] for x, d in zip(rs, runs["catalog direct"])])
        sweep = []
        for c in knee:
            wait_quiet(quiet_wait)
            result = load(edge.url, api, c, knee_seconds, tool, None, data)
            sweep.append({"connections": c} | result)
            log(f"  knee: {c} connections: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms, errors {result['errors']}")
        return {"targets": out, "checks": checks, "sweep": sweep, "duration": duration, "rounds": rounds,
                "connections": connections}
    finally:
        for s in reversed(started):
            s.stop()
            s.forget()
        shutil.rmtree(data, ignore_errors=True)


def report(f: dict) -> str:
    t = f["targets"]
    direct = t["catalog direct"]
    rows = []
    for name, x in t.items():
        cpu = x["cpu_us"]
        rows.append([name, fmt(x["rps"], 0), fmt(x["rps"] / direct["rps"], 2), fmt(x["ratio"], 2), fmt(x["p50_ms"], 2),
                     fmt(x["p99_ms"], 2), fmt(sum(cpu.values()), 0),
                     ", ".join(f"{k.removeprefix('bench-chain-')} {v:.0f}" for k, v in cpu.items()), x["errors"]])
    full = t["edge (miss) -> gateway -> balancer -> catalog"]
    full_t = t["edge (miss) -> gateway (token) -> balancer -> catalog"]
    sweep = f["sweep"]
    best = max(sweep, key=lambda s: s["rps"])
    knee = next(s for s in sweep if s["rps"] >= 0.9 * best["rps"])
    sweep_rows = [[s["connections"], fmt(s["rps"], 0), fmt(s["p50_ms"], 2), fmt(s["p99_ms"], 2), s["errors"]]
                  for s in sweep]
    return "\n".join([
        "### The full chain: edge (miss) -> gateway -> balancer -> 2 catalogs, vs catalog direct\n",
        f"{direct['tool']}, {f['duration']:g} s per run, median of {f['rounds']} interleaved rounds, GET product 1. "
        "Misses: every request a new URL (a wrk Lua script), so the edge fetches each one from the gateway "
        f"(X-Cache of a new URL, asked twice: {f['checks']['no token']} without a token, "
        f"{f['checks']['token']} with one; the hit row: {f['checks']['hit']}). "
        "'vs direct': the ratio of the medians; 'per round': each round's ratio (the same minutes of the machine), "
        "median over rounds. 'CPU us/request': each process "
        "group's user+system time over the run per request (catalog-1 and -2 share the balancer's requests); "
        "nothing pinned, wrk on the same 2 cores.\n",
        table(["path", "req/s", "vs direct", "vs direct, per round", "p50 ms", "p99 ms", "CPU us/req, all", "CPU us/req by process",
               "errors"], rows, align="lrrrrrrll"),
        "",
        f"**the full chain (edge miss, no token): {full['rps'] / direct['rps']:.2f} of direct throughput; "
        f"with the token check: {full_t['rps'] / direct['rps']:.2f}** (goal: at least 0.3); p99 "
        f"{full['p99_ms'] / direct['p99_ms']:.1f}x direct's; the same round's ratio, median over rounds: "
        f"{full['ratio']:.2f} and {full_t['ratio']:.2f}. CPU per request: the chain "
        f"{sum(full['cpu_us'].values()):.0f} us in all, direct {sum(direct['cpu_us'].values()):.0f} us "
        f"({sum(direct['cpu_us'].values()) / sum(full['cpu_us'].values()):.2f}); the machine's "
        f"{os.cpu_count()} cores, if the chain had them to itself, would carry at most "
        f"{os.cpu_count() / sum(full['cpu_us'].values()) * 1e6:.0f} req/s of it\n",
        f"Capacity at the knee (the full chain, edge miss, no token; {sweep[-1]['tool'].split(' -c')[0]}, "
        "2 s per step, one run):\n",
        table(["connections", "req/s", "p50 ms", "p99 ms", "errors"], sweep_rows),
        "",
        f"**knee: {knee['rps']:.0f} req/s at {knee['connections']} connections (p99 {knee['p99_ms']:.2f} ms), "
        f"90% of the best seen ({best['rps']:.0f} req/s at {best['connections']})**\n",
        f"_{machine_line()}_",
    ])


def main(argv=None) -> None:
    p = load_options(__doc__)
    args = p.parse_args(argv)
    print(f"# the full chain{' (quick)' if args.quick else ''}\n\n{machine_line()}\n", flush=True)
    figures = measure(duration=args.duration or (2.0 if args.quick else 5.0),
                      rounds=args.rounds or (1 if args.quick else 3), connections=args.connections,
                      tool=args.loadgen,
                      quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
                      knee=(1, 4, 16) if args.quick else (1, 2, 4, 8, 16, 32, 64),
                      log=lambda s: print(s, flush=True))
    print()
    print(report(figures))


if __name__ == "__main__":
    main()
