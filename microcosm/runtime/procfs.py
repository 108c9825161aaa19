"""What Linux's /proc says about a process: its resident memory, its state letter."""
from __future__ import annotations

from pathlib import Path


def rss_mb(pid: int) -> float | None:
    """The resident memory (MB) of process `pid`, from /proc (Linux); None elsewhere or when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def state(pid: int) -> str:
    """The process's state letter from /proc (R running, S sleeping, T stopped...); "" where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""
