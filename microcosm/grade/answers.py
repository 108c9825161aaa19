"""The learner's written answers: the markdown cells that say `YOUR ANSWER HERE` in the lab as released,
found in a submission by cell id (or, for a cell whose id changed, at the same position)."""
from __future__ import annotations

import re
from pathlib import Path

PLACEHOLDER = "YOUR ANSWER HERE"  # what microcosm.labs leaves in a markdown answer cell
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.MULTILINE)  # an instructor's copy as a submission


def questions(released: Path) -> list[tuple[str, str, int]]:
    """(column name, cell id, position) of each answer cell of the released lab, named by the heading above
    it ("Question · Fail open, or fail closed?"); a name met twice gets " (2)", " (3)", ..."""
    import nbformat

    found, heading, seen = [], "answer", {}
    for position, cell in enumerate(nbformat.read(released, as_version=4).cells):
        if cell.cell_type != "markdown":
            continue
        if cell.source.strip() == PLACEHOLDER:
            seen[heading] = seen.get(heading, 0) + 1
            name = heading if seen[heading] == 1 else f"{heading} ({seen[heading]})"
            found.append((name, cell.get("id", ""), position))
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                heading = line.lstrip("#").strip() or heading
    return found


def answers(released: Path, submission: Path) -> dict[str, str]:
    """{column name: the submission's text} for each answer cell of the released lab ("" if left unanswered)."""
    import nbformat

    cells = nbformat.read(submission, as_version=4).cells
    by_id = {cell.get("id"): cell for cell in cells if cell.get("id")}
    out = {}
    for name, cell_id, position in questions(released):
        cell = by_id.get(cell_id) or (cells[position] if position < len(cells) else None)
        text = _MARKER.sub("", cell.source).strip() if cell is not None and cell.cell_type == "markdown" else ""
        out[name] = "" if text == PLACEHOLDER else text
    return out
