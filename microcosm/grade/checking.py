"""`microcosm.grade.check()`: grade a lab from one of its own cells, with the files its cells already wrote.

    import microcosm.grade
    microcosm.grade.check()              # every task of this lab
    microcosm.grade.check(task=1)        # Task 1 only: the other tasks' tests do not run
    microcosm.grade.check(strict=True)   # and raise AssertionError, with the table, if a test failed

The notebook is not run again: the graded tests run, in a process of their own, against the folder the
kernel works in (where `%%writefile` put the learner's files). When the grader itself runs the notebook
(`python -m microcosm.grade`), check() only says so: the grader runs the tests once, after the notebook.
"""
from __future__ import annotations

import os
from pathlib import Path

from .locate import EXECUTING_ENV, lab_of_folder, task_title
from .running import TEST_TIMEOUT, run_graded_tests, summary
from .tables import html_table, table

LEFT_TO_THE_GRADER = "check(): the grader runs the graded tests itself, once the whole notebook has run"


class Grade(dict):
    """check()'s result: a dict (lab, folder, task, tests, score, ...) that shows as one line, not as a dict."""

    def __repr__(self) -> str:
        return (f"<grade of lab {self['lab']}{', ' + self['task'] if self.get('task') else ''}: "
                f"{self['score']}/{self['max_score']} points, {self['passed']} of {self['total']} tests passed>")

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


class Table:
    """A grade's table: HTML in a notebook, text anywhere else."""

    def __init__(self, result: dict):
        self.result = result

    def _repr_html_(self) -> str:
        return html_table(self.result)

    def __repr__(self) -> str:
        return table(self.result)


def show(result: dict) -> None:
    """Display the grade's table: through IPython when running in it, else printed."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Table(result))
    else:
        print(table(result), flush=True)


def check(lab: str | None = None, folder: str | Path | None = None, task: int | str | None = None,
          strict: bool = False, test_timeout: float = TEST_TIMEOUT) -> Grade | None:
    """Run the lab's graded tests on the files in `folder` (default: this kernel's folder) and show the table.

    `lab` defaults to the folder's name (labs/03_load_balancer: 03_load_balancer); `task` selects one task by
    its number (1) or part of its title, and only its tests run. Returns the grade; with `strict`, raises
    AssertionError with the table if a test failed. Does nothing but say so under the grader.
    """
    if os.environ.get(EXECUTING_ENV):
        print(LEFT_TO_THE_GRADER, flush=True)
        return None
    folder = Path(folder if folder is not None else Path.cwd()).resolve()
    lab = lab or lab_of_folder(folder)
    title = task_title(lab, task) if task is not None else None
    print(f"running the graded tests of lab {lab}{f' ({title})' if title else ''} on the files in {folder} ...",
          flush=True)
    tests = run_graded_tests(lab, folder, test_timeout, task=title)["tests"]
    result = Grade(summary(tests, notebook=None, lab=lab, folder=str(folder), task=title, execution=None))
    show(result)
    if strict and result["passed"] < result["total"]:
        raise AssertionError(f"{result['total'] - result['passed']} of {result['total']} graded tests failed\n\n"
                             + table(result))
    return result
