"""The CDN edge vs nginx's proxy_cache, in front of the same catalog, side by side in one run (issue 16).

    python bench/cdn_vs_nginx.py [--quick] [--duration S] [--rounds N] [--connections C] [--no-conformance]

One catalog (waitress, max_age=3600 so nothing expires during a run) is the origin. In front of it: Debian's
nginx (/usr/sbin/nginx, the same start-up as bench/balancer_vs_nginx.py, with a `proxy_cache` zone in its temp
prefix, `proxy_cache_revalidate` and `proxy_cache_lock` on) and microcosm's edge (`microcosm.launch("cdn",
origin=...)`: see launch_edge below; without it, the tables say why and give nginx's figures).

- **Hits**: `GET /products/1`, stored after one warm-up request, loaded by wrk (or the Python load generator)
  with C keep-alive connections, each cache and the origin direct taking turns over N rounds (median): req/s,
  p50, p99, CPU per request. Goals for the edge: at least 0.6 of nginx's hit throughput, p99 at most 2x.
- **Misses**: one connection at about 50 requests/s, every request a new URL (`/products/1?miss=<n>`), so each
  one is a miss that goes to the origin and is stored: p50 and p99, and what the cache adds over the origin
  asked directly.
- **Conformance** (bench/cache_conformance.py): the same probe requests through each cache to a probe origin;
  where each departs from RFC 9111.

Every process runs with traffic recording and access logs off. Figures, not tests: nothing asserts.
"""
from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cache_conformance  # noqa: E402
import loadgen  # noqa: E402
from microcosm.runtime.nginx import NGINX, NGINX_CACHE_CONF, cached_nginx  # noqa: E402,F401 - bench/run.py reads NGINX
from common import CpuMeter, fmt, load_options, machine_line, median, table, wait_quiet  # noqa: E402

import microcosm  # noqa: E402
import requests  # noqa: E402

PATH = "/products/1"
HERE = os.path.dirname(os.path.abspath(__file__))

# --- THE EDGE'S SIDE ------------------------------------------------------------------------------------
def launch_edge(origin_url: str, name: str = "bench-cdn"):
    """microcosm's edge cache in front of `origin_url`: (Service, "") or (None, why not)."""
    try:
        importlib.import_module("microcosm.services.cdn")
    except ImportError as exc:
        return None, f"not built yet ({exc})"
    try:
        return microcosm.launch("cdn", name, origin=origin_url, traffic=False, access_log=False), ""
    except Exception as exc:  # noqa: BLE001 - a bench reports what failed and carries on with nginx
        return None, f"did not start: {str(exc).splitlines()[0][:200]}"


# --- measuring ------------------------------------------------------------------------------------------
def stop_all(nginx, started: list) -> None:
    if nginx is not None:
        nginx.stop()
    for s in reversed(started):
        s.stop()
        s.forget()


def x_cache(url: str) -> str:
    return requests.get(url, timeout=10).headers.get("X-Cache", "-")


