"""nbgrader itself releases and autogrades the labs (issue 10), in a course folder made by microcosm.nbgrader_course.

- `nbgrader generate_assignment` of every solution makes the notebook `make labs` makes, cell for cell: the
  same sources, outputs, ids and metadata, nbgrader's checksums and locks included (labs.make_lab adds them
  as nbgrader does). The one difference is the notebook's metadata: `make labs` adds microcosm.generated_from.
- `nbgrader autograde` is tested in tests/grading/test_grading_both_ways.py: every solution, autograded by
  nbgrader, earns every point (its check cells run the graded tests against live processes inside nbgrader's
  kernel, and nbgrader takes the number each prints as the task's partial credit), and lab 01 untouched none.
"""
from __future__ import annotations

import json

import pytest

from microcosm import labs, nbgrader_course
from nbgrader_runs import nbgrader

ROOT = labs.repo_root()


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
