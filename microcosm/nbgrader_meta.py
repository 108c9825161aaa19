"""nbgrader's cell metadata on the lab notebooks, made from their markers and from the graded tests.

`python -m microcosm.labs generate` calls this on every solution notebook (and writes the solution back when
its metadata changed), so nbgrader can release and autograde the labs (see microcosm/nbgrader_course.py):

- a code cell with a `### BEGIN SOLUTION` region is an nbgrader **solution** cell ("Autograded answer");
- a markdown cell with one is a **manually graded answer** worth MANUAL_POINTS (an instructor may change its
  points in the solution's metadata; they are kept);
- after the lab's "Check your work" heading, one locked **autograder test** cell per task of the lab runs
  `microcosm.grade.check(...)` on that task. Its points are the sum of the task's graded tests
  (`@pytest.mark.points(n)` in tests/grading/test_<lab>.py, a parametrized test once per parameter), counted
  by pytest's own collection each time, so a change of points makes `generate --check` say labs/ is stale.
  The cell's output is the points the task earned: nbgrader gives partial credit for a number.
  It starts with `# NBVAL_SKIP`: the notebook tests (nbval) do not run the graded tests, the grading tests do;
  under `python -m microcosm.grade`, check() only prints a line (the grader runs the tests once, after).

Every nbgrader id (grade_id) once given is kept: nbgrader's gradebook knows the cells by it.
The learner's copy gets what `nbgrader generate_assignment` adds (lock_cells, then add_checksums): locked
cells, and each graded cell's checksum, computed as nbgrader computes it.
"""
from __future__ import annotations

import hashlib
import re

MANUAL_POINTS = 2          # a written answer's points until an instructor says otherwise
CHECK_ID = "check-task-"   # grade_id (and cell id) of the autograder test cells: check-task-1, check-task-2, ...
CHECK_HEADING = "## Check your work"


# --- what the graded tests are worth ----------------------------------------------------------------
def task_points(labs: list[str]) -> dict[str, dict[str, int]]:
    """{lab: {task title: points}} for the labs that have graded tests, tasks in the order of their TASKS, as
    pytest collects the graded modules (microcosm.grade.rules: one collection, kept while no file changes)."""
    from microcosm import grade
    from microcosm.grade import rules

    return {lab: rules.task_points(lab) for lab in labs if lab in grade.graded_labs()}


# --- the solution notebook's metadata ------------------------------------------------------------------
def has_region(source: str) -> bool:
    from microcosm.labs import BEGIN  # (labs imports this module)

    return any(line.strip().startswith(BEGIN) for line in source.splitlines())


def nbgrader_id(text: str) -> str:
    """A grade_id nbgrader accepts ([A-Za-z0-9_-])."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "cell"


def meta(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: float | None = None) -> dict:
    out = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if grade:
        out["points"] = points
    return out


def answer_id(cell) -> str:
    """A solution cell's grade_id: the file its %%writefile cell writes (reviews_py), else the cell's id."""
    first = cell.source.splitlines()[0] if cell.source else ""
    match = re.match(r"%%writefile\s+(?:-a\s+)?(\S+)", first)
    return nbgrader_id(match.group(1) if match else cell.get("id", "answer"))


def check_source(lab: str, number: int, title: str, points: int, one_task: bool) -> str:
    """The autograder test cell of one task (the task by its number when its title starts "Task N ")."""
    if one_task:
        task, name = "", title
    else:
        task = f", task={number}" if title.casefold().startswith(f"task {number} ") else f", task={title!r}"
        name = title.split(" · ")[0]
    return ("# NBVAL_SKIP\n"
            f"# {name}, graded ({points} points): its graded tests run on the files your cells wrote, a table shows\n"
            "# them, and the number below is the points earned (nbgrader's autograder grades this cell by it).\n"
            "import microcosm.grade\n"
            "\n"
            f"result = microcosm.grade.check(\"{lab}\"{task})\n"
            "result[\"score\"] if result else None")


def annotate(nb, lab: str, points: dict[str, int]) -> None:
    """Give `nb` (a solution notebook, nbformat's) the nbgrader metadata its markers and `points` call for."""
    import nbformat

    taken = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    cells, old_checks, at = [], {}, None
    for cell in nb.cells:
        old = cell.metadata.get("nbgrader") or {}
        if old.get("grade_id", "").startswith(CHECK_ID):  # an autograder test cell: remade below, in its place
            old_checks[old["grade_id"]] = cell
            at = len(cells) if at is None else at
            continue
        if "solution-only" not in cell.metadata.get("tags", []) and has_region(cell.source):
            grade_id = old.get("grade_id") or unique(answer_id(cell), taken)
            taken.add(grade_id)
            if cell.cell_type == "markdown":
                cell.metadata["nbgrader"] = meta(grade_id, solution=True, grade=True, locked=False,
                                                 points=old.get("points", MANUAL_POINTS))
            else:
                cell.metadata["nbgrader"] = meta(grade_id, solution=True, grade=False, locked=False)
        elif old.get("solution"):
            del cell.metadata["nbgrader"]  # its answer region is gone
        cells.append(cell)
    if at is None:  # the first time: after the last "Check your work" heading, else at the end
        headings = [i for i, c in enumerate(cells)
                    if c.cell_type == "markdown" and c.source.lstrip().startswith(CHECK_HEADING)]
        at = headings[-1] + 1 if headings else len(cells)
    checks = []
    for number, (title, worth) in enumerate(points.items(), 1):
        grade_id = f"{CHECK_ID}{number}"
        cell = old_checks.get(grade_id) or nbformat.v4.new_code_cell(id=grade_id)
        cell.source = check_source(lab, number, title, worth, one_task=len(points) == 1)
        cell.metadata["nbgrader"] = meta(grade_id, solution=False, grade=True, locked=True, points=worth)
        cell.outputs, cell.execution_count = [], None
        checks.append(cell)
    nb.cells = cells[:at] + checks + cells[at:]


def unique(grade_id: str, taken: set[str]) -> str:
    candidate, n = grade_id, 2
    while candidate in taken:
        candidate, n = f"{grade_id}_{n}", n + 1
    return candidate


# --- what nbgrader generate_assignment adds to the learner's copy -----------------------------------
def is_graded(cell, key: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(key, False))


def release_cell(cell) -> None:
    """Lock `cell` and add its checksum, as nbgrader's LockCells and ComputeChecksums do (defaults)."""
    solution, grade, locked = (is_graded(cell, k) for k in ("solution", "grade", "locked"))
    if solution:
        cell.metadata["deletable"] = False
    elif grade or locked:
        cell.metadata["deletable"] = False
        cell.metadata["editable"] = False
    if solution or grade or locked:
        cell.metadata["nbgrader"]["checksum"] = checksum(cell)
        cell.metadata["nbgrader"]["cell_type"] = cell.cell_type


def checksum(cell) -> str:
    """nbgrader.utils.compute_checksum (importing nbgrader takes seconds): md5 of what a grader may rely on."""
    info = cell.metadata["nbgrader"]
    md5 = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(is_graded(cell, "grade")), str(is_graded(cell, "solution")),
                 str(is_graded(cell, "locked")), info["grade_id"]):
        md5.update(part.encode("utf-8"))
    if is_graded(cell, "grade"):
        md5.update(str(float(info["points"])).encode("utf-8"))
    return md5.hexdigest()
