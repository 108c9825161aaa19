"""A floor to measure against: one of the bench's bare servers (bare_flask.py, bare_asyncio.py) as a process.

    floor = Floor("bare_flask.py", "--base")     # started on a free port in its own session, up when it returns
    floor.url, floor.pid                          # like a launched service's (CpuMeter counts its session)
    floor.stop()
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import REPO  # noqa: F401  (this checkout's microcosm first on sys.path)

from microcosm.runtime.ports import HOST, free_port, is_listening


class Floor:
    def __init__(self, script: str, *options: str):
        self.port = free_port()
        argv = [sys.executable, str(Path(__file__).with_name(script)), str(self.port), *options]
        self.proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not is_listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"bench/{script} did not start (exit code {self.proc.poll()})")
            time.sleep(0.05)
        self.pid, self.url = self.proc.pid, f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def forget(self) -> None:  # what the benches call on launched services too
        pass
