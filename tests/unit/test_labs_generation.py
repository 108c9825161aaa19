"""labs/ is generated from solutions/: it must be up to date, hold no answer, and stub every answer out."""
import shutil
import subprocess
import sys

import nbformat
import pytest

from microcosm import labs

ROOT = labs.repo_root()
SOLUTIONS = sorted(p for p in (ROOT / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)


def test_there_is_at_least_one_lab():
    assert SOLUTIONS, "no solutions/<lab>/<lab>.ipynb found"


def test_labs_are_up_to_date():
    problems = labs.stale(ROOT)
    assert not problems, "labs/ is stale; run `python -m microcosm.labs generate`:\n" + "\n".join(problems)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_lab_has_a_stub_for_every_answer_and_no_answer(solution):
    lab = nbformat.read(ROOT / "labs" / solution.parent.name / solution.name, as_version=4)
    sol = nbformat.read(solution, as_version=4)
    kept = [c for c in sol.cells if labs.SOLUTION_ONLY not in c.metadata.get("tags", [])]
    assert [c.cell_type for c in kept] == [c.cell_type for c in lab.cells]
    regions = 0
    for sol_cell, lab_cell in zip(kept, lab.cells):
        answers = labs.solution_regions(sol_cell.source)
        regions += len(answers)
        assert labs.BEGIN not in lab_cell.source and labs.END not in lab_cell.source
        stub = labs.CODE_STUB if sol_cell.cell_type == "code" else labs.MARKDOWN_STUB
        assert lab_cell.source.count(stub) == sol_cell.source.count(labs.BEGIN)
        # no line of an answer survives, unless the same line also appears outside the answers
        outside = set(labs.strip_solutions(sol_cell.source).splitlines())
        lab_lines = set(lab_cell.source.splitlines())
        for answer in answers:
            for line in answer.splitlines():
                if line.strip() and line not in outside:
                    assert line not in lab_lines, f"answer line left in the lab: {line!r}"
        if lab_cell.cell_type == "code":
            assert lab_cell.outputs == [] and lab_cell.execution_count is None
    assert regions > 0, f"{solution.name} has no ### BEGIN SOLUTION region"
    assert "NotImplementedError" in "".join(c.source for c in lab.cells)


def test_stub_keeps_the_indentation_and_everything_around_it():
    source = ("def f(x):\n"
              "    \"\"\"Doc.\"\"\"\n"
              "    ### BEGIN SOLUTION\n"
              "    if x:\n"
              "        return 1\n"
              "    ### END SOLUTION\n"
              "    return 0\n"
              "### BEGIN SOLUTION\n"
              "y = 2\n"
              "### END SOLUTION")
    assert labs.strip_solutions(source) == ("def f(x):\n"
                                            "    \"\"\"Doc.\"\"\"\n"
                                            f"    {labs.CODE_STUB}\n"
                                            "    return 0\n"
                                            f"{labs.CODE_STUB}")


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1\n",
    "x = 1\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])
def test_unpaired_markers_are_an_error(source):
    with pytest.raises(labs.LabError):
        labs.strip_solutions(source)


def test_make_lab_drops_solution_only_cells_clears_outputs_and_stubs_markdown():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Instructor notes", metadata={"tags": ["solution-only"]}),
        nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="1\n")]),
    ])
    lab = labs.make_lab(nb)
    assert [c.source for c in lab.cells] == [f"Why?\n{labs.MARKDOWN_STUB}", "print(1)"]
    assert lab.cells[1].outputs == [] and lab.cells[1].execution_count is None
    assert len(nb.cells) == 3 and nb.cells[2].outputs, "make_lab changed its argument"


def copy_tree(tmp_path):
    for solution in SOLUTIONS:
        target = tmp_path / "solutions" / solution.parent.name / solution.name
        target.parent.mkdir(parents=True)
        shutil.copy(solution, target)
    (tmp_path / "labs").mkdir()
    return tmp_path


def run(*args):
    return subprocess.run([sys.executable, "-m", "microcosm.labs", *args], capture_output=True, text=True)


def test_cli_check_names_stale_labs_and_generate_fixes_them(tmp_path):
    root = copy_tree(tmp_path)
    check = run("generate", "--check", "--root", str(root))
    assert check.returncode == 1
    for solution in SOLUTIONS:
        assert f"labs/{solution.parent.name}/{solution.name}: missing" in check.stderr
    assert run("generate", "--root", str(root)).returncode == 0
    first = {p: p.read_bytes() for p in (root / "labs").rglob("*.ipynb")}
    assert len(first) == len(SOLUTIONS)
    assert run("generate", "--check", "--root", str(root)).returncode == 0

    # the same bytes as the committed labs/, and again on a second run
    for path, data in first.items():
        assert data == (ROOT / path.relative_to(root)).read_bytes()
    path = next(iter(first))
    path.write_text(path.read_text().replace("NotImplementedError", "NotImplemented"))
    check = run("generate", "--check", "--root", str(root))
    assert check.returncode == 1 and "differs" in check.stderr
    assert run("generate", "--root", str(root)).returncode == 0
    assert {p: p.read_bytes() for p in (root / "labs").rglob("*.ipynb")} == first
