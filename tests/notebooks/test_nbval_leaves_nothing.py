"""nbval ends a notebook by SIGKILLing its kernel (atexit never runs): whatever the notebook started dies too.

The course notebooks stop everything in their last cell; this notebook deliberately does not, so what is
tested is the guard (the processes die with the kernel), the way a learner's unfinished notebook ends.
"""
import json
import subprocess
import sys
import time

import nbformat
import pytest

from microcosm.testing import gone, refuses_connections

pytestmark = pytest.mark.slow

LAUNCH_AND_LEAVE = """\
import json, os
import microcosm

catalog = microcosm.launch("catalog")
orders = microcosm.launch("orders")
carts = microcosm.launch("carts")          # and this kernel's Redis
started = [{"name": p.name, "pid": p.pid, "url": getattr(p, "url", "")} for p in microcosm.running()]
assert all(p.alive for p in microcosm.running())
with open("started.json", "w") as f:
    json.dump({"kernel": os.getpid(), "started": started}, f)
"""


def test_processes_die_with_the_kernel_nbval_kills(tmp_path):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LAUNCH_AND_LEAVE)],
                                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}}),
                   tmp_path / "leave_running.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the repository's settings
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                          "-q", "leave_running.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    record = json.loads((tmp_path / "started.json").read_text())
    names = {p["name"] for p in record["started"]}
    assert {"catalog", "orders", "carts", "redis"} <= names
    pids = [record["kernel"]] + [p["pid"] for p in record["started"]]
    deadline = time.monotonic() + 30
    while not all(map(gone, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(map(gone, pids)), f"left running after nbval: {[p for p in pids if not gone(p)]}"
    for process in record["started"]:
        if process["url"].startswith("http"):
            assert refuses_connections(process["url"] + "/health"), process
