"""What the distributed lock costs, what it saves, and what the three-node ensemble costs in memory and time.

    .venv/bin/python bench/coordination_lock.py [--seconds 4] [--rounds 3] [--threads 16]

In one run, side by side:
- **the ensemble**: three ZooKeeper JVMs (runtime/ensemble.py) started from nothing until they agree on a
  leader, and their resident memory (RSS, summed) right after and after 2,000 kazoo writes; the baseline is
  the single standalone server every other chapter uses (`microcosm.zookeeper()`'s settings), started and
  loaded the same way. Also given against Binder's 2 GB.
- **lock throughput**: reservations per second through three flash_sale instances, THREADS client threads
  (keep-alive connections, the instances in turn), a stock too large to run out, `work_ms` 0 (the lock's own
  cost) and 10 (the service's default: a reservation that works while it holds the lock). Without the lock
  (the baseline), with the lock on the standalone server, and with the lock on the ensemble, each on one item
  (every reservation contends for the same lock) and on THREADS items (one lock each). Rounds interleave the
  modes; the table gives the median round.
- **oversell**: the same three instances, a stock of 20, 200 reservations at once (work_ms 10): how many were
  accepted, without and with the lock.
Prints Markdown tables; asserts nothing.
"""
from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import microcosm  # noqa: E402
from common import machine_line, median, table  # noqa: E402
from microcosm.runtime.ensemble import Ensemble  # noqa: E402
from microcosm.runtime.infra import REDIS_ENV, ZK_ENV, ZooKeeperServer  # noqa: E402

BINDER_MB = 2048
BIG_STOCK = 1_000_000


def rss_mb(pid: int | None) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, TypeError, ValueError):
        pass
    return float("nan")


def load_zookeeper(client, writes: int = 2000) -> None:
    """Some real use: `writes` creates and sets, about what a chapter's cells and services do."""
    root = f"/bench/{uuid.uuid4().hex[:8]}"
    client.ensure_path(root)
    for i in range(writes // 2):
        client.create(f"{root}/n-", b"x" * 100, sequence=True)
        client.set(root, str(i).encode())


def infrastructure(log=print) -> dict:
    """Start time and memory: the standalone server (baseline) and the three-node ensemble."""
    figures = {}
    single = ZooKeeperServer(f"bench-zk-single-{uuid.uuid4().hex[:6]}")
    t = time.perf_counter()
    single.start()
    client = single.client()
    figures["single"] = {"start_s": time.perf_counter() - t, "rss_start": rss_mb(single.pid)}
    load_zookeeper(client)
    client.stop()
    client.close()
    figures["single"]["rss_loaded"] = rss_mb(single.pid)
    single.stop()
    single.forget()
    log(f"  standalone: {figures['single']}")
    ens = Ensemble(name=f"bench-ensemble-{uuid.uuid4().hex[:6]}")
    t = time.perf_counter()
    ens.start()
    client = ens.client()
    figures["ensemble"] = {"start_s": time.perf_counter() - t, "rss_start": ens.rss_mb(),
                           "each_start": [n.rss_mb() for n in ens.nodes]}
    load_zookeeper(client)
    client.stop()
    client.close()
    figures["ensemble"]["rss_loaded"] = ens.rss_mb()
    log(f"  ensemble: {figures['ensemble']}")
    figures["ensemble_handle"] = ens  # kept running: the lock on the ensemble is measured below
    return figures


class Rush:
    """THREADS threads, each with a keep-alive connection to one instance, POSTing reservations."""

    def __init__(self, instances, items: list[str], threads: int):
        self.instances, self.items, self.threads = instances, items, threads

    def run(self, seconds: float | None = None, total: int | None = None) -> dict:
        counts = {"201": 0, "409": 0, "other": 0}
        lock = threading.Lock()
        left = [total]
        start = threading.Barrier(self.threads)
        deadline = [0.0]

        def worker(i: int):
            instance = self.instances[i % len(self.instances)]
            conn = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=60)
            body = json.dumps({"item": self.items[i % len(self.items)]}).encode()
            mine = {"201": 0, "409": 0, "other": 0}
            start.wait()
            while True:
                if total is not None:
                    with lock:
                        if left[0] <= 0:
                            break
                        left[0] -= 1
                elif time.perf_counter() >= deadline[0]:
                    break
                try:
                    conn.request("POST", "/reservations", body, {"Content-Type": "application/json"})
                    answer = conn.getresponse()
                    answer.read()
                    status = answer.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=60)
                    status = 0
                key = str(status) if status in (201, 409) else "other"
                mine[key] += 1
            conn.close()
            with lock:
                for k, v in mine.items():
                    counts[k] += v

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.threads)]
        deadline[0] = time.perf_counter() + (seconds or 0) + 0.05
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        return {**counts, "seconds": elapsed, "per_s": counts["201"] / elapsed}


def instances(kind: str, tag: str, **options) -> list:
    return [microcosm.launch("flash_sale", f"bench-sale-{kind}-{i}", traffic=False, access_log=False,
                             key_prefix=f"bench-{tag}-{kind}:", group=f"bench-{tag}-{kind}", **options)
            for i in (1, 2, 3)]


