"""Small helpers the benches share: process-group memory, percentiles, the machine line, table printing."""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/run.py` from anywhere imports this checkout's microcosm
    sys.path.insert(0, str(REPO))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def median(values) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def _proc_group(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[2])  # fields after "(comm)": state ppid pgrp ...


def _kb(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def group_memory(leader_pid: int) -> dict | None:
    """RSS and PSS (MB) summed over every process in `leader_pid`'s process group (Linux /proc).

    microcosm starts each service in its own session, so the group is the server and, for gunicorn, its
    workers. RSS counts pages shared between a gunicorn master and its forked workers once per process;
    PSS splits shared pages between the processes that share them, so PSS sums to what the group costs.
    """
    if not Path("/proc/self/stat").exists():
        return None
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _proc_group(int(entry)) == leader_pid:
            pids.append(int(entry))
    if not pids:
        return None
    rss = sum(_kb(Path(f"/proc/{p}/status"), "VmRSS:") for p in pids)
    pss = sum(_kb(Path(f"/proc/{p}/smaps_rollup"), "Pss:") for p in pids)
    return {"procs": len(pids), "rss_mb": rss / 1024, "pss_mb": pss / 1024 if pss else float("nan")}


def machine_line() -> str:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load} (1/5/15 min)")


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A Markdown pipe table, padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(r):
        return "| " + " | ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or value != value else f"{value:,.{digits}f}"


def _ticks() -> int:
    return os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(leader_pid: int) -> float:
    """CPU time (user + system, s) used so far by the live processes of `leader_pid`'s process group."""
    total = 0
    for entry in os.listdir("/proc") if Path("/proc/self/stat").exists() else ():
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader_pid:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _ticks()


def machine_busy_seconds() -> float:
    """CPU time (s) every core of the machine has spent busy since boot (Linux /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _ticks()


class CpuMeter:
    """Who used the CPU during a block: the server's process group, our load generator (a waited-for
    child), and everything else on the machine (other people's work: noise)."""

    def __init__(self, server_pid: int, extra_pid: int | None = None):
        self.server_pid, self.extra_pid = server_pid, extra_pid  # extra: e.g. the Redis the service writes to

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.server0 = group_cpu_seconds(self.server_pid)
        self.extra0 = group_cpu_seconds(self.extra_pid) if self.extra_pid else 0.0
        self.busy0 = machine_busy_seconds()
        t = os.times()
        self.children0 = t.children_user + t.children_system
        self.own0 = t.user + t.system
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t0
        t = os.times()
        self.server = group_cpu_seconds(self.server_pid) - self.server0
        self.extra = (group_cpu_seconds(self.extra_pid) - self.extra0) if self.extra_pid else 0.0
        self.loadgen = t.children_user + t.children_system - self.children0
        own = t.user + t.system - self.own0
        busy = machine_busy_seconds() - self.busy0
        self.other = max(0.0, busy - self.server - self.extra - self.loadgen - own)
        self.wall = wall
        return False

    def cores(self, seconds: float) -> float:
        return seconds / self.wall if self.wall else float("nan")


def wait_quiet(max_wait: float, below_cores: float = 0.3, window: float = 1.0) -> float:
    """Wait (at most `max_wait` s) for a `window` in which the whole machine uses less than `below_cores`
    cores, so a run does not start in the middle of someone else's burst. Returns the last window's load."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, t0 = machine_busy_seconds(), time.perf_counter()
        time.sleep(window)
        load = (machine_busy_seconds() - busy0) / (time.perf_counter() - t0)
        if load < below_cores or time.monotonic() >= deadline or load != load:
            return load


def load_options(description: str) -> argparse.ArgumentParser:
    """The options every side-by-side load bench takes (more can be added to what it returns)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs, one round")
    p.add_argument("--duration", type=float)
    p.add_argument("--rounds", type=int)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--quiet-wait", type=float)
    return p
