"""Where the grader finds things: the repository, the graded tests, which lab a notebook or folder is, a lab's
tasks; and the environment variables that tell the graded tests (and a lab's check cell) what is going on."""
from __future__ import annotations

import ast
import os
from pathlib import Path

GRADE_DIR_ENV = "MICROCOSM_GRADE_DIR"            # folder of an executed lab notebook: the graded tests read it
GRADE_NOTEBOOK_ENV = "MICROCOSM_GRADE_NOTEBOOK"  # or a notebook: the graded tests execute it themselves
REPORT_ENV = "MICROCOSM_GRADE_REPORT"            # where the graded tests' pytest run writes its results (JSON)
TASK_ENV = "MICROCOSM_GRADE_TASK"                # a task's title: only its tests run (tests/grading/conftest.py)
EXECUTING_ENV = "MICROCOSM_GRADE_EXECUTING"      # set in the kernel the grader runs a notebook in: check() waits

# why a plain `pytest` run skips the graded modules (test_grading_both_ways.py grades solutions/ and labs/ for real)
NOT_GRADING = (f"graded tests need a lab notebook: they run through `python -m microcosm.grade NOTEBOOK` (or set "
               f"{GRADE_DIR_ENV} / {GRADE_NOTEBOOK_ENV}); tests/grading/test_grading_both_ways.py runs them on "
               f"solutions/ and labs/")


def grading() -> bool:
    """Whether this process has a lab to grade (MICROCOSM_GRADE_DIR or MICROCOSM_GRADE_NOTEBOOK is set)."""
    return bool(os.environ.get(GRADE_DIR_ENV) or os.environ.get(GRADE_NOTEBOOK_ENV))


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def grading_dir() -> Path:
    return repo_root() / "tests" / "grading"


def graded_labs() -> list[str]:
    """Every lab that has graded tests."""
    return sorted(p.stem[len("test_"):] for p in grading_dir().glob("test_[0-9][0-9]_*.py"))


def released_lab(lab: str) -> Path:
    """The learners' notebook of `lab`, as it was handed out."""
    return repo_root() / "labs" / lab / f"{lab}.ipynb"


def lab_of(notebook: Path, lab: str | None = None) -> str:
    """Which lab a notebook is: `lab` if given, else its metadata, else its file name, else its folder's name."""
    import nbformat

    if lab:
        return lab
    known = graded_labs()
    meta = nbformat.read(notebook, as_version=4).metadata.get("microcosm", {})
    for candidate in (meta.get("lab"), notebook.stem, notebook.parent.name):
        if candidate in known:
            return candidate
    raise SystemExit(f"{notebook}: cannot tell which lab this is (labs with graded tests: {', '.join(known)}); "
                     f"pass --lab NAME")


def lab_of_folder(folder: Path) -> str:
    """Which lab a kernel's folder holds: its name (labs/03_load_balancer), else that of its one lab notebook."""
    known = graded_labs()
    if folder.name in known:
        return folder.name
    found = {lab for lab in known if (folder / f"{lab}.ipynb").is_file()}
    if len(found) == 1:
        return found.pop()
    raise ValueError(f"cannot tell which lab {folder} holds (labs with graded tests: {', '.join(known)}): "
                     f"pass lab=\"NN_name\"")


def tasks(lab: str) -> list[str]:
    """The titles of a lab's tasks, in order, as its graded module's TASKS names them ([] if it names none)."""
    tree = ast.parse((grading_dir() / f"test_{lab}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TASKS" for t in node.targets):
            return [str(title) for title in ast.literal_eval(node.value)]
    return []


def task_title(lab: str, task: int | str) -> str:
    """The exact title of the task `task` names: its number (1, "1", "Task 1": the title that says so, else the
    lab's n-th task) or a part of its title ("reviews")."""
    titles = tasks(lab)
    wanted = str(task).strip().casefold()
    if wanted.isdigit():
        wanted = f"task {wanted}"
    matching = [t for t in titles if t.casefold() == wanted] or [
        t for t in titles if t.casefold().startswith(wanted + " ") or (not wanted.startswith("task ")
                                                                      and wanted in t.casefold())]
    number = wanted[len("task "):] if wanted.startswith("task ") else ""
    if not matching and number.isdigit() and 1 <= int(number) <= len(titles):  # titles without numbers
        matching = [titles[int(number) - 1]]
    if len(matching) != 1:
        listed = "; ".join(titles) or "none named"
        raise ValueError(f"task={task!r} names {'no' if not matching else 'more than one'} task of lab {lab} "
                         f"(its tasks: {listed})")
    return matching[0]
