"""`microcosm.load(...)`: a Locust load test from a cell, with a live chart, that returns comparable results.

Locust runs as its own process (`python -m locust --headless`), never imported into the kernel: importing it
monkey-patches the kernel with gevent and deadlocks it. Time zero is the moment Locust starts its users (the
file live_hooks.py writes); events run on that clock. While it runs, the cell redraws one chart from Locust's
CSV history about twice a second (live.py, history.py, chart.py), and it reads the final JSON stats at the end.
Interrupting the cell stops Locust; nothing is left running.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import requests

from ..runtime import paths
from ..runtime.process import Process
from ..runtime.spawning import guarded, spawn
from .chart import history_svg, results_table
from .history import read_history
from .live import LiveView

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
HOOKS = Path(__file__).parent / "live_hooks.py"  # loaded beside every scenario: the live chart's needs
START_TIMEOUT = 60.0  # seconds for Locust to start its users


def scenarios() -> list[str]:
    """The scenarios `load` can run."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.py") if not p.stem.startswith("_"))


def _percentile(histogram: dict, total: int, p: float) -> float | None:
    """Locust keeps response times as a histogram of rounded milliseconds."""
    if not total:
        return None
    need, seen = total * p / 100, 0
    for ms, count in sorted((float(k), v) for k, v in histogram.items()):
        seen += count
        if seen >= need:
            return ms
    return None


def _summarise(entry: dict, seconds: float) -> dict:
    n = entry["num_requests"]
    times = entry.get("response_times", {})
    return {"method": entry.get("method") or "", "name": entry["name"], "requests": n,
            "failures": entry["num_failures"], "rps": round(n / seconds, 1) if seconds else 0.0,
            "avg_ms": round(entry["total_response_time"] / n, 1) if n else None,
            "p50_ms": _percentile(times, n, 50), "p95_ms": _percentile(times, n, 95),
            "p99_ms": _percentile(times, n, 99), "max_ms": round(entry["max_response_time"] or 0, 1)}


class LoadResult:
    """What a load run measured: a row per endpoint, the totals, and the history over time."""

    def __init__(self, scenario, target, users, duration, endpoints, totals, history, events, stopped_early=False,
                 charted=False):
        self.scenario, self.target, self.users, self.duration = scenario, target, users, duration
        self.endpoints, self.totals, self.history, self.events = endpoints, totals, history, events
        self.stopped_early, self.charted = stopped_early, charted  # charted: the live view above has the chart

    @property
    def requests(self) -> int:
        return self.totals["requests"]

    @property
    def failures(self) -> int:
        return self.totals["failures"]

    def _repr_html_(self) -> str:
        head = (f"<b>{self.scenario}</b> against {self.target}: {self.users} users for {self.duration:g} s"
                + (" <i>(stopped early)</i>" if self.stopped_early else ""))
        chart = "" if self.charted else history_svg(self.history, self.events, self.duration)
        return f"<div>{head}{chart}{results_table(self.endpoints, self.totals)}</div>"

    def __repr__(self) -> str:
        t = self.totals
        return (f"<LoadResult {self.scenario}: {t['requests']} requests, {t['failures']} failures, "
                f"{t['rps']} req/s, p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms>")


class LocustProcess(Process):
    kind = "load"

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict | None = None):
        super().__init__(name)
        self.argv, self.workdir, self.env = argv, workdir, env
        self.json_path = workdir / "final.json"

    def _start(self):
        env = {**os.environ, **self.env} if self.env else None
        return spawn(guarded(self.argv), self.log_path, cwd=self.workdir, stdout_file=self.json_path, env=env)

    def _is_ready(self) -> bool:
        return True  # it is running; the history file shows when it really starts


def _target_url(target) -> str:
    url = getattr(target, "url", target)
    if not isinstance(url, str) or not url.startswith("http"):
        raise ValueError(f"target must be a launched service or an http:// URL, got {target!r}")
    alive = getattr(target, "alive", True)
    try:
        ok = alive and requests.get(url.rstrip("/") + "/health", timeout=2).status_code < 500
    except requests.RequestException:
        ok = False
    if not ok:
        raise ValueError(f"the target {url} is not running: launch it (or restart it) before loading it")
    return url.rstrip("/")


def _check(scenario, users, spawn_rate, duration, events):
    if scenario not in scenarios() and not str(scenario).endswith(".py"):
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {', '.join(scenarios())} or give a locustfile path")
    if not isinstance(users, int) or isinstance(users, bool) or users < 1:
        raise ValueError(f"users must be a whole number of at least 1, got {users!r}")
    if not isinstance(spawn_rate, (int, float)) or spawn_rate <= 0:
        raise ValueError(f"spawn_rate must be a positive number of users per second, got {spawn_rate!r}")
    if not isinstance(duration, (int, float)) or not 1 <= duration <= 3600:
        raise ValueError(f"duration must be between 1 and 3600 seconds, got {duration!r}")
    for at, action in events.items():
        if not (isinstance(at, (int, float)) and 0 <= at < duration and callable(action)):
            raise ValueError(f"events maps a second within the run to a function to call; {at!r}: {action!r} is not that")


