"""A capacity curve from one stepped load, checked against Little's law, and who spent the CPU meanwhile.

    meter = CpuMeter(system.processes())                         # CPU seconds of each process, from now on
    run = microcosm.load(gateway, "shop", env={"MICROCOSM_STEPS": "2,4,8,16", ...})
    curve = steps(run.history, think_s=0.1)                      # a row per user count
    knee(curve)                                                  # the step with the most throughput per delay
    meter.busiest()                                              # [(process, CPU seconds)], busiest first

Little's law for a closed system of N users, each sending one request and then thinking Z seconds on average:
N = X x (R + Z), X the throughput and R the mean response time. `steps` computes both sides from what Locust
measured; they differ by the time a user spends neither waiting for an answer nor thinking (Locust's own work,
on a busy machine). The knee is the step where throughput divided by mean response time (Kleinrock's "power")
is highest: past it, more users add waiting more than they add throughput.
"""
from __future__ import annotations

import html

import psutil

from ..show import SVGChart


def steps(history: list[dict], think_s: float) -> list[dict]:
    """A row per user count of the run: users, seconds measured, rps, mean_ms, p95_ms (its worst second's),
    failures per second,
    and little_users (rps x (mean response + think time)). The first second of each step (partly the previous
    step's requests) is left out when the step has more."""
    groups: dict[int, list[dict]] = {}
    for row in history:
        if row.get("users") and row.get("mean_ms") is not None and row["rps"] > 0:
            groups.setdefault(row["users"], []).append(row)
    out = []
    for users, rows in groups.items():
        rows = rows[1:] if len(rows) > 1 else rows
        served = sum(r["rps"] for r in rows)
        rps = served / len(rows)
        mean_ms = sum(r["rps"] * r["mean_ms"] for r in rows) / served
        p95 = max(r["p95_ms"] or 0 for r in rows)  # the worst second's: a tail is not averaged away
        out.append({"users": users, "seconds": len(rows), "rps": round(rps, 1), "mean_ms": round(mean_ms, 1),
                    "p95_ms": p95, "fps": round(sum(r["fps"] for r in rows) / len(rows), 1),
                    "little_users": round(rps * (mean_ms / 1000 + think_s), 1)})
    return out


def knee(curve: list[dict]) -> dict:
    """The step with the highest throughput per millisecond of mean response time."""
    if not curve:
        raise ValueError("no steps measured: the run had no seconds with answers")
    return max(curve, key=lambda s: s["rps"] / max(s["mean_ms"], 0.1))


class CpuMeter:
    """CPU seconds (user + system) each process spent since the meter was made; a process gone meanwhile keeps
    what it had spent when last seen."""

    def __init__(self, processes):
        self.processes = [p for p in processes if getattr(p, "pid", None)]
        self.start = {p.name: self._spent(p) for p in self.processes}
        self.machine_start = psutil.cpu_times()

    @staticmethod
    def _spent(process) -> float:
        try:
            t = psutil.Process(process.pid).cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def spent(self) -> dict[str, float]:
        now = {p.name: self._spent(p) for p in self.processes}
        return {name: round(max(0.0, now[name] - self.start[name]), 2) for name in now}

    def machine(self) -> tuple[float, float]:
        """(busy, available) core-seconds of the whole machine since the meter was made: every process on it,
        this one and Locust and anyone else's included."""
        now = psutil.cpu_times()

        def seconds(t) -> tuple[float, float]:  # guest time is already counted in user time
            total = sum(t) - getattr(t, "guest", 0) - getattr(t, "guest_nice", 0)
            return total - t.idle - getattr(t, "iowait", 0), total

        (busy0, total0), (busy1, total1) = seconds(self.machine_start), seconds(now)
        return round(busy1 - busy0, 2), round(total1 - total0, 2)

    def busiest(self, n: int = 5) -> list[tuple[str, float]]:
        return sorted(self.spent().items(), key=lambda item: -item[1])[:n]


def capacity_chart(curve: list[dict], width: int = 640) -> SVGChart:
    """Throughput (bars, left) and mean response time (the line, its own scale) against users: R of Little's law."""
    height, left, bottom = 220, 50, 180
    top_rps = max([s["rps"] for s in curve] + [1]) * 1.15
    top_ms = max([s["mean_ms"] or 0 for s in curve] + [1]) * 1.15
    step = (width - 2 * left) / max(len(curve), 1)
    parts, marks, points = [], [], []
    for i, s in enumerate(curve):
        x = left + i * step + step / 2
        h = (bottom - 20) * s["rps"] / top_rps
        y = bottom - (bottom - 20) * (s["mean_ms"] or 0) / top_ms
        points.append(f"{x:.0f},{y:.0f}")
        parts.append(f"<rect x='{x - step / 4:.0f}' y='{bottom - h:.0f}' width='{step / 2:.0f}' height='{h:.0f}' "
                     f"fill='#4c78a8'><title>{s['users']} users: {s['rps']} req/s</title></rect>"
                     f"<text x='{x - step / 4 - 4:.0f}' y='{bottom - h + 12:.0f}' font-size='10' "
                     f"text-anchor='end' fill='#4c78a8'>{s['rps']:g} req/s</text>"
                     f"<text x='{x:.0f}' y='{bottom + 14}' font-size='11' text-anchor='middle'>"
                     f"{s['users']} users</text>")
        marks.append(f"<circle cx='{x:.0f}' cy='{y:.0f}' r='3' fill='#e45756'/>"
                     f"<text x='{x + 6:.0f}' y='{y - 6:.0f}' font-size='10' fill='#e45756'>{s['mean_ms']:g} ms</text>")
    line = f"<polyline points='{' '.join(points)}' fill='none' stroke='#e45756' stroke-width='2'/>"
    legend = (f"<text x='{left}' y='12' font-size='11' fill='#4c78a8'>throughput X (bars)</text>"
              f"<text x='{left + 160}' y='12' font-size='11' fill='#e45756'>mean response time R (line, its own "
              f"scale)</text>")
    return SVGChart(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
                    f"style='font-family:sans-serif'><line x1='{left}' x2='{width - left}' y1='{bottom}' "
                    f"y2='{bottom}' stroke='#999'/>{legend}{''.join(parts)}{line}{''.join(marks)}</svg>",
                    html.escape(f"capacity curve of {len(curve)} steps"))
