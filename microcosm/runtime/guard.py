"""Tie a child process's life to its parent's: no orphans, however the parent dies.

On Linux the kernel does it for us: `prctl(PR_SET_PDEATHSIG, SIGKILL)` asks for SIGKILL the moment the
thread that forked us ends (so the parent spawns from one long-lived thread, see `process.py`). Elsewhere
(macOS) a watchdog thread polls the parent's pid and exits when it is gone.

Used two ways:
- in our own services: `die_with_parent()` first thing in `microcosm.serve`;
- for real binaries (redis-server, java): `python -m microcosm.runtime.guard PARENT_PID -- cmd args...`
  sets the death signal and then *becomes* the binary (exec), so no extra process stays around.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
PARENT_ENV = "MICROCOSM_PARENT_PID"


WATCHDOG_ENV = "MICROCOSM_GUARD_WATCHDOG"  # set to 1 to use the portable watchdog even on Linux (tests do)


def _set_death_signal() -> bool:
    """Ask Linux to SIGKILL us when our parent goes away. False where prctl does not exist."""
    if not sys.platform.startswith("linux") or os.environ.get(WATCHDOG_ENV) == "1":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parent_is_gone(expected: int) -> bool:
    return os.getppid() != expected


def _watchdog(expected: int, on_gone, interval: float = 0.5) -> None:
    def watch():
        while not _parent_is_gone(expected):
            time.sleep(interval)
        on_gone()

    threading.Thread(target=watch, name="microcosm-watchdog", daemon=True).start()


def die_with_parent(expected_parent: int | None = None) -> None:
    """Make this process exit when its parent dies. Call first thing in a child."""
    if expected_parent is None:
        value = os.environ.get(PARENT_ENV)
        if not value:
            return  # started by hand from a shell: nothing to tie to
        expected_parent = int(value)
    has_prctl = _set_death_signal()
    if _parent_is_gone(expected_parent):  # the parent died before we asked: go now
        os._exit(1)
    if not has_prctl:
        _watchdog(expected_parent, lambda: os._exit(1))


def exec_guarded(expected_parent: int, argv: list[str]) -> None:
    """Become `argv`, dying with `expected_parent`. On macOS stay as a small supervising parent."""
    if _set_death_signal():
        if _parent_is_gone(expected_parent):
            os._exit(1)
        os.execvp(argv[0], argv)  # PDEATHSIG survives exec
    child = subprocess.Popen(argv)

    def stop_child(*_):
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop_child)
    _watchdog(expected_parent, stop_child)
    sys.exit(child.wait())


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: python -m microcosm.runtime.guard PARENT_PID -- command [args...]")
    exec_guarded(int(args[0]), args[2:])


if __name__ == "__main__":
    main()
