"""`microcosm.grade.check()` in a lab's own cell, run in a real kernel (nbclient): it grades the files the cells
wrote, one task at a time, shows the grouped table, raises with strict=True; under the grader it does nothing."""
import html
import json

import nbformat
import pytest
from nbclient import NotebookClient

from microcosm import grade

LAB = "01_microservices"
ROOT = grade.repo_root()


def write_files(kind: str, folder):
    """What the %%writefile cells of solutions/ or labs/ (untouched) write, written into `folder`."""
    folder.mkdir(parents=True)
    for cell in nbformat.read(ROOT / kind / LAB / f"{LAB}.ipynb", as_version=4).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.startswith("%%writefile "):
            (folder / first.split()[-1]).write_text(body + "\n")
    return folder


def run_cells(folder, *sources):
    """Run these cells in a new kernel working in `folder`; the executed cells."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=240, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb.cells


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """A learner's kernel in labs/01_microservices with the solution's files; an untouched lab's files beside it."""
    here = tmp_path_factory.mktemp("course")
    solved, untouched = write_files("solutions", here / LAB), write_files("labs", here / "untouched")
    return run_cells(solved,
                     "import json, microcosm.grade\n"
                     "result = microcosm.grade.check(task=1)\n"
                     "print(json.dumps(result))\nresult",
                     f"microcosm.grade.check(lab='{LAB}', folder={str(untouched)!r}, task='reviews', strict=True)")


def outputs(cell, kind):
    return [o for o in cell.outputs if o.output_type == kind]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_check_of_one_task_on_the_solutions_files_gives_that_task_full_points_and_runs_no_other(cells):
    assert not outputs(cells[0], "error"), outputs(cells[0], "error")
    said = "".join(o.text for o in outputs(cells[0], "stream")).splitlines()
    assert said[0].startswith(f"running the graded tests of lab {LAB} (Task 1 · The `reviews` service) on the files")
    result = json.loads(said[-1])
    assert result["lab"] == LAB and result["task"] == grade.tasks(LAB)[0]
    assert result["total"] >= 3 and {t["task"] for t in result["tests"]} == {result["task"]}
    assert result["score"] == result["max_score"] > 0 and result["passed"] == result["total"]
    shown = outputs(cells[0], "display_data")[0].data["text/html"]
    assert "Task 1 · The `reviews` service</th>" in shown and "Task 2" not in shown
    assert all(f"<code>{t['name']}</code>{' ★' if t['must_pass'] else ''}<br>{html.escape(t['doc'])}" in shown
               for t in result["tests"])
    last = outputs(cells[0], "execute_result")[0].data["text/plain"]
    assert last == f"<grade of lab {LAB}, {result['task']}: {result['score']}/{result['max_score']} points, " \
                   f"{result['total']} of {result['total']} tests passed>"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_strict_check_on_an_untouched_lab_raises_with_the_table(cells):
    (error,) = outputs(cells[1], "error")
    assert error.ename == "AssertionError"
    assert "graded tests failed" in error.evalue and "Task 1 · The `reviews` service  (0/" in error.evalue
    assert "why: " in error.evalue and "total: 0/" in error.evalue


def test_check_under_the_grader_runs_no_test_and_says_why(tmp_path):
    notebook = tmp_path / f"{LAB}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import microcosm.grade\nprint(microcosm.grade.check(lab='{LAB}', strict=True))")]), notebook)
    grade.execute(notebook, tmp_path)
    (cell,) = nbformat.read(notebook, as_version=4).cells
    assert [o.output_type for o in cell.outputs] == ["stream"] * len(cell.outputs)
    assert "".join(o.text for o in cell.outputs) == (
        "check(): the grader runs the graded tests itself, once the whole notebook has run\nNone\n")
