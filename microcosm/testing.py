"""Small helpers the tests and the lab graders share: waiting for something to happen, and checking that a
process or a port is really gone. (Tests never assert wall-clock times: they wait, with a generous deadline.)"""
from __future__ import annotations

import os
import time
from pathlib import Path

import requests


def wait_until(predicate, timeout: float = 15.0, every: float = 0.05):
    """Call `predicate` until it returns something true (returned) or `timeout` seconds pass (its last value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie that nobody has reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (FileNotFoundError, IndexError):
        pass
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def process_state(pid: int) -> str:
    """The process's state letter from /proc: R running, S sleeping, T stopped (SIGSTOP), Z zombie; "" when gone."""
    from .runtime.procfs import state as _state

    return _state(pid)


def refuses_connections(url: str) -> bool:
    """Nothing answers at `url` any more."""
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return True
    return False
