"""Where a kernel keeps its run: logs and the data of the services it starts.

Each kernel (each Python process) gets its own folder, so two notebooks running at once never share files.
Folders left by kernels that are gone are removed the next time a run folder is made.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

RUN_DIR_ENV = "MICROCOSM_RUN_DIR"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_root() -> Path:
    user = os.environ.get("USER") or str(os.getuid())
    return Path(tempfile.gettempdir()) / f"microcosm-{user}"


def _remove_stale_runs(root: Path) -> None:
    for folder in root.glob("run-*"):
        try:
            pid = int(folder.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


@lru_cache(maxsize=None)
def _run_dir_for(pid: int) -> Path:
    if os.environ.get(RUN_DIR_ENV):
        folder = Path(os.environ[RUN_DIR_ENV]).expanduser().resolve()
    else:
        root = runs_root()
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_runs(root)
        folder = root / f"run-{pid}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_dir() -> Path:
    """This kernel's run folder (created on first use)."""
    return _run_dir_for(os.getpid())


def data_dir(name: str) -> Path:
    """The data folder of the instance called `name` (kept across its restarts)."""
    folder = run_dir() / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_path(name: str) -> Path:
    folder = run_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"
