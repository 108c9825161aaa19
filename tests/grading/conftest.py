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

The graded modules share their set-up from here too: `launch` (one test's processes) and `launch_for_module`
(a module's), which start the learner's code and the services around it as real processes, in a folder of
their own, and turn a start failure into a test failure that shows the process's last log line; and
`learner_object`, which loads an object from one of the learner's files as a service would.

Each graded test carries `@pytest.mark.points(n)`. When MICROCOSM_GRADE_REPORT names a file, the results
(name, outcome, points, reason) are written there as JSON for the grader's table.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import microcosm
from launching import Launched
from microcosm import grade
from microcosm.grade.scoring import cap_tasks, under_half
from microcosm.services.loader import load_object

HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n, must_pass=False): what a graded test is worth; a must-pass test "
                                       "that fails caps its task below half of the task's points")


class NotGraded(pytest.Module):
    """A graded module in a plain `pytest` run, which has no notebook to grade: one skip, saying why."""

    def collect(self):
        pytest.skip(grade.NOT_GRADING, allow_module_level=True)


def is_graded_module(path: Path) -> bool:
    return path.parent == HERE and bool(re.fullmatch(r"test_\d\d_\w+\.py", path.name))


def pytest_pycollect_makemodule(module_path, parent):
    if is_graded_module(module_path) and not grade.grading():
        return NotGraded.from_parent(parent, path=module_path)
    return None


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


@pytest.fixture(scope="session")
def learner_object(learner_file):
    """learner_object("expiry.py", "overdue") -> that object of the learner's file, loaded as a service loads it;
    a failure that says so if it cannot be loaded."""
    def load(name: str, attribute: str):
        path = learner_file(name)
        try:
            return load_object(f"{path}:{attribute}")
        except Exception as exc:
            pytest.fail(f"{name}:{attribute} cannot be loaded: {type(exc).__name__}: {exc}")
    return load


# --- the live processes -----------------------------------------------------------------------------
class GradedLaunch(Launched):
    """launch(service, name, **config) for graded tests: each process gets a data_dir of its own under `folder`
    (unless the test names one), and a start failure becomes a test failure showing the process's last words."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def __call__(self, service, name, **config) -> microcosm.Service:
        config.setdefault("data_dir", str(self.folder / name))
        try:
            return super().__call__(service, name, **config)
        except microcosm.LaunchError as exc:
            lines = [line for line in exc.log_tail.splitlines() if line.strip() and not line.startswith("---")]
            pytest.fail(f"{name} did not start ({exc.reason}); its last log line: {lines[-1] if lines else '(none)'}")


@pytest.fixture
def launch(lab_dir, tmp_path):
    """The processes of one graded test, stopped at its end (thawed first, in case the test froze one)."""
    launched = GradedLaunch(tmp_path)
    yield launched
    launched.stop_all()


@pytest.fixture(scope="module")
def launch_for_module(lab_dir, tmp_path_factory):
    """The processes a graded module shares, stopped when the module is done."""
    launched = GradedLaunch(tmp_path_factory.mktemp("processes"))
    yield launched
    launched.stop_all()


# --- tasks, and the report for the grader ---------------------------------------------------------
# A graded module names the lab's tasks: TASKS = {"Task 1 · Least connections": ("least_connections",), ...},
# each title as the lab's heading says it, with the words (in the test's name, parameters included) of its tests.
# With MICROCOSM_GRADE_UNTIL_UNDER_HALF set (test_wrong_answers.py), must-pass tests run first and the run
# stops once every task is sure to earn less than half: what a wrong answer must show, and no more.
UNTIL_UNDER_HALF_ENV = "MICROCOSM_GRADE_UNTIL_UNDER_HALF"
_results: dict[str, dict] = {}
_session = None


def task_of(item) -> str:
    """The lab task a graded test belongs to: the one of its module's TASKS with a word in the test's name."""
    tasks = getattr(item.module, "TASKS", None)
    if not tasks:
        raise pytest.UsageError(f"{item.nodeid}: a graded module names its lab's tasks in TASKS")
    matching = [title for title, words in tasks.items() if any(word in item.name for word in words)]
    if len(matching) != 1:
        raise pytest.UsageError(f"{item.nodeid}: belongs to {len(matching)} of the tasks {list(tasks)}, not one")
    return matching[0]


@pytest.hookimpl(trylast=True)  # after pytest's own -k and -m deselection: the report lists what runs
def pytest_collection_modifyitems(session, config, items):
    graded = [item for item in items if is_graded_module(item.path)]
    if not graded:
        return
    wanted = os.environ.get(grade.TASK_ENV)  # only that task's tests: a check of one task, a wrong answer
    if wanted:
        keep = [item for item in items if item not in graded or task_of(item) == wanted]
        if not any(item in graded for item in keep):
            raise pytest.UsageError(f"{grade.TASK_ENV}={wanted!r}: no graded test belongs to that task")
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    if not os.environ.get(grade.REPORT_ENV):
        return
    if os.environ.get(UNTIL_UNDER_HALF_ENV):
        items.sort(key=lambda item: not item.get_closest_marker("points").kwargs.get("must_pass"))
    for item in items:
        marker = item.get_closest_marker("points")
        if marker is None:
            raise pytest.UsageError(f"{item.nodeid}: a graded test needs @pytest.mark.points(n)")
        doc = (getattr(item.function, "__doc__", None) or "").strip().splitlines()
        _results[item.nodeid] = {"name": item.name, "lab": item.path.stem[len("test_"):], "task": task_of(item), "doc": doc[0] if doc else "",
                                 "points": int(marker.args[0]), "must_pass": bool(marker.kwargs.get("must_pass")),
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
    if os.environ.get(UNTIL_UNDER_HALF_ENV) and _session is not None and under_half(list(_results.values())):
        _session.shouldstop = "every task is sure to earn less than half of its points"


def pytest_sessionstart(session):
    global _session
    _session = session


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(grade.REPORT_ENV)
    if path:
        results = list(_results.values())
        cap_tasks(results)
        Path(path).write_text(json.dumps(results, indent=1))
