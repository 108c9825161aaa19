"""Grade lab notebooks: run each one in a fresh folder, then the lab's graded tests against what it built.

    python -m microcosm.grade labs/01_microservices/01_microservices.ipynb
    python -m microcosm.grade submissions/*/01_microservices.ipynb                  # one table each
    python -m microcosm.grade submissions/*/01_microservices.ipynb --csv grades.csv # and a gradebook
    python -m microcosm.grade submissions/*/01_microservices.ipynb --json > grades.json

For each notebook:
1. copy it into a new temporary folder and execute it there with nbclient, the kernel working in that folder.
   Errors do not stop it (an unfinished answer raises NotImplementedError, the rest still runs) and each cell
   has a time limit, so the notebook's `%%writefile` cells leave the learner's files (reviews.py, ...) there;
2. run the lab's graded tests, `tests/grading/test_<lab>.py`, with pytest in a separate process, pointed at
   that folder by the environment variable MICROCOSM_GRADE_DIR. They start the learner's code as real
   processes and break them on purpose;
3. print a table: the tests grouped by the lab's tasks, each with what it checks, passed or failed, its
   points and the reason of a failure; a subtotal per task and the total.

`--csv FILE` also writes a gradebook: a row per submission, the student being the submission's folder name,
a column per test (points earned), the total and the maximum, and the written answers (the lab's
`YOUR ANSWER HERE` cells) as text.

From a cell of the lab itself, `microcosm.grade.check()` grades the files the notebook's cells already wrote
(`check(task=1)` one task, `check(strict=True)` raises if a test failed) and shows the same table.

The lab comes from the notebook's metadata (`"microcosm": {"lab": "01_microservices"}`), else its file
name; `--lab` overrides both. The grader runs the learner's code with your rights: grade untrusted
submissions in a container or a throw-away account.
"""
from .checking import check
from .gradebook import write_csv
from .locate import (EXECUTING_ENV, GRADE_DIR_ENV, GRADE_NOTEBOOK_ENV, NOT_GRADING, REPORT_ENV, TASK_ENV,
                     graded_labs, grading, grading_dir, lab_of, repo_root, tasks)
from .running import CELL_TIMEOUT, TEST_TIMEOUT, execute, grade, run_graded_tests
from .tables import html_table, table

__all__ = ["check", "write_csv", "EXECUTING_ENV", "GRADE_DIR_ENV", "GRADE_NOTEBOOK_ENV", "NOT_GRADING",
           "REPORT_ENV", "TASK_ENV", "graded_labs", "grading", "grading_dir", "lab_of", "repo_root", "tasks",
           "CELL_TIMEOUT", "TEST_TIMEOUT", "execute", "grade", "run_graded_tests", "html_table", "table", "main"]


def main(argv=None) -> int:
    from .cli import main as cli_main

    return cli_main(argv)
