"""What a CDN edge's hops cost the monitor (issue 16), in process, side by side with plain calls.

    python bench/monitor_cache_hops.py [--hops 20000] [--repeat 5]

The same number of hops fed to a fresh `TrafficModel` three ways, interleaved, repeated: plain calls (client ->
a -> b, as bench/hop_recording.py's chain), an edge's traffic (client -> cdn-eu / cdn-us with a cache verdict,
bytes and region; cdn -> catalog for one answer in ten, as misses), and the same edge traffic with its verdicts
stripped (drawn as plain calls: what the cache figures themselves cost is the difference). Reported: CPU
microseconds per hop taken in (`add`) and milliseconds per redraw (the topology SVG, the latency and cache
tables the monitor draws), each with its ratio to plain calls. Figures, not tests: the ratio is what to read, the machine's load moves the rest.
bench/monitor_cpu.py measures the monitor process as a whole under real load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_line, median, table  # noqa: E402

from microcosm.traffic.model import TrafficModel  # noqa: E402
from microcosm.traffic.render import latency_table, topology_svg  # noqa: E402
from microcosm.traffic.render.caches import cache_table  # noqa: E402

VERDICTS = ["hit"] * 8 + ["stale", "miss"]


def hop(i, caller, caller_instance, callee, instance, ts, **extra):
    return {"request_id": f"r{i}", "hop": f"h{i}{callee}", "parent": "", "caller": caller,
            "caller_instance": caller_instance, "callee": callee, "instance": instance, "method": "GET",
            "path": f"/products/{i % 50}", "status": 200, "ms": 0.4, "ts": ts, "error": "", **extra}


def plain(n: int, start: float, span: float) -> list[dict]:
    out = []
    for i in range(n // 2):
        ts = start + span * i / (n // 2)
        out += [hop(i, "client", "", "a", "a-1", ts), hop(i, "a", "a-1", "b", "b-1", ts)]
    return out


def edge(n: int, start: float, span: float) -> list[dict]:
    out, i = [], 0
    while len(out) < n:
        ts = start + span * i / n
        name = "cdn-eu" if i % 2 else "cdn-us"
        verdict = VERDICTS[i % len(VERDICTS)]
        out.append(hop(i, "client", "", "cdn", name, ts, cache=verdict, bytes="812", region=name[-2:]))
        if verdict == "miss":
            out.append(hop(i, "cdn", name, "catalog", "catalog-1", ts))
        i += 1
    return out[:n]


def one(hops: list[dict], now: float) -> tuple[float, float]:
    """CPU microseconds per hop taken in (in batches of 300, as the monitor reads them) and per redraw."""
    model = TrafficModel(window=10)
    batches = [[dict(h) for h in hops[i:i + 300]] for i in range(0, len(hops), 300)]
    t0 = time.process_time()
    for batch in batches:
        model.add(batch, now=now)
    per_hop = (time.process_time() - t0) / len(hops) * 1e6
    t0, draws = time.process_time(), 40
    for _ in range(draws):
        model._window_cache = (None, {})  # as after new hops: the window's pass is made again
        topology_svg(model)
        latency_table(model)
        cache_table(model)
    return per_hop, (time.process_time() - t0) / draws * 1e6


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hops", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    now = time.time()
    traffic = edge(args.hops, now - 9, 9)
    stripped = [{k: v for k, v in h.items() if k not in ("cache", "bytes", "region")} for h in traffic]
    sets = {"plain calls": plain(args.hops, now - 9, 9), "edge traffic without verdicts": stripped,
            "edge traffic": traffic}
    runs = {name: [] for name in sets}
    for _ in range(args.repeat):  # interleaved: a busy moment hits both
        for name, hops in sets.items():
            runs[name].append(one(hops, now))
    base = [median([r[k] for r in runs["plain calls"]]) for k in (0, 1)]
    rows = []
    for name, values in runs.items():
        add, draw = median([v[0] for v in values]), median([v[1] for v in values])
        rows.append([name, f"{add:.2f}", f"{add / base[0]:.2f}", f"{draw / 1000:.2f}", f"{draw / base[1]:.2f}"])
    print(f"# monitor: a CDN edge's hops vs plain calls\n\n{machine_line()}\n\n{args.hops} hops in a 10 s window, "
          f"median of {args.repeat} interleaved runs\n")
    print(table(["hops", "add: us CPU per hop", "ratio", "redraw: ms CPU", "ratio"], rows))


if __name__ == "__main__":
    main()
