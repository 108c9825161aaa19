"""What the broker costs: events per second through a consumer group, and the outbox on orders' POST latency.

    .venv/bin/python bench/broker_throughput.py [--events 6000] [--rounds 3] [--posts 300] [--baseline-ref REV]

On a private redis-server (appendfsync everysec, as the kernel's), side by side, round after round:
- the ceiling: bare Python consumers, each its own process (one, then three in one group), XREADGROUP 50 at a
  time and one XACK for them, nothing decoded or applied;
- notifications as launched (one process, then three in one group): decode, the idempotency check, the batch's
  transaction in SQLite (a savepoint, a message and an applied record per event), XACK after the commit.
Every consumer waits on the empty stream first; then N OrderPlaced events are published (pipelined, from this
process) and the clock runs from the first publish until the group has read all N and has none pending (XINFO
GROUPS: acknowledged, which for notifications means committed). Each row gives the median over the rounds and
their spread (min-max), and its ratio to the one-process ceiling and to the same number of bare processes.
With `--baseline-ref REV`, notifications as it was at commit REV (bench/baseline.py) runs in the same rounds.
Then orders' POST /orders, sequential, one client: without events (chapter 01's) and with the outbox (chapter
07's). Prints Markdown tables with ratios against figures measured in the same run; asserts nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline  # noqa: E402
import microcosm  # noqa: E402
from common import machine_line, percentile, table  # noqa: E402
from microcosm.broker import streams  # noqa: E402
from microcosm.broker.envelope import event  # noqa: E402
from microcosm.runtime.infra import RedisServer  # noqa: E402
from microcosm.runtime.service import next_cpu  # noqa: E402

STREAM = "orders.events"


def fill(r, n: int) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        streams.publish(pipe, STREAM, event("OrderPlaced", {"order_id": i + 1, "product_id": 1, "quantity": 1,
                                                            "total_cents": 100}))
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()


def bare_consumer(url: str, group: str, name: str, cpu: str) -> None:
    """The ceiling's consumer (a process of its own, on one core as launched services are): read 50,
    acknowledge them, nothing else; until Redis goes."""
    if cpu != "-":
        os.sched_setaffinity(0, {int(cpu)})
    r = streams.connect(url)
    streams.ensure_group(r, STREAM, group)
    r.xgroup_createconsumer(STREAM, group, name)  # so the bench sees it waiting (XINFO CONSUMERS)
    while True:
        answer = r.xreadgroup(group, name, {STREAM: ">"}, count=50, block=1000)
        ids = [entry_id for entry_id, _fields in (answer[0][1] if answer else [])]
        if ids:
            r.xack(STREAM, group, *ids)


def waiting(r) -> int:
    """Clients blocked in XREADGROUP: consumers waiting on the empty stream."""
    return sum(1 for c in r.client_list() if c.get("cmd") == "xreadgroup" and "b" in c.get("flags", ""))


def timed(r, n: int, group: str, instances: int) -> float:
    """Events per second: publish n once `instances` consumers wait in `group`, until all are acknowledged."""
    deadline = time.monotonic() + 30
    while waiting(r) < instances:  # every consumer has made the group and is waiting on the empty stream
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {instances} consumers of {group} never started")
        time.sleep(0.05)
    started = time.perf_counter()
    fill(r, n)
    while True:
        state = next(g for g in r.xinfo_groups(STREAM) if g["name"] == group)
        if (state["entries-read"] or 0) >= n and state["pending"] == 0:
            return n / (time.perf_counter() - started)
        time.sleep(0.01)


def through_bare(r, url: str, n: int, instances: int) -> float:
    r.delete(STREAM)
    cores = [next_cpu() for _ in range(instances)]  # the turn of cores microcosm.launch pins services to
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--bare", url, f"bare-{i}",
                               "-" if cpu is None else str(cpu)]) for i, cpu in enumerate(cores)]
    try:
        return timed(r, n, "bare", instances)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def through_notifications(r, url: str, n: int, instances: int, root: str, code: str | None = None) -> float:
    """Events per second applied by `instances` notifications processes in one group (`code`: an older
    microcosm, bench/baseline.py)."""
    r.delete(STREAM)
    data = tempfile.mkdtemp(dir=root)
    start = functools.partial(baseline.launch, code) if code else microcosm.launch
    launched = [start("notifications", f"bench-notifications-{i}", events=url, data_dir=data, traffic=False,
                      access_log=False) for i in range(1, instances + 1)]
    try:
        rate = timed(r, n, "notifications", instances)
        applied = sum(c["applied"] for s in launched for c in s.get("/_events").json()["consumers"])
        assert applied >= n, f"{applied} of {n} applied"
        return rate
    finally:
        for s in launched:
            s.stop()
            s.forget()


def spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def post_latency(orders, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        answer = orders.post("/orders", json={"product_id": 2, "quantity": 1})
        times.append((time.perf_counter() - t) * 1000)
        assert answer.status_code in (201, 202), answer.text
    times.sort()
    return statistics.median(times), percentile(times, 99)


def main(argv=None) -> None:
    if argv is None and sys.argv[1:2] == ["--bare"]:
        return bare_consumer(sys.argv[2], "bare", sys.argv[3], sys.argv[4])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=6000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--posts", type=int, default=300)
    p.add_argument("--baseline-ref", help="also notifications as it was at this commit, in the same rounds")
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench-broker-")
    server = RedisServer("bench-broker").start()
    r = server.client()
    try:
        old_code = baseline.checkout(args.baseline_ref) if args.baseline_ref else contextlib.nullcontext()
        with old_code as old:
            print(f"{machine_line()}\n", flush=True)
            rates: dict[tuple[str, int], list[float]] = {}
            for _ in range(args.rounds):  # the rows take turns, so a busy spell of the machine hits them all
                for instances in (1, 3):
                    rates.setdefault(("bare", instances), []).append(
                        through_bare(r, server.url, args.events, instances))
                    rates.setdefault(("notifications", instances), []).append(
                        through_notifications(r, server.url, args.events, instances, root))
                    if old:
                        rates.setdefault((f"notifications ({baseline.label(args.baseline_ref)})", instances),
                                         []).append(through_notifications(r, server.url, args.events, instances,
                                                                          root, old))
        ceiling = statistics.median(rates[("bare", 1)])
        rows = []
        for (kind, instances), found in rates.items():
            bare = statistics.median(rates[("bare", instances)])
            what = ("bare XREADGROUP + XACK, nothing applied" if kind == "bare" else kind) + \
                f", {instances} process{'es in one group' if instances > 1 else ''}"
            rows.append([what, spread(found), f"{statistics.median(found) / ceiling:.2f}",
                         f"{statistics.median(found) / bare:.2f}"])
        print(f"### Events through a consumer group ({args.events} events, median of {args.rounds} rounds)\n")
        print(table(["consumer", "events/s (min-max)", "of 1 bare process", "of as many bare processes"],
                    rows, "lrrr"))
        catalog = microcosm.launch("catalog", "bench-catalog", traffic=False, access_log=False)
        plain = microcosm.launch("orders", "bench-orders", catalog_url=catalog.url, traffic=False, access_log=False,
                                 data_dir=tempfile.mkdtemp(dir=root))
        with_outbox = microcosm.launch("orders", "bench-orders-events", catalog_url=catalog.url, traffic=False,
                                       access_log=False, events=server.url, data_dir=tempfile.mkdtemp(dir=root))
        post_latency(plain, 30), post_latency(with_outbox, 30)  # warm up both
        base, outbox = post_latency(plain, args.posts), post_latency(with_outbox, args.posts)
        print("\n### The outbox on POST /orders (sequential, one client)\n")
        print(table(["orders", "p50 ms", "p99 ms", "p50 vs without"],
                    [["without events (chapter 01)", f"{base[0]:.2f}", f"{base[1]:.2f}", "1.00"],
                     ["with the outbox (chapter 07)", f"{outbox[0]:.2f}", f"{outbox[1]:.2f}",
                      f"{outbox[0] / base[0]:.2f}"]], "lrrr"))
    finally:
        microcosm.stop_all()
        server.stop()
        server.forget()


if __name__ == "__main__":
    main()
