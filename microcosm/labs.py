"""Make the learners' notebooks (`labs/`) from the instructors' (`solutions/`), nbgrader's way.

    python -m microcosm.labs generate            # write labs/<lab>/<lab>.ipynb for every solutions/<lab>/<lab>.ipynb
    python -m microcosm.labs generate --check    # change nothing; exit 1 and name every stale or missing lab

In a solution notebook, the answer sits between two marker lines:

    def retry(attempt):
        \"\"\"The docstring and the signature stay in the lab.\"\"\"
        ### BEGIN SOLUTION
        ...the answer...
        ### END SOLUTION

In the lab, each such region becomes one line at the indentation of its `### BEGIN SOLUTION` line:
`raise NotImplementedError(...)` in a code cell, `YOUR ANSWER HERE` in a markdown cell. Cells tagged
`solution-only` (instructor notes) are left out, every output and execution count is cleared, and the
notebook is written the same way every time (same bytes for the same source), so a test can tell when
`labs/` is stale.

The solution notebooks carry nbgrader's cell metadata, kept up to date by `generate` from the markers and
the graded tests (microcosm/nbgrader_meta.py): `generate` writes a solution back when its metadata changed,
and `generate --check` names it. A lab is what `nbgrader generate_assignment` makes of its solution, cell for
cell (microcosm/nbgrader_course.py sets up a course folder; tests/integration/test_nbgrader.py compares).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from microcosm import nbgrader_meta

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("replace this line with your code")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
SOLUTION_ONLY = "solution-only"
SOURCE_DIR, RELEASE_DIR = "solutions", "labs"


class LabError(ValueError):
    """A solution notebook whose markers do not pair up."""


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def strip_solutions(source: str, stub: str = CODE_STUB, where: str = "cell") -> str:
    """`source` with every BEGIN/END SOLUTION region replaced by `stub` at the region's indentation."""
    out: list[str] = []
    begin_line = None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if begin_line is not None:
                raise LabError(f"{where}, line {number}: {BEGIN} inside the region opened on line {begin_line}")
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{stub}\n")
        elif marker.startswith(END):
            if begin_line is None:
                raise LabError(f"{where}, line {number}: {END} without a {BEGIN}")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise LabError(f"{where}, line {begin_line}: {BEGIN} is never closed by {END}")
    text = "".join(out)
    return text[:-1] if text.endswith("\n") and not source.endswith("\n") else text


def solution_regions(source: str) -> list[str]:
    """The text of each solution region of `source` (markers excluded), in order."""
    regions, current = [], None
    for line in source.splitlines(keepends=True):
        marker = line.strip()
        if marker.startswith(BEGIN):
            current = []
        elif marker.startswith(END):
            regions.append("".join(current or []))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def make_lab(solution: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """The learner's notebook for one solution notebook (the argument is left untouched)."""
    lab = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(lab.cells):
        if SOLUTION_ONLY in cell.get("metadata", {}).get("tags", []):
            continue
        label = f"{where}, cell {index}"
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, CODE_STUB, label)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source, MARKDOWN_STUB, label)
        for key in ("execution", "collapsed", "scrolled"):
            cell.get("metadata", {}).pop(key, None)
        nbgrader_meta.release_cell(cell)
        cells.append(cell)
    lab.cells = cells
    lab.metadata.pop("widgets", None)
    return lab


def render(nb: nbformat.NotebookNode) -> str:
    """A notebook as text, the same bytes for the same notebook."""
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"


def sources(root: Path) -> list[Path]:
    """The solution notebooks: solutions/<lab>/<lab>.ipynb (anything else there is scratch)."""
    return [p for p in sorted((root / SOURCE_DIR).glob("*/*.ipynb")) if p.stem == p.parent.name]


def points_of(root: Path) -> dict[str, dict[str, int]]:
    """{lab: {task: points}} from the graded tests, for every solution notebook's lab."""
    return nbgrader_meta.task_points([source.parent.name for source in sources(root)])


def annotated(source: Path, points: dict[str, dict[str, int]]) -> tuple[nbformat.NotebookNode, str]:
    """The solution notebook at `source` with up-to-date nbgrader metadata, and its text."""
    solution = nbformat.read(source, as_version=4)
    nbgrader_meta.annotate(solution, source.parent.name, points.get(source.parent.name, {}))
    return solution, render(solution)


def plan(root: Path | None = None) -> dict[Path, str]:
    """Every lab notebook generation makes: path -> its text."""
    root = Path(root or repo_root())
    points = points_of(root)
    out = {}
    for source in sources(root):
        solution, _ = annotated(source, points)
        target = root / RELEASE_DIR / source.parent.name / source.name
        where = source.relative_to(root).as_posix()
        lab = make_lab(solution, where=where)
        lab.metadata.setdefault("microcosm", {})["generated_from"] = where
        out[target] = render(lab)
    return out


def refresh_solutions(root: Path, write: bool) -> list[Path]:
    """The solution notebooks whose nbgrader metadata is out of date; with `write`, brought up to date.

    Each is read, given its metadata and written back at once, so edits made meanwhile are not lost."""
    points = points_of(root)
    changed = []
    for source in sources(root):
        _, text = annotated(source, points)
        if text != source.read_text(encoding="utf-8"):
            if write:
                source.write_text(text, encoding="utf-8")
            changed.append(source)
    return changed


def stale(root: Path | None = None) -> list[str]:
    """What is out of date in labs/: missing or different labs, and labs with no solution behind them."""
    root = Path(root or repo_root())
    wanted = plan(root)
    problems = []
    for target, text in wanted.items():
        rel = target.relative_to(root)
        if not target.exists():
            problems.append(f"{rel}: missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: differs from what {SOURCE_DIR}/{rel.relative_to(RELEASE_DIR)} generates")
    for source in refresh_solutions(root, write=False):
        problems.append(f"{source.relative_to(root)}: its nbgrader metadata is out of date (points, answers or tasks)")
    for existing in sorted((root / RELEASE_DIR).glob("*/*.ipynb")):
        if existing.stem == existing.parent.name and existing not in wanted:
            problems.append(f"{existing.relative_to(root)}: no {SOURCE_DIR}/ notebook generates it")
    return problems


def generate(root: Path | None = None) -> list[Path]:
    """Bring the solutions' nbgrader metadata up to date, then write every lab that is missing or different;
    returns the paths written."""
    root = Path(root or repo_root())
    written = refresh_solutions(root, write=True)
    for target, text in plan(root).items():
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microcosm.labs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write labs/ from solutions/")
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if labs/ is stale")
    gen.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root = Path(args.root or repo_root()).resolve()
    try:
        if args.check:
            problems = stale(root)
            for problem in problems:
                print(f"stale: {problem}", file=sys.stderr)
            if problems:
                print("run: python -m microcosm.labs generate", file=sys.stderr)
                return 1
            print(f"{RELEASE_DIR}/ is up to date ({len(plan(root))} lab(s))")
            return 0
        written = generate(root)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    for problem in stale(root):
        print(f"warning: {problem}", file=sys.stderr)
    if not written:
        print(f"{RELEASE_DIR}/ was already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
