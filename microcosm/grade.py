"""Grade lab notebooks: run each one in a fresh folder, then the lab's graded tests against what it built.

    python -m microcosm.grade labs/01_microservices/01_microservices.ipynb
    python -m microcosm.grade submissions/*.ipynb                 # a folder of submissions, one table each
    python -m microcosm.grade submissions/*.ipynb --json > grades.json

For each notebook:
1. copy it into a new temporary folder and execute it there with nbclient, the kernel working in that folder.
   Errors do not stop it (an unfinished answer raises NotImplementedError, the rest still runs) and each cell
   has a time limit, so the notebook's `%%writefile` cells leave the learner's files (reviews.py, ...) there;
2. run the lab's graded tests, `tests/grading/test_<lab>.py`, with pytest in a separate process, pointed at
   that folder by the environment variable MICROCOSM_GRADE_DIR. They start the learner's code as real
   processes and break them on purpose;
3. print a table: each test, passed or failed, its points; and the total.

The lab comes from the notebook's metadata (`"microcosm": {"lab": "01_microservices"}`), else its file
name; `--lab` overrides both. The grader runs the learner's code with your rights: grade untrusted
submissions in a container or a throw-away account.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRADE_DIR_ENV = "MICROCOSM_GRADE_DIR"          # folder of an executed lab notebook: the graded tests read it
GRADE_NOTEBOOK_ENV = "MICROCOSM_GRADE_NOTEBOOK"  # or a notebook: the graded tests execute it themselves
REPORT_ENV = "MICROCOSM_GRADE_REPORT"          # where the graded tests' pytest run writes its results (JSON)
CELL_TIMEOUT = 120.0
TEST_TIMEOUT = 120.0


def grading() -> bool:
    """Whether this process has a lab to grade (MICROCOSM_GRADE_DIR or MICROCOSM_GRADE_NOTEBOOK is set)."""
    return bool(os.environ.get(GRADE_DIR_ENV) or os.environ.get(GRADE_NOTEBOOK_ENV))


# why a plain `pytest` run skips the graded modules (test_grading_both_ways.py grades solutions/ and labs/ for real)
NOT_GRADING = (f"graded tests need a lab notebook: they run through `python -m microcosm.grade NOTEBOOK` (or set "
               f"{GRADE_DIR_ENV} / {GRADE_NOTEBOOK_ENV}); tests/grading/test_grading_both_ways.py runs them on "
               f"solutions/ and labs/")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def grading_dir() -> Path:
    return repo_root() / "tests" / "grading"


def graded_labs() -> list[str]:
    """Every lab that has graded tests."""
    return sorted(p.stem[len("test_"):] for p in grading_dir().glob("test_[0-9][0-9]_*.py"))


def lab_of(notebook: Path, lab: str | None = None) -> str:
    """Which lab a notebook is: `lab` if given, else its metadata, else its file name."""
    import nbformat

    if lab:
        return lab
    known = graded_labs()
    meta = nbformat.read(notebook, as_version=4).metadata.get("microcosm", {})
    for candidate in (meta.get("lab"), notebook.stem, notebook.parent.name):
        if candidate in known:
            return candidate
    raise SystemExit(f"{notebook}: cannot tell which lab this is (labs with graded tests: {', '.join(known)}); "
                     f"pass --lab NAME")


# --- 1. execute -------------------------------------------------------------------------------------
def execute(notebook: Path, folder: Path, cell_timeout: float = CELL_TIMEOUT) -> dict:
    """Run `notebook` top to bottom in `folder` (the kernel's working folder); errors do not stop it.

    Writes the executed copy to `folder/<name>` and returns a summary: cells run, cells that raised
    (index, error name, message), seconds taken.
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
            client.execute(stderr=kernel_log, stdout=kernel_log)
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


# --- 2. test ----------------------------------------------------------------------------------------
def run_graded_tests(lab: str, folder: Path, test_timeout: float = TEST_TIMEOUT, keyword: str | None = None) -> dict:
    """Run tests/grading/test_<lab>.py against `folder`; returns {"tests": [...], "output": pytest's tail}.

    `keyword` is pytest's `-k` expression: only the tests it selects run, and only they are in the report.
    """
    test_file = grading_dir() / f"test_{lab}.py"
    if not test_file.exists():
        raise SystemExit(f"no graded tests for lab {lab!r}: {test_file} does not exist")
    report = folder / ".grade-report.json"
    report.unlink(missing_ok=True)
    env = dict(os.environ)
    env.pop(GRADE_NOTEBOOK_ENV, None)
    env.update({GRADE_DIR_ENV: str(folder), REPORT_ENV: str(report), "PYTHONDONTWRITEBYTECODE": "1"})
    argv = [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider", "-o", "addopts=",
            f"--timeout={test_timeout:g}", "--rootdir", str(repo_root())]
    selected = folder / ".grade-selected.xml"
    selected.unlink(missing_ok=True)
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
    return {"tests": tests, "output": output}


def _selected(junit_xml: Path) -> set[str]:
    """The names of the tests a pytest run kept (its JUnit XML report); none if it wrote none."""
    import xml.etree.ElementTree as ET

    if not junit_xml.exists():
        return set()
    return {case.get("name") for case in ET.parse(junit_xml).iter("testcase")}


# --- 3. report --------------------------------------------------------------------------------------
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
    results = tests["tests"]
    return {
        "notebook": str(notebook), "lab": lab, "folder": str(folder) if keep else None,
        "execution": execution, "tests": results,
        "score": sum(t["earned"] for t in results), "max_score": sum(t["points"] for t in results),
        "passed": sum(t["passed"] for t in results), "total": len(results),
        "pytest_output": tests["output"],
    }


def table(result: dict) -> str:
    """One notebook's grade as a text table, with the reason of each failure under it."""
    rows = [(t["name"], "pass" if t["passed"] else t["outcome"], f"{t['earned']}/{t['points']}")
            for t in result["tests"]]
    head = ("test", "result", "points")
    total = ("total", f"{result['passed']}/{result['total']} passed", f"{result['score']}/{result['max_score']}")
    widths = [max(len(r[i]) for r in rows + [head, total]) for i in range(3)]
    line = lambda r: f"  {r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2].rjust(widths[2])}"
    out = [f"{result['notebook']}  (lab {result['lab']})"]
    ex = result["execution"]
    out.append(f"  ran {ex['cells']} code cells in {ex['seconds']} s; {len(ex['errors'])} raised an error"
               + (f" ({'cell' if len(ex['errors']) == 1 else 'cells'} {', '.join(str(e['cell'] + 1) for e in ex['errors'])},"
                  f" counting from 1)" if ex["errors"] else ""))
    if ex.get("failure"):
        out.append(f"  execution stopped: {ex['failure']}")
    out += ["", line(head), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    out.append(line(total))
    failed = [t for t in result["tests"] if not t["passed"]]
    if failed:
        out.append("\n  why:")
        out += [f"  - {t['name']}: {t['message'] or t['outcome']}" for t in failed]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microcosm.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path, help="lab notebooks to grade")
    parser.add_argument("--json", action="store_true", help="print one JSON document with every result")
    parser.add_argument("--lab", help="the lab these notebooks are (default: from metadata or file name)")
    parser.add_argument("--keep", action="store_true", help="keep each notebook's grading folder, and say where")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT, help="seconds per notebook cell")
    parser.add_argument("--test-timeout", type=float, default=TEST_TIMEOUT, help="seconds per graded test")
    args = parser.parse_args(argv)
    for notebook in args.notebooks:
        if not notebook.is_file():
            parser.error(f"no such notebook: {notebook}")
    results = []
    for notebook in args.notebooks:
        if not args.json:
            print(f"grading {notebook} ...", file=sys.stderr, flush=True)
        result = grade(notebook, lab=args.lab, keep=args.keep, cell_timeout=args.cell_timeout,
                       test_timeout=args.test_timeout)
        results.append(result)
        if not args.json:
            print(table(result) + "\n", flush=True)
            if result["folder"]:
                print(f"  kept: {result['folder']}\n")
    if args.json:
        print(json.dumps({"results": results, "score": sum(r["score"] for r in results),
                          "max_score": sum(r["max_score"] for r in results)}, indent=1))
    elif len(results) > 1:
        print("summary")
        for r in results:
            print(f"  {r['score']:>4}/{r['max_score']:<4} {r['notebook']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
