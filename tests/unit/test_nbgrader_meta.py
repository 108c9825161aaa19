"""nbgrader's metadata on a solution notebook, from its markers and its tasks' points (microcosm/nbgrader_meta.py).
That nbgrader itself accepts the result, releases it as `make labs` does and autogrades it: tests/integration/test_nbgrader.py."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from microcosm import labs, nbgrader_meta

POINTS = {"Task 1 · A service": 10, "Task 2 · A policy": 16}


def notebook():
    return new_notebook(cells=[
        new_markdown_cell("# Lab"),
        new_markdown_cell("> between `### BEGIN SOLUTION` and ...", metadata={"tags": ["solution-only"]}),
        new_code_cell("%%writefile reviews.py\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        new_code_cell("print(1)"),
        new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        new_markdown_cell("## Check your work, and going further\n\nMore."),
        new_code_cell("microcosm.stop_all()"),
    ])


def nbg(cell):
    return cell.metadata.get("nbgrader")


def test_answers_become_solution_cells_and_each_task_a_check_cell():
    nb = notebook()
    nbgrader_meta.annotate(nb, "01_x", POINTS)
    cells = nb.cells
    assert nbg(cells[2]) == {"grade": False, "grade_id": "reviews_py", "locked": False, "schema_version": 3,
                             "solution": True}
    assert nbg(cells[4])["solution"] and nbg(cells[4])["grade"] and nbg(cells[4])["points"] == nbgrader_meta.MANUAL_POINTS
    assert nbg(cells[1]) is None and nbg(cells[3]) is None  # instructor notes and plain cells: nothing
    checks = cells[6:8]  # right after the "Check your work" heading
    assert [nbg(c)["grade_id"] for c in checks] == ["check-task-1", "check-task-2"]
    assert [(nbg(c)["points"], nbg(c)["grade"], nbg(c)["locked"], nbg(c)["solution"]) for c in checks] == \
        [(10, True, True, False), (16, True, True, False)]
    assert checks[0].source.splitlines()[0] == "# NBVAL_SKIP"  # nbval does not run the graded tests
    assert 'microcosm.grade.check("01_x", task=1)' in checks[0].source
    assert checks[1].source.endswith('result["score"] if result else None')  # the number nbgrader grades by
    assert cells[8].source == "microcosm.stop_all()"
    nbformat.validate(nb)


def test_annotating_again_changes_nothing_but_what_changed():
    nb = notebook()
    nbgrader_meta.annotate(nb, "01_x", POINTS)
    first = labs.render(nb)
    nbgrader_meta.annotate(nb, "01_x", POINTS)
    assert labs.render(nb) == first
    nb.cells[4].metadata["nbgrader"]["points"] = 5          # an instructor's points for a written answer stay
    nb.cells[2].metadata["nbgrader"]["grade_id"] = "mine"   # and so does a grade_id once given
    nbgrader_meta.annotate(nb, "01_x", {"Task 1 · A service": 12})  # points changed, task 2 gone
    assert nbg(nb.cells[4])["points"] == 5 and nbg(nb.cells[2])["grade_id"] == "mine"
    checks = [c for c in nb.cells if (nbg(c) or {}).get("grade_id", "").startswith(nbgrader_meta.CHECK_ID)]
    assert [(nbg(c)["grade_id"], nbg(c)["points"]) for c in checks] == [("check-task-1", 12)]
    assert "task=" not in checks[0].source  # a lab of one task checks it whole


def test_the_learners_copy_is_locked_and_checksummed_as_nbgrader_releases_it():
    nb = notebook()
    nbgrader_meta.annotate(nb, "01_x", POINTS)
    lab = labs.make_lab(nb)
    answer, written, check = lab.cells[1], lab.cells[3], lab.cells[5]
    assert answer.metadata["deletable"] is False and "editable" not in answer.metadata
    assert written.metadata["deletable"] is False and "editable" not in written.metadata
    assert check.metadata["deletable"] is False and check.metadata["editable"] is False
    for cell in (answer, written, check):
        assert len(nbg(cell)["checksum"]) == 32 and nbg(cell)["cell_type"] == cell.cell_type
    assert "deletable" not in lab.cells[2].metadata
    assert "checksum" not in nbg(nb.cells[2])  # the solution itself is left as it was
