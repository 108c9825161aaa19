"""Run a lab: execute its notebook in a folder, then its graded tests against the files the notebook left there."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .locate import (EXECUTING_ENV, GRADE_DIR_ENV, GRADE_NOTEBOOK_ENV, REPORT_ENV, TASK_ENV, grading_dir, lab_of,
                     repo_root)

CELL_TIMEOUT = 120.0
TEST_TIMEOUT = 120.0


def execute(notebook: Path, folder: Path, cell_timeout: float = CELL_TIMEOUT) -> dict:
    """Run `notebook` top to bottom in `folder` (the kernel's working folder); errors do not stop it.

    Writes the executed copy to `folder/<name>` and returns a summary: cells run, cells that raised
    (index, error name, message), seconds taken. The kernel has MICROCOSM_GRADE_EXECUTING set, so a
    `microcosm.grade.check()` cell in the notebook leaves the tests to the grader.
    """
    import nbformat
    from nbclient import NotebookClient

    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(folder)}})
    started = time.monotonic()
    failure = None
    try:
        with open(folder / "kernel.log", "ab") as kernel_log:  # the kernel's own chatter, not the cells' output
            client.execute(stderr=kernel_log, stdout=kernel_log, env={**os.environ, EXECUTING_ENV: "1"})
    except Exception as exc:  # the kernel died or would not start: grade whatever files exist
        failure = f"{type(exc).__name__}: {exc}".strip()[:500]
    errors = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                errors.append({"cell": index, "error": output.get("ename", ""),
                               "message": str(output.get("evalue", ""))[:300]})
    nbformat.write(nb, folder / notebook.name)
    return {"cells": sum(c.cell_type == "code" for c in nb.cells), "errors": errors, "failure": failure,
            "seconds": round(time.monotonic() - started, 1)}


def run_graded_tests(lab: str, folder: Path, test_timeout: float = TEST_TIMEOUT, keyword: str | None = None,
                     task: str | None = None) -> dict:
    """Run tests/grading/test_<lab>.py against `folder`; returns {"tests": [...], "output": pytest's tail}.

    `keyword` is pytest's `-k` expression, `task` a task's exact title (see locate.task_title): only the tests
    they select run, and only they are in the report.
    """
    test_file = grading_dir() / f"test_{lab}.py"
    if not test_file.exists():
        raise SystemExit(f"no graded tests for lab {lab!r}: {test_file} does not exist")
    missing = [name for name in ("pytest", "pytest_timeout") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"the graded tests need {' and '.join(missing)} in {sys.executable}'s environment: "
                           f"pip install -e '.[dev]' from the repository's root")
    with tempfile.TemporaryDirectory(prefix="grade-report-") as scratch:  # nothing left in the learner's folder
        report, selected = Path(scratch) / "report.json", Path(scratch) / "selected.xml"
        env = dict(os.environ)
        for name in (GRADE_NOTEBOOK_ENV, TASK_ENV, EXECUTING_ENV):
            env.pop(name, None)
        env.update({GRADE_DIR_ENV: str(Path(folder).resolve()), REPORT_ENV: str(report),
                    "PYTHONDONTWRITEBYTECODE": "1"})
        if task:
            env[TASK_ENV] = task
        # -p no:nbval: the graded tests run no notebook, and loading nbval costs about 3 s per run
        argv = [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider", "-p", "no:nbval",
                "-o", "addopts=",
                f"--timeout={test_timeout:g}", "--rootdir", str(repo_root())]
        if keyword:  # the report lists every collected test; pytest's JUnit XML names the ones -k kept
            argv += ["-k", keyword, f"--junitxml={selected}"]
        done = subprocess.run(argv, cwd=repo_root(), env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = "\n".join(done.stdout.splitlines()[-40:])
        if not report.exists():
            raise RuntimeError(f"the graded tests of {lab} wrote no report (pytest exit {done.returncode}):\n{output}")
        tests = json.loads(report.read_text())
        if keyword:
            kept = _selected(selected)
            tests = [t for t in tests if t["name"] in kept]
    for test in tests:
        test.setdefault("task", "")
    return {"tests": tests, "output": output}


def _selected(junit_xml: Path) -> set[str]:
    """The names of the tests a pytest run kept (its JUnit XML report); none if it wrote none."""
    import xml.etree.ElementTree as ET

    if not junit_xml.exists():
        return set()
    return {case.get("name") for case in ET.parse(junit_xml).iter("testcase")}


def summary(tests: list[dict], **fields) -> dict:
    """A grade: `fields` (notebook, lab, ...), the tests, and their score."""
    return {**fields, "tests": tests,
            "score": sum(t["earned"] for t in tests), "max_score": sum(t["points"] for t in tests),
            "passed": sum(t["passed"] for t in tests), "total": len(tests)}


def grade(notebook: Path, *, lab: str | None = None, keep: bool = False, cell_timeout: float = CELL_TIMEOUT,
          test_timeout: float = TEST_TIMEOUT) -> dict:
    """Execute one notebook in a fresh folder and grade it; the folder is removed unless `keep`."""
    notebook = Path(notebook).resolve()
    lab = lab_of(notebook, lab)
    folder = Path(tempfile.mkdtemp(prefix=f"grade-{lab}-"))
    try:
        shutil.copy2(notebook, folder / notebook.name)
        execution = execute(folder / notebook.name, folder, cell_timeout)
        tests = run_graded_tests(lab, folder, test_timeout)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    result = summary(tests["tests"], notebook=str(notebook), lab=lab, folder=str(folder) if keep else None,
                     execution=execution)
    result["pytest_output"] = tests["output"]
    return result
