"""nbgrader itself, run on microcosm's labs the way an instructor runs it: a course folder made by
microcosm.nbgrader_course, `nbgrader generate_assignment`, submissions copied in, `nbgrader autograde`.

Used by tests/integration/test_nbgrader.py (the release) and tests/grading/test_grading_both_ways.py (every
solution autograded by nbgrader).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from microcosm import grade, nbgrader_course


def nbgrader(course: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """`nbgrader ARGS` in `course`, outside any grading run; fails with nbgrader's log if it reports an error."""
    env = {k: v for k, v in os.environ.items()
           if k not in (grade.EXECUTING_ENV, grade.GRADE_DIR_ENV, grade.GRADE_NOTEBOOK_ENV, grade.TASK_ENV)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "| ERROR]" not in log, f"nbgrader {' '.join(args)} failed:\n{log[-4000:]}"
    return done


def autograde(course: Path, submissions: dict[str, dict[str, Path]], timeout: float = 1500) -> dict[str, dict]:
    """Release every lab of `submissions` ({lab: {student: notebook}}) in one new course folder, submit the
    notebooks and autograde them all in one `nbgrader autograde "*"` (one nbgrader start, not one per lab);
    returns {lab: {student: {"grades": {grade_id: (score, max_score)}, "notebook": the autograded copy}}}."""
    from nbgrader.api import Gradebook

    nbgrader_course.make_course(course, only=list(submissions))
    nbgrader(course, "generate_assignment", "*", "--force", timeout=300)
    for lab, notebooks in submissions.items():
        for student, notebook in notebooks.items():
            target = course / "submitted" / student / lab / f"{lab}.ipynb"
            target.parent.mkdir(parents=True)
            target.write_bytes(Path(notebook).read_bytes())
    nbgrader(course, "autograde", "*", "--create", "--force", timeout=timeout)
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for lab, notebooks in submissions.items():
            out[lab] = {}
            for student in notebooks:
                submission = gradebook.find_submission(lab, student)
                out[lab][student] = {
                    "grades": {g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades},
                    "notebook": nbformat.read(course / "autograded" / student / lab / f"{lab}.ipynb", as_version=4)}
    return out


def errors(notebook) -> list[str]:
    """The errors the autograded notebook's cells raised, as 'cell N: Name: message'."""
    return [f"cell {n}: {o.get('ename')}: {str(o.get('evalue', ''))[:300]}" for n, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def cell_text(notebook, cell_id: str) -> str:
    """What a cell printed (its text outputs), for a failure message."""
    for cell in notebook.cells:
        if cell.get("id") == cell_id:
            return "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                             for o in cell.get("outputs", []))
    return ""
