"""The previous/next links of the course notebooks are what scripts/navigation.py writes."""
import shutil
from pathlib import Path

import nbformat
import pytest

from scripts_module import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def navigation():
    return load_script("navigation")


def test_navigation_in_notebooks_is_current(navigation):
    assert navigation.stale(ROOT / "notebooks") == [], "run: python scripts/navigation.py"


def notebook(title, *cells):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}"), *cells])


def test_links_follow_file_order_and_titles(navigation, tmp_path):
    (tmp_path / "notebooks").mkdir()
    folder = tmp_path / "notebooks"
    nbformat.write(notebook("00 — Welcome", nbformat.v4.new_markdown_cell("## The chapters\n\n<!--CONTENTS-->")),
                   folder / "00_welcome.ipynb")
    nbformat.write(notebook("01 — One", nbformat.v4.new_code_cell("x = 1")), folder / "01_one.ipynb")
    nbformat.write(notebook("05 — Five"), folder / "05_five.ipynb")
    nbformat.write(notebook("scratch"), folder / "scratch.ipynb")  # not a chapter: left alone

    assert sorted(p.name for p in navigation.update(folder)) == ["00_welcome.ipynb", "01_one.ipynb", "05_five.ipynb"]
    assert navigation.stale(folder) == [] and navigation.update(folder) == []  # a second run changes nothing

    one = nbformat.read(folder / "01_one.ipynb", as_version=4)
    top, bottom = one.cells[0].source, one.cells[-1].source
    assert top == bottom and top.startswith(navigation.NAV_MARK)
    assert "[← Previous: 00 — Welcome](00_welcome.ipynb)" in top
    assert "[Next: 05 — Five →](05_five.ipynb)" in top and "Contents" in top
    assert [c.source for c in one.cells[1:-1]] == ["# 01 — One", "x = 1"]  # the rest untouched

    welcome = nbformat.read(folder / "00_welcome.ipynb", as_version=4)
    assert "Previous" not in welcome.cells[0].source and "Next: 01 — One" in welcome.cells[0].source
    contents = welcome.cells[2].source
    assert contents.startswith("## The chapters\n\n<!--CONTENTS-->")
    assert "[00 · Welcome](00_welcome.ipynb)" in contents and "03 · Load balancer *(coming)*" in contents
    five = nbformat.read(folder / "05_five.ipynb", as_version=4)
    assert "Next" not in five.cells[-1].source
    assert nbformat.read(folder / "scratch.ipynb", as_version=4).cells[0].source == "# scratch"

    # a new chapter in between: the neighbours' links are stale until the script runs again
    nbformat.write(notebook("02 — Two"), folder / "02_two.ipynb")
    assert sorted(p.name for p in navigation.stale(folder)) == ["01_one.ipynb", "02_two.ipynb", "05_five.ipynb"]
    navigation.update(folder)
    assert "[Next: 02 — Two →](02_two.ipynb)" in nbformat.read(folder / "01_one.ipynb", as_version=4).cells[0].source


def test_check_mode_reports_without_writing(navigation, tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_microservices.ipynb", folder)
    before = (folder / "01_microservices.ipynb").read_text()
    assert navigation.main(["--check", str(folder)]) == 1  # alone in its folder: no previous, no contents
    assert "out of date" in capsys.readouterr().out
    assert (folder / "01_microservices.ipynb").read_text() == before
