"""Every graded rule is stated in its lab with its points: the lab's "How it is graded" cell is exactly what
the graded tests say (their tasks, docstrings, points and must-pass marks), in the solution and the lab."""
import pytest

from microcosm import grade
from microcosm.grade import rules

ROOT = grade.repo_root()


@pytest.mark.parametrize("lab", grade.graded_labs())
def test_every_graded_rule_is_stated_in_the_lab_with_its_points(lab):
    expected = rules.markdown(lab)
    for test in rules.rules(lab):
        assert test["doc"], f"{test['name']} has no docstring: the lab cannot state its rule"
        assert f"| {test['points']}" in expected and test["doc"].replace("|", "&#124;") in expected
    for kind in ("solutions", "labs"):
        assert rules.stated(ROOT / kind / lab / f"{lab}.ipynb") == expected, \
            f"{kind}/{lab}: the 'How it is graded' cell is stale; run: python -m microcosm.grade.rules && make labs"


@pytest.mark.parametrize("lab", grade.graded_labs())
def test_every_task_of_the_graded_tests_is_a_heading_of_the_lab(lab):
    text = (ROOT / "labs" / lab / f"{lab}.ipynb").read_text()
    for task in rules.task_points(lab):
        assert f"## {task}" in text, f"the graded tests name a task {task!r} that lab {lab} has no heading for"
