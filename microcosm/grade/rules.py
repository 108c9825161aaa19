"""A lab's graded rules, as its graded tests state them, and the "How it is graded" cell that shows them.

    python -m microcosm.grade.rules            # rewrite that cell in every solutions/ notebook, then: make labs
    python -m microcosm.grade.rules --check    # exit 1 if a solution's cell is not what the tests say

Each rule is a graded test: its task, what it checks (its docstring's first line), its points, and whether it
must pass (`@points(n, must_pass=True)`: when it fails, its task earns less than half of its points). They
are read by collecting `tests/grading/test_<lab>.py` with pytest, nothing run, so the lab can never promise
other rules or other points than the grader applies: tests/grading/test_rules_stated.py checks the cell.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .locate import (EXECUTING_ENV, GRADE_DIR_ENV, GRADE_NOTEBOOK_ENV, REPORT_ENV, TASK_ENV, graded_labs,
                     grading_dir, repo_root, tasks)

CELL_ID = "graded-rules"
MUST = "★"


def rules(lab: str) -> list[dict]:
    """Every graded test of `lab` (parametrized ones once per parameter): name, task, doc, points, must_pass."""
    return [{k: t[k] for k in ("name", "task", "doc", "points", "must_pass")} for t in collected() if t["lab"] == lab]


_memory: dict[str, list[dict]] = {}


def collected() -> list[dict]:
    """Every graded test of every lab, in the order pytest runs them, as the grading conftest reports them.

    pytest collects the graded modules (nothing runs); that takes seconds, so the answer is kept, in this process
    and in a file of the temporary folder, for as long as no file it may depend on changes (tests/, microcosm/)."""
    root = repo_root()
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted([*(root / "tests").rglob("*.py"), *(root / "microcosm").rglob("*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()[:32]
    if key not in _memory:
        cache = Path(tempfile.gettempdir()) / "microcosm-rules" / f"{key}.json"
        try:
            _memory[key] = json.loads(cache.read_text())
        except (OSError, ValueError):
            _memory[key] = _collect()
            cache.parent.mkdir(exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}")
            partial.write_text(json.dumps(_memory[key], ensure_ascii=False))
            partial.replace(cache)
    return _memory[key]


def _collect() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="grade-rules-") as scratch:
        report = Path(scratch) / "report.json"
        env = {k: v for k, v in os.environ.items() if k not in (GRADE_NOTEBOOK_ENV, TASK_ENV, EXECUTING_ENV)}
        env.update({GRADE_DIR_ENV: scratch, REPORT_ENV: str(report), "PYTHONDONTWRITEBYTECODE": "1"})
        modules = [str(grading_dir() / f"test_{lab}.py") for lab in graded_labs()]
        argv = [sys.executable, "-m", "pytest", *modules, "--collect-only", "-q", "-p", "no:cacheprovider",
                "-p", "no:nbval", "-o", "addopts=", "--rootdir", str(repo_root())]
        done = subprocess.run(argv, cwd=repo_root(), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0 or not report.exists():
            raise RuntimeError(f"collecting the graded tests failed (exit {done.returncode}):\n"
                               + "\n".join((done.stdout + done.stderr).splitlines()[-30:]))
        return json.loads(report.read_text())


def task_points(lab: str) -> dict[str, int]:
    """{task title: its points}, in the order of the graded module's TASKS (a task without tests left out)."""
    out = {title: 0 for title in tasks(lab)}
    for rule in rules(lab):
        out[rule["task"]] = out.get(rule["task"], 0) + rule["points"]
    return {title: points for title, points in out.items() if points}


def markdown(lab: str) -> str:
    """The lab's "How it is graded" cell: per task, a table of what is checked and what it is worth."""
    found = rules(lab)
    total = sum(r["points"] for r in found)
    out = ["## How it is graded", "",
           f"The graded tests (`tests/grading/test_{lab}.py`) start your code as real processes, break things on "
           f"purpose, and check the rules below: {total} points in all. A rule marked {MUST} must pass: if it "
           f"fails, its task earns less than half of its points, whatever else passes (a mistake there is not a "
           f"detail, it is the lesson). Check your work from the last cell of this notebook."]
    for task, points in task_points(lab).items():
        out += ["", f"**{task}**: {points} points", "", "| points | rule |", "|---:|:---|"]
        out += [f"| {r['points']}{' ' + MUST if r['must_pass'] else ''} | {r['doc'].replace('|', '&#124;')} |"
                for r in found if r["task"] == task]
    return "\n".join(out)


def solution_path(lab: str) -> Path:
    return repo_root() / "solutions" / lab / f"{lab}.ipynb"


def write(lab: str) -> bool:
    """Put the cell into the solution notebook (after its first cell if it has none yet); True if it changed."""
    path = solution_path(lab)
    nb = json.loads(path.read_text())
    text = markdown(lab)
    cell = next((c for c in nb["cells"] if c.get("id") == CELL_ID), None)
    if cell is not None and "".join(cell["source"]) == text:
        return False
    if cell is None:
        cell = {"cell_type": "markdown", "id": CELL_ID, "metadata": {}, "source": []}
        nb["cells"].insert(1, cell)
    cell["source"] = text.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def stated(notebook: Path) -> str:
    """The text of a notebook's "How it is graded" cell ("" if it has none)."""
    cells = json.loads(notebook.read_text())["cells"]
    return next(("".join(c["source"]) for c in cells if c.get("id") == CELL_ID), "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microcosm.grade.rules", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming every stale lab")
    args = parser.parse_args(argv)
    stale = [lab for lab in graded_labs() if stated(solution_path(lab)) != markdown(lab)]
    if args.check:
        for lab in stale:
            print(f"{solution_path(lab)}: its '{CELL_ID}' cell is not what the graded tests say; "
                  f"run: python -m microcosm.grade.rules && make labs")
        return 1 if stale else 0
    for lab in stale:
        write(lab)
        print(f"wrote the rules of {lab} into {solution_path(lab)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
