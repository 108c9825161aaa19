"""The graders are graded too: on every solution, every graded test passes; on every untouched lab, every
graded test fails. So no graded test can pass on an empty answer, and none is broken on a right one.

One run of the grader's command line (`python -m microcosm.grade --json --jobs 2`) over all of them: each
notebook is executed once, and its graded tests run once, against real processes; two notebooks at a time (in
order, a solution beside an untouched lab, whose tests mostly fail at once), which halves the wait.
"""
import json
import subprocess
import sys

import pytest

from microcosm import grade

ROOT = grade.repo_root()
LABS = grade.graded_labs()


def test_every_lab_has_a_solution_a_lab_and_graded_tests():
    assert LABS, "no tests/grading/test_NN_*.py"
    for lab in LABS:
        assert (ROOT / "solutions" / lab / f"{lab}.ipynb").is_file()
        assert (ROOT / "labs" / lab / f"{lab}.ipynb").is_file()


@pytest.fixture(scope="module")
def grades():
    notebooks = [ROOT / kind / lab / f"{lab}.ipynb" for lab in LABS for kind in ("solutions", "labs")]
    done = subprocess.run([sys.executable, "-m", "microcosm.grade", "--json", "--jobs", "2", *map(str, notebooks)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"the grader failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = json.loads(done.stdout)["results"]
    return {(r["lab"], r["notebook"].split("/")[-3]): r for r in results}


def describe(result):
    return grade.table(result) + "\n\n" + result["pytest_output"]


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("lab", LABS)
def test_solution_passes_every_graded_test(grades, lab):
    result = grades[(lab, "solutions")]
    assert result["total"] > 0
    assert all(t["points"] > 0 for t in result["tests"]), "every graded test is worth points"
    assert result["passed"] == result["total"], describe(result)
    assert result["score"] == result["max_score"]
    assert not result["execution"]["errors"] and not result["execution"]["failure"], \
        f"the solution notebook raised (this is its only run in the suite): {result['execution']}"


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("lab", LABS)
def test_untouched_lab_fails_every_graded_test(grades, lab):
    result = grades[(lab, "labs")]
    solution = grades[(lab, "solutions")]
    assert [t["name"] for t in result["tests"]] == [t["name"] for t in solution["tests"]]
    passed = [t["name"] for t in result["tests"] if t["passed"]]
    assert not passed, f"graded tests that pass on an empty answer: {passed}"
    assert all(t["outcome"] in ("failed", "error") for t in result["tests"]), describe(result)
    assert result["score"] == 0
