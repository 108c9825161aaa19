"""A capacity curve from a stepped load's history: a row per user count, both sides of Little's law, the knee,
and the chart; CPU seconds from each process's own counters."""
from __future__ import annotations

import os
import time

import pytest

from microcosm.load.capacity import CpuMeter, capacity_chart, knee, steps


def second(t, users, rps, mean_ms, p95_ms=50.0, fps=0.0):
    return {"t": t, "users": users, "rps": rps, "fps": fps, "p50_ms": mean_ms, "p95_ms": p95_ms, "mean_ms": mean_ms,
            "latency": {}}


HISTORY = [second(0.5, 2, 0, None), second(1.5, 2, 5.0, 900.0),  # log-ins: the step's first second is left out
           second(2.5, 2, 16.0, 25.0), second(3.5, 2, 18.0, 15.0),
           second(4.5, 8, 40.0, 60.0), second(5.5, 8, 64.0, 25.0), second(6.5, 8, 56.0, 35.0),
           second(7.5, 24, 80.0, 150.0), second(8.5, 24, 90.0, 170.0, p95_ms=400.0), second(9.5, 24, 88.0, 175.0)]


def test_each_step_is_its_seconds_after_the_first_with_both_sides_of_littles_law():
    curve = steps(HISTORY, think_s=0.1)
    assert [s["users"] for s in curve] == [2, 8, 24]
    two = curve[0]
    assert two["seconds"] == 2 and two["rps"] == 17.0
    assert two["mean_ms"] == pytest.approx((16 * 25 + 18 * 15) / 34, abs=0.05)  # weighted by requests
    assert two["little_users"] == pytest.approx(17.0 * (two["mean_ms"] / 1000 + 0.1), abs=0.05)
    eight = curve[1]
    assert eight["rps"] == 60.0 and eight["mean_ms"] == pytest.approx((64 * 25 + 56 * 35) / 120, abs=0.05)
    assert curve[2]["p95_ms"] == 400.0  # the worst second's p95


def test_the_knee_is_the_step_with_most_throughput_per_millisecond_of_response():
    curve = steps(HISTORY, think_s=0.1)
    assert knee(curve)["users"] == 8  # 60 / 29.7 beats 17 / 20.3 and 89 / 172.5
    with pytest.raises(ValueError, match="no steps measured"):
        knee([])


def test_the_chart_draws_a_bar_per_step_and_the_mean_response_time_as_a_line():
    svg = capacity_chart(steps(HISTORY, think_s=0.1)).svg
    assert svg.count("<rect") == 3 and svg.count("<polyline") == 1 and svg.count("<circle") == 3
    assert "24 users" in svg and "60 req/s" in svg and "29.7 ms" in svg


def test_the_cpu_meter_counts_a_process_own_cpu_seconds():
    class Me:
        name, pid = "this test", os.getpid()

    meter = CpuMeter([Me()])
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    assert meter.spent()["this test"] >= 0.2
    busy, available = meter.machine()
    assert 0.2 <= busy <= available
    assert meter.busiest(1)[0][0] == "this test"
