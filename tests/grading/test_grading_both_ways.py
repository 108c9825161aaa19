"""The graders are graded too: on every solution, every graded test passes; on every untouched lab, every
graded test fails. So no graded test can pass on an empty answer, and none is broken on a right one.

The solutions are graded by nbgrader itself, as an instructor would: all released in one course folder
(microcosm.nbgrader_course), submitted and autograded in one `nbgrader autograde "*"`; each check cell runs its
task's graded tests against live processes, and every task must earn all its points (every graded test is worth
points, so that is every test passing). The untouched labs go through microcosm's grader (`python -m
microcosm.grade --json`), which reports each test, so none can hide behind a task's total. The two runs go side
by side: each notebook is executed once.
"""
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from microcosm import grade, nbgrader_meta
from microcosm.grade import rules
from nbgrader_runs import autograde, cell_text, errors

ROOT = grade.repo_root()
LABS = grade.graded_labs()
FIRST = LABS[0]  # its untouched lab also goes through nbgrader: nbgrader too must give it nothing


def test_every_lab_has_a_solution_a_lab_and_graded_tests():
    assert LABS, "no tests/grading/test_NN_*.py"
    for lab in LABS:
        assert (ROOT / "solutions" / lab / f"{lab}.ipynb").is_file()
        assert (ROOT / "labs" / lab / f"{lab}.ipynb").is_file()


def untouched_labs() -> dict:
    notebooks = [str(ROOT / "labs" / lab / f"{lab}.ipynb") for lab in LABS]
    done = subprocess.run([sys.executable, "-m", "microcosm.grade", "--json", *notebooks],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"the grader failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return {r["lab"]: r for r in json.loads(done.stdout)["results"]}


def solutions(course) -> dict:
    submissions = {lab: {"solution": ROOT / "solutions" / lab / f"{lab}.ipynb"} for lab in LABS}
    submissions[FIRST]["untouched"] = ROOT / "labs" / FIRST / f"{FIRST}.ipynb"
    return autograde(course, submissions)


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    with ThreadPoolExecutor(2) as pool:  # the untouched labs (quick: their tests fail at once) beside the solutions
        labs = pool.submit(untouched_labs)
        graded = pool.submit(solutions, course)
        return {"labs": labs.result(), "solutions": graded.result()}


def check_cells(lab: str) -> dict[str, int]:
    """{grade_id of a task's check cell: the task's points}."""
    points = nbgrader_meta.task_points([lab])[lab]
    return {f"{nbgrader_meta.CHECK_ID}{n}": worth for n, worth in enumerate(points.values(), 1)}


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("lab", LABS)
def test_solution_earns_every_point_under_nbgrader(grades, lab):
    assert all(rule["points"] > 0 for rule in rules.rules(lab)), "every graded test is worth points"
    run = grades["solutions"][lab]["solution"]
    assert not errors(run["notebook"]), f"the solution notebook raised (its only run in the suite): {errors(run['notebook'])}"
    cells = check_cells(lab)
    assert cells
    short = {grade_id: got for grade_id, got in run["grades"].items() if grade_id in cells and got[0] != cells[grade_id]}
    assert not short, "tasks short of their points:\n" + "\n\n".join(
        f"{grade_id} {got}:\n{cell_text(run['notebook'], grade_id)}" for grade_id, got in short.items())
    assert {g: run["grades"][g] for g in cells} == {g: (worth, worth) for g, worth in cells.items()}


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("lab", LABS)
def test_untouched_lab_fails_every_graded_test(grades, lab):
    result = grades["labs"][lab]
    assert [t["name"] for t in result["tests"]] == [rule["name"] for rule in rules.rules(lab)]
    passed = [t["name"] for t in result["tests"] if t["passed"]]
    assert not passed, f"graded tests that pass on an empty answer: {passed}"
    assert all(t["outcome"] in ("failed", "error") for t in result["tests"]), \
        grade.table(result) + "\n\n" + result["pytest_output"]
    assert result["score"] == 0


@pytest.mark.timeout(1500)
def test_nbgrader_gives_the_untouched_lab_nothing(grades):
    run = grades["solutions"][FIRST]["untouched"]
    assert {g: run["grades"][g] for g in check_cells(FIRST)} == {g: (0, worth) for g, worth in check_cells(FIRST).items()}
