"""A load run over time, second by second, from Locust's CSV history (`--csv-full-history`).

Locust writes a row per endpoint and one "Aggregated" row each second, stamped with the whole second; the
counts in them are totals since the start, the percentiles are over the last seconds (live_hooks.py). The
rows here are one per second, timed from the start of the load (`t0`), with what a chart draws.
"""
from __future__ import annotations

import csv
from pathlib import Path

AGGREGATED = "Aggregated"


def _num(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def endpoint_of(row: dict) -> str:
    """'GET /products/[id]': the method and the name Locust groups requests by."""
    return f"{row.get('Type') or ''} {row['Name']}".strip()


def read_history(path: Path, t0: float | None) -> list[dict]:
    """One dict per second since `t0`: t (s, the middle of Locust's second), users, rps and fps (requests and
    failures per second, counted from the totals), p50_ms and p95_ms of all requests, mean_ms (the mean response
    time of the requests counted in that row, from Locust's running average), and `latency`:
    {endpoint: p50 ms} for each endpoint that answered in that window. [] before the first row or t0."""
    if t0 is None:
        return []
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return []
    per_second: dict[int, dict] = {}
    for row in rows:
        try:
            second = int(float(row["Timestamp"]))
        except (KeyError, TypeError, ValueError):
            continue
        entry = per_second.setdefault(second, {"latency": {}})
        if row.get("Name") == AGGREGATED:
            entry["aggregated"] = row
        elif _num(row.get("50%")) is not None:
            entry["latency"][endpoint_of(row)] = _num(row["50%"])
    history, previous = [], (t0, 0, 0, 0.0)
    for second in sorted(per_second):
        row = per_second[second].get("aggregated")
        if row is None:
            continue
        total, fails, at = int(row["Total Request Count"]), int(row["Total Failure Count"]), second + 0.5
        waited = (_num(row.get("Total Average Response Time")) or 0.0) * total  # ms, summed over every request
        dt = at - previous[0]
        if dt < 0.5:  # too close to the last row (or to t0) for a rate: its counts go into the next row
            continue
        history.append({"t": round(at - t0, 1), "users": int(row["User Count"]),
                        "rps": round((total - previous[1]) / dt, 1), "fps": round((fails - previous[2]) / dt, 1),
                        "p50_ms": _num(row["50%"]), "p95_ms": _num(row["95%"]),
                        "mean_ms": round((waited - previous[3]) / (total - previous[1]), 1) if total > previous[1]
                        else None, "latency": per_second[second]["latency"]})
        previous = (at, total, fails, waited)
    return history
