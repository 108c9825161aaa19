"""Which WSGI server should serve a microcosm service? Throughput, latency and memory, side by side.

    python bench/wsgi_servers.py [--quick] [--loadgen wrk|python] [--duration S] [--rounds N]

The same catalog service is launched once per server through `microcosm.launch(..., server=...)`:
Flask's development server (werkzeug, threaded), waitress with 8 threads (microcosm's default) and with 4,
and gunicorn with 2 sync workers. Each is loaded from a separate process (wrk if installed, else a Python
load generator; see loadgen.py) with a fixed number of keep-alive connections, on two routes:

- `GET /health`: the shared service base's trivial route (no database, not in the access log);
- `GET /products/1`: a catalog read that opens its SQLite file, writes an access-log line and queues a hop
  record for Redis (the defaults a learner gets); one more waitress instance runs with `traffic=False`
  (no hop records) to show what recording costs, and one pinned to a single core (the bench pins it with
  sched_setaffinity; microcosm does not), to test whether waitress's threads lose time fighting over the
  GIL from two cores.

Servers take turns (round 1: every server, round 2: every server, ...) and the table gives the median over
rounds, so a burst of other work on the machine hits every server rather than one. Memory is the resident
set of the server's whole process group (gunicorn: master + workers), RSS and PSS (PSS counts pages the
forked workers share with their master once, RSS once per process), idle after start and after the load.

Figures, not tests: nothing here asserts. On a 2-core machine the load generator runs on the same cores as
the server it measures, so absolute numbers are low and the ratios are what to read.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from common import CpuMeter, fmt, group_memory, machine_line, median, table, wait_quiet  # noqa: E402

import microcosm  # noqa: E402  (common.py put this checkout first on sys.path)

# (label, launch keyword arguments). Since 2026-11-26 `launch` keeps each service on one core by default
# (microcosm.serve.pin_to_cpu, because of the figures below); "spread" rows turn that off (MICROCOSM_PIN_CPU=0)
# to show what the default avoids. gunicorn's workers are separate processes: it is never pinned here.
SERVERS = [
    ("flask dev server (threaded), spread", {"server": "flask", "pin": False}),
    ("waitress, 8 threads, spread over cores", {"server": "waitress", "threads": 8, "pin": False}),
    ("waitress, 4 threads, spread over cores", {"server": "waitress", "threads": 4, "pin": False}),
    ("gunicorn, 2 sync workers", {"server": "gunicorn", "pin": False}),
    ("waitress, 8 threads, one core (default)", {"server": "waitress", "threads": 8}),
    ("waitress, 8 threads, one core, traffic=False", {"server": "waitress", "threads": 8, "traffic": False}),
]


PATHS = ["/health", "/products/1"]


def measure(duration: float = 5.0, connections: int = 16, rounds: int = 3, tool: str = "auto",
            servers=SERVERS, paths=PATHS, quiet_wait: float = 0.0, log=print) -> dict:
    """Launch every server, load each path in turns, return raw figures per (server, path) and memory."""
    tool = loadgen.available(tool)
    data = tempfile.mkdtemp(prefix="microcosm-bench-")
    runs: dict[tuple[str, str], list[dict]] = {}
    memory: dict[str, dict] = {}
    launched = {}
    redis_pid = getattr(microcosm.redis(), "pid", None)  # services send their hop records to it
    try:
        for i, (label, kwargs) in enumerate(servers):
            kwargs = dict(kwargs)
            pinned = kwargs.pop("pin", True)
            os.environ["MICROCOSM_PIN_CPU"] = "1" if pinned else "0"
            try:
                name = f"bench-{kwargs['server']}-{i}"
                svc = microcosm.launch("catalog", name=name, data_dir=os.path.join(data, name), **kwargs)
            finally:
                os.environ.pop("MICROCOSM_PIN_CPU", None)
            launched[label] = svc
            for path in paths:  # warm up: imports, first SQLite open, gunicorn workers all booted
                for _ in range(20):
                    svc.get(path)
            time.sleep(0.2)
            memory[label] = {"idle": group_memory(svc.pid)}
        for r in range(rounds):
            for label, svc in launched.items():
                for path in paths:
                    if quiet_wait:
                        wait_quiet(quiet_wait)
                    loadgen.run(svc.url + path, connections, min(1.0, duration), tool)  # warm-up, not kept
                    with CpuMeter(svc.pid, redis_pid) as cpu:
                        result = loadgen.run(svc.url + path, connections, duration, tool)
                    result["server_cpu_ms"] = cpu.server * 1000 / max(1, result["requests"])
                    result["server_cores"] = cpu.cores(cpu.server)
                    result["redis_cores"] = cpu.cores(cpu.extra)
                    result["loadgen_cores"] = cpu.cores(cpu.loadgen)
                    result["other_cores"] = cpu.cores(cpu.other)
                    runs.setdefault((label, path), []).append(result)
                    log(f"  round {r + 1}/{rounds}  {label:<30} {path:<12} {result['rps']:6.0f} req/s  "
                        f"p50 {result['p50_ms']:5.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                        f"server {result['server_cpu_ms']:.2f} CPU-ms/req  cores: server {result['server_cores']:.2f} "
                        f"redis {result['redis_cores']:.2f} "
                        f"loadgen {result['loadgen_cores']:.2f} other {result['other_cores']:.2f}  "
                        f"errors {result['errors']}")
                after = group_memory(svc.pid)
                prev = memory[label].get("loaded")
                if after and (not prev or after["rss_mb"] > prev["rss_mb"]):
                    memory[label]["loaded"] = after
    finally:
        microcosm.stop_all()  # the services, then the Redis they recorded hops to
        shutil.rmtree(data, ignore_errors=True)
    return {"runs": runs, "memory": memory, "tool": tool, "connections": connections, "duration": duration,
            "rounds": rounds, "servers": list(launched), "paths": list(paths)}


def _slow_runs(rs: list[dict]) -> str:
    """Runs where the server spent 3x or more CPU per request than in its best run (GIL thrashing, see
    RESULTS.md): "k/n"."""
    best = min(r["server_cpu_ms"] for r in rs)
    return f"{sum(r['server_cpu_ms'] >= 3 * best for r in rs)}/{len(rs)}"


def report(figures: dict) -> str:
    runs, memory = figures["runs"], figures["memory"]
    tool_line = next(iter(runs.values()))[0]["tool"] if runs else figures["tool"]
    out = [f"### WSGI servers: catalog under load ({figures['connections']} connections, "
           f"{figures['duration']:g} s per run, median of {figures['rounds']} interleaved round(s))", "",
           f"Load generator: {tool_line}, a separate process on the same {os.cpu_count()} cores as the server "
           f"(it competes with the server for CPU; compare ratios, not absolute numbers). "
           f"\"cores\" columns: CPU used during the run by the server's process group, by the kernel's Redis that "
           f"the service sends its hop records to (off the request path, in batches), by the load generator, "
           f"and by everything else on the machine (other work = noise); \"server CPU ms/req\" is the server's "
           f"CPU time per answered request, the figure least disturbed by that noise; \"slow runs\": runs in "
           f"which the server spent 3x or more of its best CPU time per request.", ""]
    for path in figures["paths"]:
        rows = []
        best = max(median(r["rps"] for r in runs[(label, path)]) for label in figures["servers"])
        for label in figures["servers"]:
            rs = runs[(label, path)]
            rps = median(r["rps"] for r in rs)
            spread = f"{min(r['rps'] for r in rs):,.0f}-{max(r['rps'] for r in rs):,.0f}" if len(rs) > 1 else ""
            rows.append([label, fmt(rps, 0), spread, f"{rps / best:.2f}", fmt(median(r["p50_ms"] for r in rs)),
                         fmt(median(r["p99_ms"] for r in rs)), fmt(median(r["server_cpu_ms"] for r in rs), 2),
                         fmt(median(r["server_cores"] for r in rs), 2), fmt(median(r["redis_cores"] for r in rs), 2),
                         fmt(median(r["loadgen_cores"] for r in rs), 2),
                         fmt(median(r["other_cores"] for r in rs), 2), _slow_runs(rs), sum(r["errors"] for r in rs)])
        out += [f"`GET {path}`", "",
                table(["server", "req/s", "range", "vs fastest", "p50 ms", "p99 ms", "server CPU ms/req",
                       "server cores", "redis cores", "loadgen cores", "other cores", "slow runs", "errors"], rows), ""]
    rows = []
    for label in figures["servers"]:
        idle, loaded = memory[label].get("idle"), memory[label].get("loaded") or {}
        if not idle:
            rows.append([label, "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        rows.append([label, idle["procs"], fmt(idle["rss_mb"]), fmt(idle["pss_mb"]),
                     fmt(loaded.get("rss_mb", float("nan"))), fmt(loaded.get("pss_mb", float("nan")))])
    out += ["Memory of each server's process group (MB):", "",
            table(["server", "processes", "RSS idle", "PSS idle", "RSS after load", "PSS after load"], rows)]
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 s per run, 1 round")
    p.add_argument("--duration", type=float, help="seconds per run (default 5)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--quiet-wait", type=float, help="before each run, wait up to S seconds for the machine "
                                                      "to be idle (default 10, --quick 0)")
    args = p.parse_args(argv)
    duration = args.duration or (2.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    quiet = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0)
    print(machine_line(), flush=True)
    figures = measure(duration, args.connections, rounds, args.loadgen, quiet_wait=quiet,
                      log=lambda s: print(s, flush=True))
    print()
    print(report(figures))
    print(f"\nfinished {machine_line()}")


if __name__ == "__main__":
    main()
