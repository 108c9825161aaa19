"""How long a cell waits: from `launch(...)` to a service that answers, and the first start of Redis and ZooKeeper.

    python bench/launch_time.py [--quick] [--repeat N]

- baseline: a bare `python -c pass`, and `python -c "import flask"` (what every service pays before its code);
- `microcosm.launch("catalog", server=...)` until `GET /health` answers, for each server, median of N (the
  kernel's Redis already running), and once as a kernel's first launch, which also starts that Redis;
- `microcosm.redis()` and `microcosm.zookeeper()` from nothing until ready (Redis answers PING, ZooKeeper
  answers `ruok`), then the first kazoo session on that ZooKeeper; and their memory once started.

MICROCOSM_REDIS_URL / MICROCOSM_ZK_HOSTS are ignored here (they would make redis()/zookeeper() attach
instead of start). Figures, not tests: nothing here asserts.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fmt, group_memory, machine_line, median, table  # noqa: E402

import microcosm  # noqa: E402
from microcosm.runtime.infra import REDIS_ENV, ZK_ENV  # noqa: E402

SERVERS = ["waitress", "gunicorn", "flask"]


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t0) * 1000, value


def _stats(ms: list[float]) -> dict:
    return {"median": median(ms), "min": min(ms), "max": max(ms), "n": len(ms)}


def _settled_memory(pid: int, procs: int, wait: float = 5.0) -> dict | None:
    """Memory once all `procs` processes exist (gunicorn answers /health before its last worker booted)."""
    deadline = time.monotonic() + wait
    while True:
        mem = group_memory(pid)
        if mem is None or mem["procs"] >= procs or time.monotonic() > deadline:
            time.sleep(0.2)
            return group_memory(pid)
        time.sleep(0.05)


def measure(repeat: int = 5, infra_repeat: int = 3, log=print) -> dict:
    for var in (REDIS_ENV, ZK_ENV):
        os.environ.pop(var, None)
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # "connection dropped" when we stop the server
    rows: dict[str, dict] = {}
    memory: dict[str, dict | None] = {}

    for label, code in [("python -c pass (baseline)", "pass"), ('python -c "import flask"', "import flask")]:
        ms = [_timed(lambda: subprocess.run([sys.executable, "-c", code], check=True))[0] for _ in range(repeat)]
        rows[label] = _stats(ms)
        log(f"  {label:<40} median {rows[label]['median']:7.0f} ms")

    data = tempfile.mkdtemp(prefix="microcosm-bench-launch-")
    try:
        # Infrastructure first, from nothing; each start is a first start (stopped and forgotten after).
        for what, start in [("redis", microcosm.redis), ("zookeeper", microcosm.zookeeper)]:
            ms, connect_ms = [], []
            for i in range(infra_repeat):
                took, server = _timed(start)
                ms.append(took)
                if what == "zookeeper":
                    took_client, client = _timed(server.client)
                    client.stop()
                    client.close()
                else:
                    took_client, _ = _timed(lambda: server.client().ping())
                connect_ms.append(took_client)
                if i == 0:
                    memory[what] = group_memory(server.pid)
                server.stop()
                server.forget()
            rows[f"microcosm.{what}() first start"] = _stats(ms)
            rows[f"  then first {'kazoo session' if what == 'zookeeper' else 'redis-py PING'}"] = _stats(connect_ms)
            log(f"  microcosm.{what}() first start{'':<12} median {median(ms):7.0f} ms")

        # The kernel's first launch also starts the Redis that services record their hops to.
        took, svc = _timed(lambda: microcosm.launch("catalog", name="bench-first", data_dir=os.path.join(data, "first")))
        svc.stop()
        svc.forget()
        rows['first launch("catalog") in a kernel (starts Redis too)'] = _stats([took])
        log(f"  first launch in a kernel{'':<16} {took:7.0f} ms")

        for server in SERVERS:
            ms = []
            for i in range(repeat):
                name = f"bench-launch-{server}"
                took, svc = _timed(lambda: microcosm.launch("catalog", name=name, server=server,
                                                            data_dir=os.path.join(data, name)))
                ms.append(took)
                if i == 0:
                    memory[f"catalog ({server})"] = _settled_memory(svc.pid, 3 if server == "gunicorn" else 1)
                svc.stop()
                svc.forget()
            label = f'launch("catalog", server="{server}")'
            rows[label] = _stats(ms)
            log(f"  {label:<40} median {rows[label]['median']:7.0f} ms")
    finally:
        microcosm.stop_all()
        shutil.rmtree(data, ignore_errors=True)
    return {"rows": rows, "memory": memory, "repeat": repeat, "infra_repeat": infra_repeat}


def report(figures: dict) -> str:
    rows = figures["rows"]
    base = rows["python -c pass (baseline)"]["median"]
    lines = [f"### Launch time: from the call until ready (median of {figures['repeat']}; "
             f"Redis/ZooKeeper median of {figures['infra_repeat']})", "",
             "Readiness is polled (every 10 ms at first, backing off to 200 ms), so a launch can read up to one "
             "poll interval late.", "",
             table(["what", "median ms", "min ms", "max ms", "vs bare python"],
                   [[label, fmt(r["median"], 0), fmt(r["min"], 0), fmt(r["max"], 0), f"{r['median'] / base:.1f}x"]
                    for label, r in rows.items()]), ""]
    mem_rows = [[label, m["procs"], fmt(m["rss_mb"]), fmt(m["pss_mb"])] if m else [label, "n/a", "n/a", "n/a"]
                for label, m in figures["memory"].items()]
    lines += ["Memory right after start (MB, summed over the process group):", "",
              table(["process", "processes", "RSS", "PSS"], mem_rows)]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 launches per server, 1 start of Redis/ZooKeeper")
    p.add_argument("--repeat", type=int, help="launches per server (default 7)")
    args = p.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    print(machine_line(), flush=True)
    figures = measure(repeat, 1 if args.quick else 3, log=lambda s: print(s, flush=True))
    print()
    print(report(figures))


if __name__ == "__main__":
    main()