def _label(action) -> str:
    """'catalog.kill' for a bound method of a launched service, the function's name otherwise."""
    owner = getattr(action, "__self__", None)
    name = getattr(action, "__name__", "event")
    return f"{owner.name}.{name}" if hasattr(owner, "name") else name


def load(target, scenario: str = "browse", *, users: int = 10, spawn_rate: float | None = None,
         duration: float = 10, events: dict[float, Callable] | None = None, show: bool = True,
         env: dict[str, str] | None = None) -> LoadResult:
    """Run Locust's `scenario` against `target` with `users` for `duration` seconds; show it live.

    `events` runs functions at given seconds into the run, for faults on cue:
    `events={3: catalog.kill, 6: catalog.restart}`. `env` adds environment variables for the scenario
    (a token, an identity provider's URL ...). Returns a LoadResult (a table per endpoint and totals).
    """
    events = dict(events or {})
    spawn_rate = users if spawn_rate is None else spawn_rate
    _check(scenario, users, spawn_rate, duration, events)
    url = _target_url(target)
    locustfile = Path(scenario) if str(scenario).endswith(".py") else SCENARIOS_DIR / f"{scenario}.py"
    workdir = Path(tempfile.mkdtemp(prefix="load-", dir=paths.run_dir()))
    argv = [sys.executable, "-m", "locust", "-f", f"{locustfile.resolve()},{HOOKS}", "--headless", "--host", url,
            "-u", str(users), "-r", str(spawn_rate), "-t", f"{int(round(duration))}s", "--stop-timeout", "5",
            "--csv", str(workdir / "run"), "--csv-full-history", "--json", "--loglevel", "WARNING",
            "--skip-log-setup"]
    view = LiveView(scenario, url, users, duration) if show else None
    runner = LocustProcess(f"locust-{workdir.name}", argv, workdir, {k: str(v) for k, v in (env or {}).items()})
    history_csv = workdir / "run_stats_history.csv"
    done_events: list[tuple[float, str]] = []
    stopped_early, t0 = False, None
    runner.start()
    try:
        t0 = _started(runner, workdir / "started")
        pending = sorted(events.items())
        while runner.alive:
            elapsed = time.time() - t0
            while pending and pending[0][0] <= elapsed:
                at, action = pending.pop(0)
                action()
                done_events.append((round(time.time() - t0, 1), _label(action)))
            if view:
                view.update(read_history(history_csv, t0), elapsed, done_events)
            time.sleep(0.1)
    except BaseException:  # Interrupt, or an event that failed: stop Locust, leave nothing behind
        stopped_early = True
        runner.stop(timeout=8)
        raise
    finally:
        if runner.alive:
            runner.stop(timeout=8)
        runner.forget()
        if view:
            view.finish(read_history(history_csv, t0), done_events, "stopped early" if stopped_early else "done")
    return _result(runner, workdir, scenario, url, users, duration, t0, done_events, stopped_early,
                   charted=bool(view and view.shown))


def _started(runner: LocustProcess, marker: Path) -> float:
    """The moment Locust's users started (time zero of the run), read from the file live_hooks.py writes."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return float(marker.read_text())
        except (FileNotFoundError, ValueError):
            if not runner.alive:
                return time.time()  # Locust ended before starting: _result says why
            time.sleep(0.05)
    raise RuntimeError(f"Locust did not start its users within {START_TIMEOUT:g} s:\n{runner.logs()}")


def _result(runner, workdir, scenario, url, users, duration, start, events, stopped_early, charted=False) -> LoadResult:
    try:
        stats = json.loads(runner.json_path.read_text() or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(f"Locust ended without results (exit {runner.exit_code}):\n{runner.logs()}") from None
    if runner.exit_code not in (0, 1):  # 1 means "some requests failed", a result like any other
        raise RuntimeError(f"Locust failed (exit {runner.exit_code}):\n{runner.logs()}")
    seconds = max(1e-9, max((e["last_request_timestamp"] or 0 for e in stats), default=start)
                  - min((e["start_time"] for e in stats), default=start))
    endpoints = [_summarise(e, seconds) for e in stats]
    merged = {"name": "Aggregated", "method": "", "num_requests": sum(e["num_requests"] for e in stats),
              "num_failures": sum(e["num_failures"] for e in stats),
              "total_response_time": sum(e["total_response_time"] for e in stats),
              "max_response_time": max((e["max_response_time"] or 0 for e in stats), default=0),
              "response_times": {}}
    for e in stats:
        for k, v in e.get("response_times", {}).items():
            merged["response_times"][k] = merged["response_times"].get(k, 0) + v
    totals = _summarise(merged, seconds)
    history = read_history(workdir / "run_stats_history.csv", start)
    return LoadResult(scenario, url, users, duration, endpoints, totals, history, events, stopped_early, charted)