def throughput(modes: dict, threads: int, seconds: float, rounds: int, log=print) -> dict:
    """{(mode, items, work_ms): median reservations/s}, rounds interleaving the modes."""
    results: dict = {}
    for work_ms in (0, 10):
        for n_items in (1, threads):
            items = [f"item-{i}" for i in range(n_items)]
            for rnd in range(rounds):
                for mode, by_work in modes.items():
                    sale = by_work[work_ms]
                    for it in items:
                        sale[0].put(f"/_sale/{it}", json={"stock": BIG_STOCK})
                    figure = Rush(sale, items, threads).run(seconds=seconds)
                    results.setdefault((mode, n_items, work_ms), []).append(figure)
                    log(f"  work {work_ms} ms, {n_items} item(s), round {rnd + 1}, {mode}: "
                        f"{figure['per_s']:,.0f}/s ({figure['other']} errors)")
    return {k: {"per_s": median([f["per_s"] for f in v]), "errors": sum(f["other"] for f in v)}
            for k, v in results.items()}


def oversell(modes: dict, threads: int) -> dict:
    out = {}
    for mode, sale in modes.items():
        sale[10][0].put("/_sale/last-ones", json={"stock": 20})
        figure = Rush(sale[10], ["last-ones"], threads).run(total=200)
        shared = sale[10][0].get("/sale/last-ones").json()
        out[mode] = {"accepted": figure["201"], "refused": figure["409"], "errors": figure["other"], **shared}
    return out


def measure(seconds: float = 4.0, rounds: int = 3, threads: int = 16, log=print) -> dict:
    for var in (REDIS_ENV, ZK_ENV):
        os.environ.pop(var, None)
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    figures: dict = {"threads": threads, "seconds": seconds, "rounds": rounds}
    try:
        log("ensemble vs standalone ...")
        figures["infra"] = infra = infrastructure(log)
        ens = infra.pop("ensemble_handle")
        zk = microcosm.zookeeper()
        tag = uuid.uuid4().hex[:6]
        log("launching 3 x 3 x 2 flash_sale instances ...")
        modes = {}  # mode -> {work_ms: [3 instances]}
        for work_ms in (0, 10):
            for mode, kind, options in (("no lock", "nolock", {"lock": False}),
                                        ("lock, standalone ZooKeeper", "zk1", {"lock": True, "zk": zk.hosts}),
                                        ("lock, 3-node ensemble", "zk3", {"lock": True, "zk": ens.hosts})):
                modes.setdefault(mode, {})[work_ms] = instances(f"{kind}-{work_ms}", tag, work_ms=work_ms,
                                                                lock_timeout=60, **options)
        figures["throughput"] = throughput(modes, threads, seconds, rounds, log)
        figures["oversell"] = oversell({m: modes[m] for m in ("no lock", "lock, standalone ZooKeeper")}, threads)
        figures["modes"] = list(modes)
    finally:
        microcosm.stop_all()
    return figures


def report(f: dict) -> str:
    single, ens = f["infra"]["single"], f["infra"]["ensemble"]
    lines = ["### ZooKeeper: the three-node ensemble against the standalone server", "",
             table(["server", "start until ready s", "RSS at start MB", "RSS after 2,000 writes MB",
                    "vs standalone", "of Binder's 2 GB"],
                   [["standalone (every other chapter)", f"{single['start_s']:.2f}", f"{single['rss_start']:.0f}",
                     f"{single['rss_loaded']:.0f}", "1.00", f"{single['rss_loaded'] / BINDER_MB:.1%}"],
                    ["3-node ensemble (3 JVMs, until a leader is elected)", f"{ens['start_s']:.2f}",
                     f"{ens['rss_start']:.0f}", f"{ens['rss_loaded']:.0f}",
                     f"{ens['rss_loaded'] / single['rss_loaded']:.2f}", f"{ens['rss_loaded'] / BINDER_MB:.1%}"]]),
             "", "Start time includes a first kazoo session. The JVMs run with -Xmx64m -XX:+UseSerialGC.", ""]
    t = f["throughput"]
    rows = []
    for work_ms in (0, 10):
        for n_items in (1, f["threads"]):
            base = t[("no lock", n_items, work_ms)]["per_s"]
            for mode in f["modes"]:
                figure = t[(mode, n_items, work_ms)]
                rows.append([f"{work_ms}", f"{n_items}", mode, f"{figure['per_s']:,.0f}", f"{figure['per_s'] / base:.2f}",
                             figure["errors"]])
    lines += [f"### Lock throughput: reservations/s through 3 flash_sale instances, {f['threads']} client threads "
              f"(median of {f['rounds']} rounds of {f['seconds']:g} s)", "",
              table(["work_ms", "items", "mode", "reservations/s", "vs no lock", "errors"], rows, "rrlrrr"), ""]
    o = f["oversell"]
    lines += [f"### Oversell: a stock of 20, 200 reservations from {f['threads']} threads at once (work_ms 10)", "",
              table(["mode", "accepted", "sold out", "errors", "oversold"],
                    [[m, v["accepted"], v["refused"], v["errors"], v["oversold"]] for m, v in o.items()], "lrrrr")]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=4.0, help="seconds per load run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=16)
    args = p.parse_args(argv)
    print(f"{machine_line()}\n", flush=True)
    figures = measure(args.seconds, args.rounds, args.threads)
    print()
    print(report(figures))
    print(f"\nfinished {machine_line()}")


if __name__ == "__main__":
    main()
