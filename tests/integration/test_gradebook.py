"""`python -m microcosm.grade submissions/*/lab.ipynb --csv grades.csv`: the gradebook an instructor gets, from
the real grader on two submissions of lab 01 (the cheapest lab): alice hands in the solution, bob the lab
untouched."""
import csv
import shutil
import subprocess
import sys

import pytest

from microcosm import grade
from microcosm.grade.answers import questions
from microcosm.grade.locate import released_lab

LAB = "01_microservices"
ROOT = grade.repo_root()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_gradebook_has_a_row_per_student_a_column_per_test_the_total_and_the_written_answers(tmp_path):
    for student, kind in (("alice", "solutions"), ("bob", "labs")):
        (tmp_path / student).mkdir()
        shutil.copy(ROOT / kind / LAB / f"{LAB}.ipynb", tmp_path / student / f"{LAB}.ipynb")
    done = subprocess.run([sys.executable, "-m", "microcosm.grade", "--csv", "grades.csv",
                           f"alice/{LAB}.ipynb", f"bob/{LAB}.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "gradebook: grades.csv (2 rows)" in done.stdout

    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    tests = [t for t in header if t.startswith("test_")]
    written = [name for name, _, _ in questions(released_lab(LAB))]
    assert header == ["student", "lab", *tests, "total", "max", *written]
    assert len(tests) >= 10 and "test_post_review_answers_201_with_the_review" in tests

    alice, bob = (dict(zip(header, row)) for row in rows)
    assert alice["student"] == "alice" and bob["student"] == "bob"
    assert alice["lab"] == bob["lab"] == LAB
    assert alice["total"] == alice["max"] == bob["max"] == str(sum(int(alice[t]) for t in tests))
    assert int(alice["max"]) > 0
    assert all(int(alice[t]) > 0 for t in tests), "the solution earns every test's points"
    assert bob["total"] == "0" and all(bob[t] == "0" for t in tests), "the untouched lab earns nothing"