def measure(duration=5.0, rounds=3, connections=16, tool="auto", quiet_wait=10.0, miss_seconds=5.0, log=print):
    data_dir = tempfile.mkdtemp(prefix="microcosm-bench-cdn-")
    started, nginx = [], None
    try:
        origin = microcosm.launch("catalog", "bench-cdn-origin", data_dir=data_dir, max_age=3600, traffic=False,
                                  access_log=False)
        started.append(origin)
        nginx = cached_nginx(origin.url)
        edge, why = launch_edge(origin.url)
        if edge is not None:
            started.append(edge)
        log(f"  edge: {'running at ' + edge.url if edge else why}")
        targets = {"origin direct (catalog)": origin, "nginx proxy_cache": nginx} | ({"microcosm edge": edge} if edge else {})
        for target in targets.values():  # warm up: stored in each cache, pools filled
            loadgen.run(target.url + PATH, connections, 1.0, tool)
        said = {name: x_cache(t.url + PATH) for name, t in targets.items()}
        log(f"  after the warm-up, X-Cache: {said}")
        runs = {name: [] for name in targets}
        for r in range(rounds):
            for name, target in targets.items():
                wait_quiet(quiet_wait)
                with CpuMeter(target.pid) as cpu:
                    result = loadgen.run(target.url + PATH, connections, duration, tool)
                result["cpu_us"] = cpu.server / max(1, result["requests"]) * 1e6
                runs[name].append(result)
                log(f"  round {r + 1}: {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms, errors {result['errors']}")
        hits = {name: {k: median([x[k] for x in rs]) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
                | {"errors": sum(x["errors"] for x in rs), "tool": rs[0]["tool"], "x_cache": said[name]}
                for name, rs in runs.items()}
        misses = {}
        for name, target in targets.items():
            wait_quiet(quiet_wait)
            tag = time.time_ns()
            misses[name] = loadgen.paced_latency(target.url, lambda n: f"{PATH}?miss={tag}-{n}", rate=50,
                                                 seconds=miss_seconds)
            misses[name]["x_cache"] = x_cache(f"{target.url}{PATH}?miss={tag}-first")  # a new URL: a miss
            log(f"  misses: {name}: p50 {misses[name]['p50_ms']:.2f} ms, p99 {misses[name]['p99_ms']:.2f} ms, "
                f"a new URL: X-Cache {misses[name]['x_cache']}")
        return {"hits": hits, "misses": misses, "edge": why, "duration": duration, "rounds": rounds}
    finally:
        stop_all(nginx, started)
        shutil.rmtree(data_dir, ignore_errors=True)


def conformance_section(log=print) -> str:
    """The probes (bench/cache_conformance.py) through nginx and the edge, to the probe origin."""
    started, nginx = [], None
    try:
        origin = microcosm.launch(os.path.join(HERE, "cache_probe_origin.py"), "bench-cache-probe-origin",
                                  traffic=False, access_log=False)
        started.append(origin)
        nginx = cached_nginx(origin.url, workers="1")
        results = {"nginx": cache_conformance.run_all(nginx.url, origin.url)}
        edge, why = launch_edge(origin.url, "bench-cdn-probe")
        if edge is not None:
            started.append(edge)
            results["edge"] = cache_conformance.run_all(edge.url, origin.url)
        log(f"  conformance: ran {len(cache_conformance.PROBES)} probes through {', '.join(results)}")
        return (f"Conformance (same requests through each cache; X-Cache as each reports it)"
                f"{'' if edge else f'; edge: {why}'}:\n\n" + cache_conformance.report(results))
    finally:
        stop_all(nginx, started)


def report(f: dict) -> str:
    hits, misses = f["hits"], f["misses"]
    ng, direct = hits["nginx proxy_cache"], hits["origin direct (catalog)"]
    rows = [[name, x["x_cache"], fmt(x["rps"], 0), fmt(x["rps"] / ng["rps"], 2), fmt(x["rps"] / direct["rps"], 2),
             fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2), fmt(x["p99_ms"] / ng["p99_ms"], 2), fmt(x["cpu_us"], 0),
             x["errors"]] for name, x in hits.items()]
    d = misses["origin direct (catalog)"]
    miss_rows = [[name, fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2),
                  fmt(x["p50_ms"] - d["p50_ms"], 2) if x is not d else "",
                  fmt(x["p99_ms"] - d["p99_ms"], 2) if x is not d else "", x["x_cache"], x["errors"]]
                 for name, x in misses.items()]
    lines = [f"## CDN edge vs nginx proxy_cache (one catalog origin, GET {PATH})\n",
             f"Hits: {ng['tool']}, {f['duration']:g} s per run, median of {f['rounds']} interleaved rounds; "
             f"'CPU us/req': CPU the server (the cache, or the origin direct) used per request.\n",
             table(["target", "X-Cache", "req/s", "vs nginx", "vs origin", "p50 ms", "p99 ms", "p99 vs nginx", "CPU us/req",
                    "errors"], rows), ""]
    edge = hits.get("microcosm edge")
    if edge is None:
        lines.append(f"**edge: {f['edge']}**; nginx's hits: {ng['rps'] / direct['rps']:.1f}x the origin's "
                     f"throughput, p99 {ng['p99_ms']:.2f} ms vs {direct['p99_ms']:.2f} ms direct.\n")
    else:
        lines.append(f"**edge hits: {edge['rps'] / ng['rps']:.2f} of nginx's throughput** (goal: at least 0.6); "
                     f"**p99 {edge['p99_ms'] / ng['p99_ms']:.2f}x nginx's** (goal: at most 2x)\n")
    lines += ["Misses (one connection, about 50 requests/s, a new URL each time):\n",
              table(["path", "p50 ms", "p99 ms", "+p50 ms vs direct", "+p99 ms vs direct", "X-Cache (a new URL)", "errors"],
                    miss_rows)]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = load_options(__doc__)
    p.add_argument("--no-conformance", action="store_true", help="throughput and latency only")
    args = p.parse_args(argv)
    print(f"# CDN edge vs nginx{' (quick)' if args.quick else ''}\n\n{machine_line()}\n", flush=True)
    figures = measure(duration=args.duration or (2.0 if args.quick else 5.0),
                      rounds=args.rounds or (1 if args.quick else 3), connections=args.connections, tool=args.loadgen,
                      quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
                      miss_seconds=2.0 if args.quick else 5.0, log=lambda s: print(s, flush=True))
    sections = [report(figures)]
    if not args.no_conformance:
        sections.append(conformance_section(log=lambda s: print(s, flush=True)))
    print()
    print("\n\n".join(sections))


__all__ = ["NGINX", "NGINX_CACHE_CONF", "cached_nginx", "conformance_section", "launch_edge", "measure", "report"]

if __name__ == "__main__":
    main()
