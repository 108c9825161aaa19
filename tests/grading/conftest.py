"""What every graded test module shares: the learner's folder, points, and the report the grader reads.

A graded module `test_<lab>.py` tests what a lab notebook built. Its tests get the folder of the executed
notebook from the `lab_dir` fixture:

- `python -m microcosm.grade NOTEBOOK` executes the notebook and runs the module with MICROCOSM_GRADE_DIR
  set to that folder (the usual way);
- `MICROCOSM_GRADE_NOTEBOOK=path/to/lab.ipynb pytest tests/grading/test_<lab>.py` executes the notebook
  once per session here, for working on the graded tests themselves;
- with neither set (a plain `pytest` run) the graded tests skip, saying why. They are not unchecked for
  that: `test_grading_both_ways.py` runs the grader on every solution (all must pass) and every untouched
  lab (all must fail).

Each graded test carries `@pytest.mark.points(n)`. When MICROCOSM_GRADE_REPORT names a file, the results
(name, outcome, points, reason) are written there as JSON for the grader's table.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from microcosm import grade


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): what a graded test is worth")


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory) -> Path:
    """The folder where the lab notebook ran: its %%writefile cells left the learner's files there."""
    if os.environ.get(grade.GRADE_DIR_ENV):
        folder = Path(os.environ[grade.GRADE_DIR_ENV]).resolve()
        if not folder.is_dir():
            pytest.fail(f"{grade.GRADE_DIR_ENV}={folder} is not a folder")
        return folder
    if os.environ.get(grade.GRADE_NOTEBOOK_ENV):
        notebook = Path(os.environ[grade.GRADE_NOTEBOOK_ENV]).resolve()
        folder = tmp_path_factory.mktemp("lab")
        grade.execute(notebook, folder)
        return folder
    pytest.skip(grade.NOT_GRADING)


@pytest.fixture(scope="session")
def learner_file(lab_dir):
    """learner_file("reviews.py") -> its path in lab_dir; a failure that says so if the notebook did not write it."""
    def find(name: str) -> Path:
        path = lab_dir / name
        if not path.is_file():
            pytest.fail(f"{name} is not in the notebook's folder: did its %%writefile {name} cell run?")
        return path
    return find


# --- the report for the grader ---------------------------------------------------------------------
_results: dict[str, dict] = {}


def pytest_collection_modifyitems(session, config, items):
    if not os.environ.get(grade.REPORT_ENV):
        return
    for item in items:
        marker = item.get_closest_marker("points")
        if marker is None:
            raise pytest.UsageError(f"{item.nodeid}: a graded test needs @pytest.mark.points(n)")
        doc = (getattr(item.function, "__doc__", None) or "").strip().splitlines()
        _results[item.nodeid] = {"name": item.name, "doc": doc[0] if doc else "", "points": int(marker.args[0]),
                                 "earned": 0, "passed": False, "outcome": "not run", "message": ""}


def _reason(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    elif isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        text = report.longrepr[2]
    else:
        text = str(report.longrepr or "")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def pytest_runtest_logreport(report):
    result = _results.get(report.nodeid)
    if result is None:
        return
    if report.failed:
        if result["outcome"] in ("not run", "passed"):
            result.update(outcome="failed" if report.when == "call" else "error", message=_reason(report),
                          passed=False, earned=0)
    elif report.skipped and result["outcome"] == "not run":
        result.update(outcome="skipped", message=_reason(report))
    elif report.when == "call" and report.passed and result["outcome"] == "not run":
        result.update(outcome="passed", passed=True, earned=result["points"])


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(grade.REPORT_ENV)
    if path:
        Path(path).write_text(json.dumps(list(_results.values()), indent=1))
