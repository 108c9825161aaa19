"""What the broker costs: events per second through a consumer group, and the outbox on orders' POST latency.

    .venv/bin/python bench/broker_throughput.py [--events 3000] [--posts 300]

On a private redis-server (appendfsync everysec, as the kernel's), in one run:
- the ceiling: a bare Python loop in this process, XREADGROUP 50 at a time and one XACK for them, nothing
  applied;
- notifications as launched (one process, then three in one group): decode, the idempotency check, the apply
  transaction in SQLite (message + applied event), XACK. once they wait on the empty stream, N OrderPlaced
  events are published (pipelined); the clock runs from the first publish to the last event applied (the
  ceiling's clock too);
- orders' POST /orders, sequential, one client: without events (chapter 01's) and with the outbox (chapter 07's).
Prints a Markdown table with ratios against the figures measured in the same run; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import microcosm  # noqa: E402
from common import machine_line, percentile, table  # noqa: E402
from microcosm.broker import streams  # noqa: E402
from microcosm.broker.envelope import event  # noqa: E402
from microcosm.runtime.infra import RedisServer  # noqa: E402

STREAM = "orders.events"


def fill(r, n: int) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        streams.publish(pipe, STREAM, event("OrderPlaced", {"order_id": i + 1, "product_id": 1, "quantity": 1,
                                                            "total_cents": 100}))
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()


def bare_loop(r, n: int) -> float:
    """Events per second of XREADGROUP and one XACK per batch, nothing else (the ceiling)."""
    r.delete(STREAM)
    streams.ensure_group(r, STREAM, "bare")
    started, done = time.perf_counter(), 0
    fill(r, n)
    while done < n:
        answer = r.xreadgroup("bare", "bare-1", {STREAM: ">"}, count=50, block=1000)
        ids = [entry_id for entry_id, _fields in (answer[0][1] if answer else [])]
        if ids:
            r.xack(STREAM, "bare", *ids)
            done += len(ids)
    return n / (time.perf_counter() - started)


def through_notifications(r, url: str, n: int, instances: int, root: str) -> float:
    """Events per second applied by `instances` notifications processes in one group."""
    r.delete(STREAM)
    data = tempfile.mkdtemp(dir=root)
    launched = [microcosm.launch("notifications", f"bench-notifications-{i}", events=url, data_dir=data,
                                 traffic=False, access_log=False) for i in range(1, instances + 1)]
    time.sleep(1.0)  # every consumer has made the group and is waiting on the empty stream
    started = time.perf_counter()
    fill(r, n)

    def applied():
        return sum(c["applied"] for s in launched for c in s.get("/_events").json()["consumers"])

    while applied() < n:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    for s in launched:
        s.stop()
        s.forget()
    return n / elapsed


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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--posts", type=int, default=300)
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench-broker-")
    server = RedisServer("bench-broker").start()
    r = server.client()
    try:
        print(f"{machine_line()}\n", flush=True)
        ceiling = bare_loop(r, args.events)
        one = through_notifications(r, server.url, args.events, 1, root)
        three = through_notifications(r, server.url, args.events, 3, root)
        rows = [["bare XREADGROUP + XACK loop, nothing applied (the ceiling)", f"{ceiling:,.0f}", "1.00"],
                ["notifications, 1 process", f"{one:,.0f}", f"{one / ceiling:.2f}"],
                ["notifications, 3 processes in one group", f"{three:,.0f}", f"{three / ceiling:.2f}"]]
        print("### Events through a consumer group\n")
        print(table(["consumer", "events/s", "of the ceiling"], rows, "lrr"))
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
