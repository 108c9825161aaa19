"""A failed must-pass test caps its task below half of its points; other tasks keep theirs."""
from microcosm.grade.scoring import cap_tasks


def result(task, points, passed, must_pass=False):
    return {"name": f"t{points}{task}", "task": task, "points": points, "must_pass": must_pass, "passed": passed,
            "earned": points if passed else 0, "message": ""}


def test_a_failed_must_pass_test_caps_its_task_below_half():
    tests = [result("A", 3, False, must_pass=True), result("A", 4, True), result("A", 3, True), result("B", 2, True)]
    cap_tasks(tests)
    assert [t["earned"] for t in tests] == [0, 4, 0, 2]  # task A: 10 points, at most 4; task B untouched
    assert "capped" in tests[2]["message"] and "t3A" in tests[2]["message"] and tests[1]["message"] == ""


def test_a_passed_must_pass_test_caps_nothing():
    tests = [result("A", 3, True, must_pass=True), result("A", 4, False), result("A", 3, True)]
    cap_tasks(tests)
    assert [t["earned"] for t in tests] == [3, 0, 3]


def test_a_task_already_under_its_cap_keeps_what_it_earned():
    tests = [result("A", 6, False, must_pass=True), result("A", 1, True), result("A", 3, False)]
    cap_tasks(tests)
    assert [t["earned"] for t in tests] == [0, 1, 0] and tests[1]["message"] == ""
