"""The live monitor's own CPU, idle and under load, measured several times over (issue 11's figure).

    python bench/monitor_cpu.py [--repeat 3] [--duration 8]

A kernel-like process runs `Monitor(...)`'s refresh loop (3 times a second, as `microcosm.monitor()` does)
against this process's Redis, while bench/hop_recording.py's three-hop chain (client -> a -> b -> c, hop
recording on) is idle, then under load from the load generator. Each repeat measures both phases with a fresh
monitor; the report gives every run, the median and the spread, and the limits issue 11 set: no worse than
twice the figures before the redesign (0.002 cores idle, 0.061 cores at 785 hops/s), with the load figure also
per 1,000 hops/s, since a busy machine records fewer hops in the same seconds.

Figures, not tests. On 2 cores the load generator, three services, Redis and the monitor share the CPU:
run it when the machine is otherwise quiet, and read the load average printed with each run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from common import group_cpu_seconds, machine_line, median, table  # noqa: E402
from hop_recording import MONITOR, _chain  # noqa: E402

import microcosm  # noqa: E402

REFERENCE = {"idle": 0.002, "load": 0.061, "load_hops": 785}  # before the redesign (bench/RESULTS.md)
LIMIT = 2.0  # issue 11: no worse than twice the reference


def one_run(entry_url: str, duration: float, connections: int, tool: str) -> dict:
    """A fresh monitor process; its CPU over `duration` idle, then over `duration` of load."""
    mon = subprocess.Popen([sys.executable, "-c", MONITOR, microcosm.redis().url], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        mon.stdout.readline()
        time.sleep(1.0)  # past its first refresh and its imports
        out = {"load average": os.getloadavg()[0]}
        before, t0 = group_cpu_seconds(mon.pid), time.perf_counter()
        time.sleep(duration)
        out["idle"] = (group_cpu_seconds(mon.pid) - before) / (time.perf_counter() - t0)
        before, t0 = group_cpu_seconds(mon.pid), time.perf_counter()
        rps = loadgen.run(entry_url + "/chain", connections, duration, tool)["rps"]
        out["load"] = (group_cpu_seconds(mon.pid) - before) / (time.perf_counter() - t0)
        out["hops_per_s"] = rps * 3
        return out
    finally:
        mon.kill()
        mon.wait()


def measure(repeat: int, duration: float, connections: int = 8, tool: str = "auto", log=print) -> list[dict]:
    tool = loadgen.available(tool)
    data = tempfile.mkdtemp(prefix="microcosm-bench-monitor-")
    runs = []
    try:
        entry = _chain("mon", True, data)
        loadgen.run(entry.url + "/chain", connections, 1.0, tool)  # warm-up
        for i in range(repeat):
            runs.append(one_run(entry.url, duration, connections, tool))
            r = runs[-1]
            log(f"  run {i + 1}/{repeat}: load average {r['load average']:.1f}; idle {r['idle']:.4f} cores; "
                f"under load {r['load']:.4f} cores at {r['hops_per_s']:.0f} hops/s", flush=True)
    finally:
        microcosm.stop_all()
    return runs


def report(runs: list[dict], duration: float) -> str:
    per_k = [r["load"] / r["hops_per_s"] * 1000 for r in runs if r["hops_per_s"]]
    ref_k = REFERENCE["load"] / REFERENCE["load_hops"] * 1000

    def row(name, values, ref, digits=4):
        return [name, " / ".join(f"{v:.{digits}f}" for v in values), f"{median(values):.{digits}f}",
                f"{min(values):.{digits}f}–{max(values):.{digits}f}", f"{ref:.{digits}f}", f"{LIMIT * ref:.{digits}f}",
                "yes" if median(values) <= LIMIT * ref else "NO"]

    rows = [row("idle (cores)", [r["idle"] for r in runs], REFERENCE["idle"]),
            row("under load (cores)", [r["load"] for r in runs], REFERENCE["load"]),
            row("under load, per 1,000 hops/s", per_k, ref_k),
            row("hops/s recorded", [r["hops_per_s"] for r in runs], REFERENCE["load_hops"], 0)]
    rows[-1][-2:] = ["", ""]
    return "\n".join([f"### The monitor's own CPU, {len(runs)} runs of {duration:g} s idle + {duration:g} s under load",
                      "", table(["", "each run", "median", "spread", "before", "limit (2x)", "within"], rows)])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    args = p.parse_args(argv)
    print(f"# monitor CPU bench\n\n{machine_line()}\n", flush=True)
    runs = measure(args.repeat, args.duration, tool=args.loadgen)
    print("\n" + report(runs, args.duration))


if __name__ == "__main__":
    main()
