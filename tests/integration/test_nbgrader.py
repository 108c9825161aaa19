"""nbgrader itself releases and autogrades the labs (issue 10), in a course folder made by microcosm.nbgrader_course.

- `nbgrader generate_assignment` of every solution makes the notebook `make labs` makes, cell for cell: the
  same sources, outputs, ids and metadata, nbgrader's checksums and locks included (labs.make_lab adds them
  as nbgrader does). The one difference is the notebook's metadata: `make labs` adds microcosm.generated_from.
- `nbgrader autograde` of lab 01 (the quickest lab: one run is about 35 s here) gives the solution every point
  and the untouched lab none: its check cells run the graded tests against live processes inside nbgrader's
  kernel, and nbgrader takes the number each prints as the task's partial credit. Only lab 01: the whole
  suite has no room for the others; test_grading_both_ways.py grades every lab with microcosm's grader.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from microcosm import grade, labs, nbgrader_course, nbgrader_meta

ROOT = labs.repo_root()
LAB = "01_microservices"


def nbgrader(course: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in (grade.EXECUTING_ENV, grade.GRADE_DIR_ENV, grade.GRADE_NOTEBOOK_ENV, grade.TASK_ENV)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "| ERROR]" not in log, f"nbgrader {' '.join(args)} failed:\n{log[-4000:]}"
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with every lab released by nbgrader, and the labs `make labs` makes from the same sources."""
    folder = tmp_path_factory.mktemp("course")
    nbgrader_course.make_course(folder)
    expected = {path.name: json.loads(text) for path, text in labs.plan(ROOT).items()}
    nbgrader(folder, "generate_assignment", "*", "--force", timeout=300)
    return folder, expected


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_nbgrader_releases_the_same_notebook_as_make_labs(course):
    folder, expected = course
    released = {p.name: json.loads(p.read_text()) for p in (folder / "release").glob("*/*.ipynb")}
    assert sorted(released) == sorted(expected) and released
    for name, lab in expected.items():
        got = released[name]
        assert len(got["cells"]) == len(lab["cells"]), name
        for index, (ours, theirs) in enumerate(zip(lab["cells"], got["cells"])):
            assert ours == theirs, f"{name}, cell {index}: make labs and nbgrader differ"
        lab["metadata"]["microcosm"].pop("generated_from")
        assert got["metadata"] == lab["metadata"]
        assert (got["nbformat"], got["nbformat_minor"]) == (lab["nbformat"], lab["nbformat_minor"])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_nbgrader_autogrades_the_solution_full_and_the_untouched_lab_zero(course):
    folder, _ = course
    for student, notebook in (("solution", folder / "source" / LAB / f"{LAB}.ipynb"),
                              ("untouched", folder / "release" / LAB / f"{LAB}.ipynb")):
        target = folder / "submitted" / student / LAB / notebook.name
        target.parent.mkdir(parents=True)
        target.write_bytes(notebook.read_bytes())
    nbgrader(folder, "autograde", LAB, "--create", "--force", timeout=840)

    from nbgrader.api import Gradebook

    points = nbgrader_meta.task_points([LAB])[LAB]
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        scores = {}
        for student in ("solution", "untouched"):
            submission = gradebook.find_submission(LAB, student)
            scores[student] = {g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades}
    cells = {f"{nbgrader_meta.CHECK_ID}{n}": worth for n, worth in enumerate(points.values(), 1)}
    assert scores["solution"] == {grade_id: (worth, worth) for grade_id, worth in cells.items()}
    assert scores["untouched"] == {grade_id: (0, worth) for grade_id, worth in cells.items()}
