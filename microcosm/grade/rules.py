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
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .locate import GRADE_DIR_ENV, REPORT_ENV, TASK_ENV, graded_labs, grading_dir, repo_root

CELL_ID = "graded-rules"
MUST = "★"


def rules(lab: str) -> list[dict]:
    """Every graded test of `lab` (parametrized ones once per parameter): name, task, doc, points, must_pass."""
    modules = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(grading_dir().glob("test_[0-9][0-9]_*.py")))
    return [{k: t[k] for k in ("name", "task", "doc", "points", "must_pass")}
            for t in json.loads(_collected(modules)) if t["lab"] == lab]


@functools.lru_cache(maxsize=8)
def _collected(modules: tuple) -> str:
    """Every graded test of every lab, as JSON: one collection (it takes seconds) per version of the modules."""
    with tempfile.TemporaryDirectory(prefix="grade-rules-") as scratch:
        report = Path(scratch) / "report.json"
        env = {**os.environ, GRADE_DIR_ENV: scratch, REPORT_ENV: str(report), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop(TASK_ENV, None)
        argv = [sys.executable, "-m", "pytest", *(str(grading_dir() / name) for name, _ in modules), "--collect-only",
                "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(repo_root())]
        done = subprocess.run(argv, cwd=repo_root(), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if not report.exists():
            raise RuntimeError(f"collecting the graded tests failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return report.read_text()


def task_points(lab: str) -> dict[str, int]:
    """{task title: its points}, in the lab's order."""
    out: dict[str, int] = {}
    for rule in rules(lab):
        out[rule["task"]] = out.get(rule["task"], 0) + rule["points"]
    return out


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
