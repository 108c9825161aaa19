"""What the tests' `launch` fixtures are made of: microcosm.launch that remembers what it started, to stop it all.

tests/conftest.py makes one for each test (`launch`) and one for each module (`launch_for_module`);
tests/grading/conftest.py makes the graded tests' kind, which turns a start failure into a test failure.
"""
from __future__ import annotations

import os
import signal

import microcosm


class Launched:
    """launch(service, name, **config) -> microcosm.Service; stop_all() stops and forgets them, last first.

    Infrastructure (Redis, ZooKeeper) is not launched here, so it stays."""

    def __init__(self):
        self.instances: list[microcosm.Service] = []

    def __call__(self, service, name=None, **config) -> microcosm.Service:
        instance = microcosm.launch(service, name, **config)
        self.instances.append(instance)
        return instance

    def stop_all(self) -> None:
        for instance in reversed(self.instances):
            if instance.pid:
                try:
                    os.killpg(instance.pid, signal.SIGCONT)  # in case a test froze it (SIGSTOP)
                except (ProcessLookupError, PermissionError):
                    pass
            instance.stop()
            instance.forget()
        self.instances.clear()
