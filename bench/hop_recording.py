"""What recording every hop costs, and what the live monitor costs.

    python bench/hop_recording.py [--quick]

1. Throughput of a three-hop chain (client -> a -> b -> c, each its own service process, every request
   crossing all three) with hop recording on (the default: each service queues a record per hop and a
   background thread ships batches to Redis) and off (`traffic=False`), side by side in interleaved rounds.
   Target: recording costs under 5 % of throughput.
2. The monitor's own CPU use (a kernel-like process running `microcosm.monitor()`'s refresh loop) while
   the system is idle and while the chain is under load.

Figures, not tests. On 2 cores the load generator, three services, Redis and the monitor share the CPU.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from common import fmt, group_cpu_seconds, machine_line, median, table  # noqa: E402

import microcosm  # noqa: E402

CHAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chain_service.py")


def _chain(prefix: str, traffic: bool, data: str):
    c = microcosm.launch(CHAIN, name=f"{prefix}-c", traffic=traffic, access_log=False, data_dir=data)
    b = microcosm.launch(CHAIN, name=f"{prefix}-b", next_url=c.url, traffic=traffic, access_log=False, data_dir=data)
    a = microcosm.launch(CHAIN, name=f"{prefix}-a", next_url=b.url, traffic=traffic, access_log=False, data_dir=data)
    assert a.get("/chain").json() == {"hops": 3}
    return a


MONITOR = textwrap.dedent("""
    import sys, time
    from microcosm.traffic.monitor import Monitor
    import redis
    m = Monitor(redis.Redis.from_url(sys.argv[1]), refresh=0.3)
    print("ready", flush=True)
    time.sleep(3600)
""")


def measure(duration: float = 5.0, rounds: int = 3, connections: int = 8, tool: str = "auto", log=print) -> dict:
    tool = loadgen.available(tool)
    data = tempfile.mkdtemp(prefix="microcosm-bench-hops-")
    runs = {"on": [], "off": []}
    monitor_cpu = {}
    try:
        entries = {"on": _chain("on", True, data), "off": _chain("off", False, data)}
        for r in range(rounds):
            for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
                loadgen.run(entries[mode].url + "/chain", connections, 1.0, tool)  # warm-up
                result = loadgen.run(entries[mode].url + "/chain", connections, duration, tool)
                runs[mode].append(result)
                log(f"  round {r + 1}/{rounds}  recording {mode:<3} {result['rps']:6.0f} req/s  "
                    f"p50 {result['p50_ms']:5.1f} ms  p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}")
        # the monitor: a separate process like a kernel, CPU measured idle and with the chain under load
        mon = subprocess.Popen([sys.executable, "-c", MONITOR, microcosm.redis().url], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
        try:
            mon.stdout.readline()
            for phase in ("idle", "under load"):
                before, t0 = group_cpu_seconds(mon.pid), time.perf_counter()
                if phase == "idle":
                    time.sleep(duration)
                    rps = 0.0
                else:
                    rps = loadgen.run(entries["on"].url + "/chain", connections, duration, tool)["rps"]
                used = group_cpu_seconds(mon.pid) - before
                monitor_cpu[phase] = {"cores": used / (time.perf_counter() - t0), "hops_per_s": rps * 3}
                log(f"  monitor {phase}: {monitor_cpu[phase]['cores']:.3f} cores")
        finally:
            mon.kill()
            mon.wait()
    finally:
        microcosm.stop_all()
    return {"runs": runs, "monitor": monitor_cpu, "duration": duration, "rounds": rounds,
            "connections": connections, "tool": tool}


def report(figures: dict) -> str:
    runs = figures["runs"]
    on, off = median(r["rps"] for r in runs["on"]), median(r["rps"] for r in runs["off"])
    rows = [[f"recording {mode}", fmt(median(r["rps"] for r in runs[mode]), 0),
             f"{median(r['rps'] for r in runs[mode]) / off:.3f}", fmt(median(r["p50_ms"] for r in runs[mode])),
             fmt(median(r["p99_ms"] for r in runs[mode])), sum(r["errors"] for r in runs[mode])]
            for mode in ("off", "on")]
    cost = (1 - on / off) * 100 if off else float("nan")
    out = [f"### Hop recording: a three-hop chain (client -> a -> b -> c), {figures['connections']} connections, "
           f"{figures['duration']:g} s per run, median of {figures['rounds']} interleaved rounds", "",
           table(["chain", "req/s", "vs off", "p50 ms", "p99 ms", "errors"], rows), "",
           f"Recording costs {cost:.1f} % of throughput (target: under 5 %).", "",
           "### The monitor's own CPU (refreshing 3 times a second)", "",
           table(["system", "hops/s recorded", "monitor CPU (cores)"],
                 [[phase, fmt(v["hops_per_s"], 0), f"{v['cores']:.3f}"] for phase, v in figures["monitor"].items()])]
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    args = p.parse_args(argv)
    print(f"# hop recording bench\n\n{machine_line()}\n", flush=True)
    figures = measure(duration=2.0 if args.quick else 5.0, rounds=1 if args.quick else 3, tool=args.loadgen)
    print("\n" + report(figures))


if __name__ == "__main__":
    main()
