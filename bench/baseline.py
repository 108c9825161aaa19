"""The code as it was, side by side with the code as it is, in one run: services launched from the `microcosm`
package of an earlier commit.

    with baseline.checkout("b23489a") as old:                   # microcosm/ of that commit, in a temp folder
        gateway = baseline.launch(old, "gateway", "bench-gw-old", **config)   # like microcosm.launch

Figures from two runs on a shared 2-core machine differ by more than most changes do, so a bench that is
given `--baseline-ref REV` measures the old code's process in the same interleaved rounds as the new one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile

from common import REPO

import microcosm


def label(ref: str) -> str:
    """The commit's short hash (what the tables print)."""
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], capture_output=True, text=True,
                          check=True).stdout.strip()


@contextlib.contextmanager
def checkout(ref: str):
    """A temp folder holding the `microcosm` package as it was at `ref` (git archive: the repo is not touched)."""
    folder = tempfile.mkdtemp(prefix="microcosm-baseline-")
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "microcosm"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def launch(code: str, service: str, name: str, **config):
    """microcosm.launch, but the process imports microcosm from `code`: `python -m` puts its working folder
    first on sys.path, so the child is started from there (and with it on PYTHONPATH)."""
    cwd, pythonpath = os.getcwd(), os.environ.get("PYTHONPATH")
    os.chdir(code)
    os.environ["PYTHONPATH"] = code
    try:
        return microcosm.launch(service, name, **config)
    finally:
        os.chdir(cwd)
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
