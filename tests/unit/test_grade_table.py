"""The grade table a learner reads (microcosm.grade.table / html_table), and the written answers a gradebook
takes from a submission (microcosm.grade.answers): on handmade grades and notebooks."""
import nbformat
import pytest

from microcosm.grade import html_table, table
from microcosm.grade.answers import answers


def test(name, task, doc, points, earned, outcome="passed", message=""):
    return {"name": name, "task": task, "doc": doc, "points": points, "earned": earned,
            "passed": outcome == "passed", "outcome": outcome, "message": message}


test.__test__ = False  # a helper, not a test
TESTS = [test("test_least", "Task 1 · Least connections", "Sends to the backend with fewest requests.", 3, 3),
         test("test_ties", "Task 1 · Least connections", "Ties go round robin.", 2, 0, "failed",
              "AssertionError: backend-1 got 9 of 9"),
         test("test_p2c", "Task 2 · Power of two", "Picks the less busy of two random backends.", 4, 0, "error",
              "Failed: balancer did not start")]
GRADE = {"notebook": "submissions/alice/03_load_balancer.ipynb", "lab": "03_load_balancer",
         "execution": {"cells": 12, "errors": [{"cell": 4, "error": "NameError", "message": "x"}], "seconds": 8.1,
                       "failure": None},
         "tests": TESTS, "score": 3, "max_score": 9, "passed": 1, "total": 3}


def test_the_text_table_groups_tests_under_their_task_with_a_subtotal_and_says_why_each_failure_failed():
    assert table(GRADE).splitlines() == [
        "submissions/alice/03_load_balancer.ipynb  (lab 03_load_balancer)",
        "  ran 12 code cells in 8.1 s; 1 raised an error (cell 5, counting from 1)",
        "",
        "  Task 1 · Least connections  (3/5 points)",
        "    pass    3/3  test_least",
        "                 Sends to the backend with fewest requests.",
        "    failed  0/2  test_ties",
        "                 Ties go round robin.",
        "                 why: AssertionError: backend-1 got 9 of 9",
        "",
        "  Task 2 · Power of two  (0/4 points)",
        "    error   0/4  test_p2c",
        "                 Picks the less busy of two random backends.",
        "                 why: Failed: balancer did not start",
        "",
        "  total: 3/9 points, 1 of 3 tests passed"]


def test_tests_without_a_task_make_one_group_and_a_check_names_its_folder_and_task():
    untasked = [{k: v for k, v in t.items() if k != "task"} for t in TESTS[:1]]
    checked = {"notebook": None, "lab": "03_load_balancer", "folder": "/home/me/labs/03_load_balancer",
               "task": "Task 1 · Least connections", "execution": None, "tests": untasked,
               "score": 3, "max_score": 3, "passed": 1, "total": 1}
    assert table(checked).splitlines()[:4] == [
        "lab 03_load_balancer: the files in /home/me/labs/03_load_balancer, Task 1 · Least connections only",
        "", "  tests  (3/3 points)", "    pass  3/3  test_least"]


def test_the_html_table_has_a_heading_row_per_task_and_escapes_what_the_tests_say():
    grade = dict(GRADE, tests=TESTS + [test("test_x", "Task 3 · <b>", "a < b", 1, 0, "failed", "<script>")])
    shown = html_table(grade)
    assert shown.count("<th colspan=\"2\"") == 3
    assert "Task 1 · Least connections</th><th style=\"text-align:right\">3/5</th>" in shown
    assert "<code>test_ties</code><br>Ties go round robin." in shown and "why: AssertionError" in shown
    assert "&lt;script&gt;" in shown and "<script>" not in shown and "Task 3 · &lt;b&gt;" in shown
    assert "total: 3/9 points, 1 of 3 tests passed" in shown


def notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, path)
    return path


def md(source, id):
    return nbformat.v4.new_markdown_cell(source, id=id)


def test_written_answers_are_found_by_cell_id_else_by_position_and_named_by_their_heading(tmp_path):
    released = notebook(tmp_path / "lab.ipynb", [
        md("# Lab", "a"), md("### Question · Fail open?\nSay why.", "b"), md("YOUR ANSWER HERE", "c"),
        md("## Task 2 · More", "d"), md("YOUR ANSWER HERE", "e"), md("YOUR ANSWER HERE", "f")])
    submitted = notebook(tmp_path / "alice.ipynb", [
        md("# Lab", "a"), md("### Question · Fail open?\nSay why.", "b"), md("YOUR ANSWER HERE", "f"),
        md("## Task 2 · More", "d"), md("Closed: a limiter that fails open\nlimits nothing.", "x"),
        md("### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "c")])
    assert answers(released, submitted) == {
        "Question · Fail open?": "Because.",                                      # cell c, found by its id
        "Task 2 · More": "Closed: a limiter that fails open\nlimits nothing.",    # e: no such id, position 4
        "Task 2 · More (2)": ""}                                                  # f: still the placeholder


def test_a_task_is_named_by_its_number_or_a_word_of_its_title(monkeypatch):
    from microcosm.grade import locate

    titles = {"03": ["Task 1 · Least connections", "Task 2 · Power of two choices"],
              "06": ["The task · `verify`, in three parts"]}
    monkeypatch.setattr(locate, "tasks", titles.get)
    assert [locate.task_title("03", t) for t in (1, "2", "Task 1", "power", "task 2 · power of two choices")] == [
        "Task 1 · Least connections", "Task 2 · Power of two choices", "Task 1 · Least connections",
        "Task 2 · Power of two choices", "Task 2 · Power of two choices"]
    assert locate.task_title("06", 1) == locate.task_title("06", "verify") == "The task · `verify`, in three parts"
    for wrong in (3, "Task 11", "round robin"):
        with pytest.raises(ValueError, match="its tasks: Task 1 · Least connections; Task 2 · Power of two"):
            locate.task_title("03", wrong)


def test_a_student_is_named_by_the_submissions_folder_or_by_its_file_when_they_share_one():
    from microcosm.grade.gradebook import students

    assert students(["sub/alice/01_microservices.ipynb", "sub/bob/01_microservices.ipynb"]) == ["alice", "bob"]
    assert students(["sub/alice.ipynb", "sub/bob.ipynb", "late/carol/lab.ipynb"]) == ["alice", "bob", "carol"]


def test_a_must_pass_test_is_marked_and_a_capped_pass_says_why_it_earned_less():
    capped = {**test("test_live", "Task 1", "Live traffic.", 2, 0, "passed",
                     "passed, but Task 1 is capped below half: must-pass test_least failed"), "must_pass": False}
    must = {**test("test_least", "Task 1", "Least busy.", 3, 0, "failed", "AssertionError: picked b1"), "must_pass": True}
    grade = {**GRADE, "tests": [must, capped], "score": 0, "max_score": 5, "passed": 1, "total": 2}
    text = table(grade)
    assert "test_least ★" in text and "why: passed, but Task 1 is capped below half" in text
    assert text.splitlines()[-1].startswith("  ★ must pass:")
    page = html_table(grade)
    assert "★" in page and "capped below half" in page
