"""A table or chart a cell builds is shown: Jupyter displays only the value of a cell's last line, so a
`table(...)` (or a chart) on any other line is built and thrown away, and the learner never sees it. Such a line
must be wrapped in `display(...)`. Checked in every chapter, solution and lab."""
import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted([*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "solutions").glob("*/*.ipynb"),
                    *(ROOT / "labs").glob("*/*.ipynb")])
SHOWN_ONLY_WHEN_DISPLAYED = {"table", "percentile_chart", "status_chart", "chart", "html_table", "Code", "HTML",
                             "Markdown", "SVG", "Image"}


def discarded(source: str) -> list[str]:
    """The lines of a cell whose value is a picture or table built on a line that is not the cell's last."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:  # a %%writefile cell, or a stub the learner completes
        return []
    out = []
    for statement in tree.body[:-1]:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            func = statement.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in SHOWN_ONLY_WHEN_DISPLAYED:
                out.append(ast.get_source_segment("\n".join(lines), statement).splitlines()[0])
    return out


def test_the_check_finds_a_discarded_table():
    assert discarded("table(rows, cols)\nprint('verdict')") == ["table(rows, cols)"]
    assert discarded("display(table(rows, cols))\nprint('verdict')") == []
    assert discarded("x = 1\ntable(rows, cols)") == []  # the last line is shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_and_chart_a_cell_builds_is_shown(path):
    nb = nbformat.read(path, as_version=4)
    lost = {cell.get("id", i): found for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and (found := discarded(cell.source))}
    assert not lost, f"{path.name}: built and never shown (wrap in display(...)): {lost}"
