"""Starting a child process: from one long-lived spawner thread, in its own session, tied to this process's life.

The spawner thread exists because Linux's parent-death signal (see `guard.py`) fires when the *thread* that
forked the child ends, and a cell's thread may end at any time.
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from .guard import PARENT_ENV


class _Spawner:
    """One daemon thread that lives as long as the kernel and does every fork."""

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _loop(self):
        while True:
            fn, box, done = self._jobs.get()
            try:
                box["result"] = fn()
            except BaseException as exc:  # handed back to the caller
                box["error"] = exc
            done.set()

    def run(self, fn: Callable):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="microcosm-spawner", daemon=True)
                self._thread.start()
        box: dict = {}
        done = threading.Event()
        self._jobs.put((fn, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["result"]


_spawner = _Spawner()


def spawn(argv: list[str], log_file: Path, *, env: dict | None = None, pass_fds=(), cwd=None,
          stdout_file: Path | None = None) -> subprocess.Popen:
    """Start argv in its own session, tied to this process's life, output appended to log_file
    (or its standard output alone to `stdout_file`, when the caller wants to read it back)."""
    full_env = dict(os.environ if env is None else env)
    full_env[PARENT_ENV] = str(os.getpid())
    full_env.setdefault("PYTHONUNBUFFERED", "1")

    def start():
        with open(log_file, "ab") as log, open(stdout_file or os.devnull, "wb") as out:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out if stdout_file else log,
                stderr=log if stdout_file else subprocess.STDOUT,
                start_new_session=True, pass_fds=tuple(pass_fds), env=full_env, cwd=cwd,
            )

    return _spawner.run(start)


def guarded(argv: list[str]) -> list[str]:
    """argv wrapped so a binary we do not control still dies with this process (see guard.py)."""
    return [sys.executable, "-m", "microcosm.runtime.guard", str(os.getpid()), "--", *argv]
