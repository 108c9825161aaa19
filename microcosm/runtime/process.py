"""Processes started from notebook cells: start, wait until ready, logs, stop, kill, restart.

Every process is started

- in its own session (`start_new_session`), so Jupyter's Interrupt, which sends SIGINT to the kernel's whole
  process group, stops the cell but not the services;
- from one long-lived spawner thread (`spawning.py`), because Linux's parent-death signal (see `guard.py`) fires when the
  *thread* that forked the child ends, and a cell's thread may end at any time;
- with its output going to a log file in this kernel's run folder (`paths.py`), never to a pipe that fills.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from . import paths, procfs
from .table import ProcessTable


class LaunchError(RuntimeError):
    """A process died or did not become ready. Carries its exit code and last log lines."""

    def __init__(self, name: str, reason: str, exit_code: int | None = None, log_tail: str = ""):
        self.name, self.reason, self.exit_code, self.log_tail = name, reason, exit_code, log_tail
        message = f"{name}: {reason}"
        if exit_code is not None:
            message += f" (exit code {exit_code})"
        if log_tail:
            message += "\n--- last log lines ---\n" + log_tail
        super().__init__(message)


_started: dict[str, "Process"] = {}  # name -> process, everything this kernel started
_started_lock = threading.RLock()


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    return "\n".join(deque(text.splitlines(), maxlen=lines))


class Process:
    """One OS process this kernel started. Subclasses say how to start it and how to tell it is ready."""

    kind = "process"
    ready_timeout = 20.0

    def __init__(self, name: str):
        self.name = name
        self.log_path = paths.log_path(name)
        self.popen: subprocess.Popen | None = None
        self.started_at: float | None = None

    # --- to override -------------------------------------------------------------------------------
    def _start(self) -> subprocess.Popen:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return ""

    # --- life cycle --------------------------------------------------------------------------------
    def start(self) -> "Process":
        with open(self.log_path, "ab") as log:
            log.write(f"--- microcosm: starting {self.name} at {time.strftime('%H:%M:%S')} ---\n".encode())
        self.popen = self._start()
        self.started_at = time.time()
        with _started_lock:
            _started[self.name] = self
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        pause = 0.01
        while True:
            code = self.popen.poll()
            if code is not None:
                raise LaunchError(self.name, "exited before it was ready", code, self.logs())
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise LaunchError(self.name, f"not ready after {self.ready_timeout:.0f} s, killed it",
                                  self.popen.poll(), self.logs())
            time.sleep(pause)
            pause = min(pause * 1.5, 0.2)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def rss_mb(self) -> float | None:
        """Its resident memory (MB), from /proc (Linux); None elsewhere or when it is not running."""
        return procfs.rss_mb(self.pid) if self.alive else None

    def logs(self, lines: int = 20) -> str:
        """The last `lines` lines the process wrote."""
        return tail(self.log_path, lines)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)  # its own session: the group is the process and its workers
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = 5.0) -> None:
        """Ask it to finish (SIGTERM); SIGKILL if it has not after `timeout` seconds."""
        self._ask_to_stop()
        self._stopped_by(time.monotonic() + timeout)

    def _ask_to_stop(self) -> None:
        if self.alive:
            self._signal_group(signal.SIGTERM)
            self._signal_group(signal.SIGCONT)  # a paused process acts on SIGTERM only once it runs again

    def _stopped_by(self, deadline: float) -> None:
        """Wait for it to finish until `deadline` (monotonic time), then SIGKILL it."""
        if self.alive:
            try:
                self.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
        self._reap()

    def kill(self) -> None:
        """SIGKILL, no goodbye: a crash, for fault injection."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        self._reap()

    def pause(self) -> None:
        """SIGSTOP: frozen mid-step, as by a long garbage collection or a VM migration; it sends and answers
        nothing, and knows nothing of the time that passes until `resume()` (SIGCONT)."""
        if self.alive:
            self._signal_group(signal.SIGSTOP)
            deadline = time.monotonic() + 1.0  # the signal is delivered a moment later: return once it is frozen
            while procfs.state(self.popen.pid) not in ("T", "") and time.monotonic() < deadline:
                time.sleep(0.005)

    def resume(self) -> None:
        """SIGCONT: go on from where `pause()` froze it."""
        if self.alive:
            self._signal_group(signal.SIGCONT)

    def _reap(self) -> None:
        if self.popen is not None:
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def restart(self) -> "Process":
        """Stop (if running) and start again with the same name, settings and data."""
        self.stop()
        return self.start()

    def forget(self) -> None:
        with _started_lock:
            if _started.get(self.name) is self:
                del _started[self.name]

    # --- display -----------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        if self.popen is None:
            return "not started"
        code = self.popen.poll()
        if code is None:
            return "paused" if procfs.state(self.popen.pid) == "T" else "running"
        return f"stopped (exit {code})" if code >= 0 else f"killed ({signal.Signals(-code).name})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.address} pid={self.pid} {self.status}>"

    def _repr_html_(self) -> str:
        return ProcessTable([self])._repr_html_()


def started(name: str) -> Process | None:
    with _started_lock:
        return _started.get(name)


def running() -> ProcessTable:
    """Every process this kernel started and has not forgotten, with its state."""
    with _started_lock:
        return ProcessTable(_started.values())


before_stop_all: list[Callable[[], None]] = []  # e.g. the monitor stops watching before Redis goes


def stop_all(kill: bool = False) -> None:
    """Stop everything this kernel started: services first, then the infrastructure they use."""
    for hook in list(before_stop_all):
        try:
            hook()
        except Exception:
            pass
    with _started_lock:
        procs = list(_started.values())
    stop_many(procs, kill)


def stop_many(procs, kill: bool = False) -> None:
    """Stop these processes and forget them: the services first, then the infrastructure they use."""
    procs = list(procs)
    services = [p for p in procs if p.kind == "service"]
    for group in (services, [p for p in procs if p.kind != "service"]):  # the infrastructure they use last
        for p in group:  # all asked at once, then waited for: a second for ten, not ten seconds
            p._signal_group(signal.SIGKILL) if kill and p.alive else p._ask_to_stop()
        deadline = time.monotonic() + 5.0
        for p in group:
            p._stopped_by(deadline)
            p.forget()


atexit.register(stop_all)
