"""What the whole system costs: the memory of every process of `microcosm.up()` and the time it takes to start.

    python bench/system_memory.py               # 3 rounds
    python bench/system_memory.py --rounds 1    # quicker

Each round starts the whole system (microcosm/system/whole.py) with `microcosm.up()` and times it until every
component answers; the baseline is the same topology started one instance at a time (`up(parallel=False)`),
in the same run, alternating with it. After a start the system gets a little traffic (a shopper through the
CDN's page and the gateway: log in, products, an order the broker's consumers act on), settles for a second,
and each process's memory is read: RSS and PSS summed over its process group (common.group_memory: the server
and any workers), and USS with psutil. RSS counts shared pages (the Python interpreter's, libraries') in every
process; PSS splits them between the processes that share them, so the PSS total is what the system costs the
machine. This process (where a notebook's kernel would be) is not counted, and neither is JupyterLab; the
terminal command's supervisor (`python -m microcosm up`), which stands in for the kernel outside notebooks, is
measured once and shown apart. Goal (issue 17): under 700 MB for the system. Figures, not tests: nothing asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, group_memory, machine_line, median, table  # noqa: E402

GOAL_MB = 700
PASSWORD = "correct horse battery staple"


def some_traffic(system) -> None:
    """A shopper's visit, so the memory is that of a system that has served, not an idle one."""
    import requests

    from microcosm.clients import Client

    for path in ("/", "/config.json", "/shop.js"):
        requests.get(system["cdn"].url + path, timeout=10)
    gateway = system["gateway"].url + "/api"
    name = f"bench{uuid.uuid4().hex[:6]}"
    system["identity"].post("/users", json={"username": name, "password": PASSWORD})
    shopper = Client(gateway, token=Client(gateway).login(name, PASSWORD))
    for _ in range(20):
        shopper.get("/products")
    order = shopper.place_order(product_id=1, quantity=1)
    deadline = time.monotonic() + 10
    while shopper.order(order["id"])["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)


def memory_of(system) -> list[dict]:
    import psutil

    rows = []
    for process in system.processes():
        group = group_memory(process.pid) or {}
        try:
            uss = psutil.Process(process.pid).memory_full_info().uss / 2**20
        except psutil.Error:
            uss = float("nan")
        rows.append({"name": process.name, "kind": process.kind, "rss_mb": group.get("rss_mb", float("nan")),
                     "pss_mb": group.get("pss_mb", float("nan")), "uss_mb": uss, "procs": group.get("procs", 0)})
    return rows


def supervisor_memory() -> dict:
    """The terminal command's supervisor, up in the background, and the system it runs: its own RSS and PSS."""
    folder = tempfile.mkdtemp(prefix="microcosm-bench-system-")
    env = dict(os.environ, MICROCOSM_STATE=os.path.join(folder, "system.json"))
    env.pop("MICROCOSM_PARENT_PID", None)
    command = [sys.executable, "-m", "microcosm"]
    subprocess.run(command + ["up", "--detach"], env=env, cwd=REPO, check=True, capture_output=True)
    try:
        with open(env["MICROCOSM_STATE"]) as f:
            state = json.load(f)
        time.sleep(1.0)
        return group_memory(state["pid"]) or {}
    finally:
        subprocess.run(command + ["down"], env=env, cwd=REPO, capture_output=True)


def measure(rounds: int = 3, log=print) -> dict:
    import microcosm
    from microcosm.runtime.infra import REDIS_ENV, ZK_ENV

    for name in (REDIS_ENV, ZK_ENV):
        os.environ.pop(name, None)  # our own Redis and ZooKeeper: they are part of what is measured
    os.chdir(REPO)
    figures: dict = {"parallel_s": [], "sequential_s": [], "memory": [], "kernel_rss_mb": None}
    microcosm.down()
    for i in range(rounds):
        for parallel in (True, False):
            system = microcosm.up(parallel=parallel)
            seconds = system.start_seconds
            (figures["parallel_s"] if parallel else figures["sequential_s"]).append(seconds)
            log(f"  round {i + 1}: {'parallel' if parallel else 'one at a time'} up in {seconds:.2f} s")
            if parallel:
                some_traffic(system)
                time.sleep(1.0)
                figures["memory"].append(memory_of(system))
                import psutil

                figures["kernel_rss_mb"] = psutil.Process().memory_info().rss / 2**20
            microcosm.down()
    figures["supervisor"] = supervisor_memory()
    return figures


def report(figures: dict) -> str:
    rounds = figures["memory"]
    names = [r["name"] for r in rounds[0]]
    per = {n: {k: median([next(r[k] for r in run if r["name"] == n) for run in rounds])
               for k in ("rss_mb", "pss_mb", "uss_mb")} for n in names}
    base = per["catalog-1"]["pss_mb"]
    rows = [[n, next(r["kind"] for r in rounds[0] if r["name"] == n), f"{p['rss_mb']:.1f}", f"{p['pss_mb']:.1f}",
             f"{p['uss_mb']:.1f}", f"{p['pss_mb'] / base:.2f}"] for n, p in per.items()]
    totals = {k: [sum(r[k] for r in run) for run in rounds] for k in ("rss_mb", "pss_mb", "uss_mb")}
    rows.append([f"**total ({len(names)} processes)**", "", f"{median(totals['rss_mb']):.0f}",
                 f"{median(totals['pss_mb']):.0f}", f"{median(totals['uss_mb']):.0f}", ""])
    par, seq = median(figures["parallel_s"]), median(figures["sequential_s"])
    sup = figures.get("supervisor") or {}
    out = [
        "### The whole system: memory and start time (`bench/system_memory.py`)", "",
        f"{len(rounds)} round(s), medians. PSS × is against catalog-1 (the smallest service).", "",
        table(["process", "kind", "RSS MB", "PSS MB", "USS MB", "PSS ×"], rows, align="llrrrr"), "",
        f"- **Total: {median(totals['rss_mb']):.0f} MB RSS, {median(totals['pss_mb']):.0f} MB PSS** against the "
        f"goal of {GOAL_MB} MB: RSS is {median(totals['rss_mb']) / GOAL_MB:.2f} of it, PSS "
        f"{median(totals['pss_mb']) / GOAL_MB:.2f} (ranges over rounds: RSS {min(totals['rss_mb']):.0f}-"
        f"{max(totals['rss_mb']):.0f}, PSS {min(totals['pss_mb']):.0f}-{max(totals['pss_mb']):.0f}).",
        f"- **Start, until every component answers:** {par:.2f} s in parallel (up()), {seq:.2f} s one instance "
        f"at a time: parallel takes {par / seq:.2f} of the time (runs: parallel "
        f"{', '.join(f'{s:.2f}' for s in figures['parallel_s'])}; one at a time "
        f"{', '.join(f'{s:.2f}' for s in figures['sequential_s'])}).",
        f"- Not counted: this process, where the notebook's kernel would be ({figures['kernel_rss_mb'] or 0:.0f} MB "
        f"RSS); the terminal command's supervisor, which takes the kernel's place outside notebooks: "
        f"{sup.get('rss_mb', float('nan')):.0f} MB RSS, {sup.get('pss_mb', float('nan')):.0f} MB PSS.",
    ]
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    figures = measure(args.rounds)
    print(f"{machine_line()}\n\n{report(figures)}")


if __name__ == "__main__":
    main()
