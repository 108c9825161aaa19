"""scripts/book.py's pure parts, without running a notebook: which chapters it builds, the index page, the
previous/next links, links between chapters, widgets made static, Mermaid sources kept as text.
(tests/browser/test_book_renders.py builds real chapters and looks at them in Chromium.)"""
from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from scripts_module import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def book():
    return load_script("book")


def links(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page)


def test_every_numbered_notebook_is_a_chapter_in_order(book, tmp_path):
    for name in ("01_b.ipynb", "00_a.ipynb", "10_c.ipynb", "scratch.ipynb", "1_bad.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / name)
    assert [p.name for p in book.select(None, tmp_path)] == ["00_a.ipynb", "01_b.ipynb", "10_c.ipynb"]
    assert [p.stem for p in book.select(["10", "00_a.ipynb"], tmp_path)] == ["00_a", "10_c"]
    with pytest.raises(SystemExit, match="no such chapter: 07"):
        book.select(["07"], tmp_path)


def test_the_course_chapters_are_all_found(book):
    names = [p.stem for p in book.select()]
    assert names[:7] == ["00_welcome", "01_microservices", "02_databases", "03_load_balancer",
                         "04_service_registry", "05_api_gateway", "06_identity"]


def test_navigation_links_previous_contents_and_next(book):
    first = book.nav_markdown(None, ("01_microservices", "Microservices"))
    middle = book.nav_markdown(("00_welcome", "Welcome"), ("02_databases", "Databases"))
    last = book.nav_markdown(("05_api_gateway", "API gateway"), None)
    assert "Previous" not in first and "(01_microservices.html)" in first and "(index.html)" in first
    assert re.search(r"\[← Previous: Welcome\]\(00_welcome\.html\).*\[Contents\]\(index\.html\)"
                     r".*\[Next: Databases →\]\(02_databases\.html\)", middle)
    assert "Next" not in last and "(05_api_gateway.html)" in last


def test_links_to_built_chapters_point_at_their_pages_and_the_rest_at_the_repository(book):
    text = ("[a](01_microservices.ipynb) [b](00_welcome.ipynb#The-chapters) [c](02_databases.ipynb) "
            "[lab](../labs/03_load_balancer/03_load_balancer.ipynb) [web](https://example.org/x.ipynb) [top](#here)")
    out = book.rewrite_links(text, {"00_welcome", "01_microservices"})
    assert "[a](01_microservices.html)" in out
    assert "[b](00_welcome.html#The-chapters)" in out
    assert f"[c]({book.REPOSITORY}notebooks/02_databases.ipynb)" in out
    assert f"[lab]({book.REPOSITORY}labs/03_load_balancer/03_load_balancer.ipynb)" in out
    assert "[web](https://example.org/x.ipynb)" in out and "[top](#here)" in out


def test_index_links_each_chapter_once_with_its_line(book):
    page = book.index_html([("00_welcome", "Welcome", "check the machine"),
                            ("03_load_balancer", "Load <balancer>", ""),
                            ("04_service_registry", "04 — Service registry", "heartbeats")], note="built today")
    assert links(page) == ["00_welcome.html", "03_load_balancer.html", "04_service_registry.html"]
    assert "00 · Welcome</a> — check the machine" in page
    assert ">04 — Service registry</a> — heartbeats" in page, "a title that has its number keeps it, once"
    assert html.escape("Load <balancer>") in page and "<balancer>" not in page
    assert "built today" in page


def test_a_chapter_for_the_book(book):
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}})
    nav = book.navigation.NAV_MARK + "\n[Next](01_microservices.ipynb)"
    monitor = nbformat.v4.new_output("display_data", data={
        book.WIDGET_VIEW: {"model_id": "m1"}, "text/html": "<div class='microcosm-snapshot'><svg/></div>",
        "text/plain": "Monitor"})
    bare = nbformat.v4.new_output("display_data", data={book.WIDGET_VIEW: {"model_id": "m2"}, "text/plain": "VBox()"})
    code = nbformat.v4.new_code_cell("m = microcosm.monitor()", outputs=[monitor, bare])
    nb.cells = [nbformat.v4.new_markdown_cell(nav), nbformat.v4.new_markdown_cell("# Title\nsee [next](01_microservices.ipynb)"),
                code, nbformat.v4.new_markdown_cell(nav)]
    out = book.for_the_book(nb, "00_welcome", "Title", None, ("01_microservices", "Microservices"),
                            {"00_welcome", "01_microservices"})
    sources = [c.source for c in out.cells]
    assert not any(book.navigation.NAV_MARK in s for s in sources), "the notebook's own navigation cells are gone"
    assert sources[0] == sources[-1] == book.nav_markdown(None, ("01_microservices", "Microservices"))
    assert "see [next](01_microservices.html)" in sources[1]
    kept, noted = out.cells[2].outputs
    assert book.WIDGET_VIEW not in kept.data and "microcosm-snapshot" in kept.data["text/html"]
    assert noted.data == {"text/html": book.WIDGET_NOTE}
    assert "widgets" not in out.metadata and out.metadata["title"].startswith("00 · Title")


def test_mermaid_sources_stay_text(book):
    page = '<p>a<br/>b</p><pre class="mermaid">\nflowchart LR\n  a["x<br/>y"] --&gt; b\n</pre><br/>'
    out = book.escape_mermaid(page)
    assert '<pre class="mermaid">\nflowchart LR\n  a["x&lt;br/&gt;y"] --&gt; b\n</pre>' in out
    assert out.startswith("<p>a<br/>b</p>") and out.endswith("</pre><br/>")


def test_pages_load_nothing_from_the_network(book):
    # the template drops nbconvert's CDN scripts; mermaid.js comes from the book's own _static/ folder
    assert "_static/" + book.MERMAID_JS in book.TEMPLATE
    for block in ("html_head_js_requirejs", "html_head_js_mathjax"):
        assert re.search(rf"{{%- block {block} -%}}{{%- endblock {block} -%}}", book.TEMPLATE)
    assert book.MERMAID_FROM_GLOBAL.startswith("data:")


def test_a_failing_chapter_names_itself_its_cell_and_the_error(book, tmp_path, monkeypatch):
    # the one test here that runs a kernel (about a second): a chapter that raises stops the build loudly
    js = tmp_path / "vendored" / book.MERMAID_JS  # no npm needed here
    js.parent.mkdir()
    js.write_text("// mermaid")
    js.with_name(f"mermaid-{book.MERMAID_VERSION}.LICENSE").write_text("MIT")
    monkeypatch.setattr(book, "mermaid_js", lambda: js)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken"),
                nbformat.v4.new_code_cell("import os\nopen('cwd.txt', 'w').write(os.getcwd())"),
                nbformat.v4.new_code_cell("total = 1\ntotal / 0"),
                nbformat.v4.new_code_cell("open('never.txt', 'w')")]
    nbformat.write(nb, tmp_path / "00_broken.ipynb")
    with pytest.raises(book.ChapterFailed) as failed:
        book.build(None, out=tmp_path / "out", folder=tmp_path, log=lambda line: None)
    assert str(failed.value) == "00_broken: cell 3 of 4 ('total = 1') raised ZeroDivisionError: division by zero"
    assert (tmp_path / "cwd.txt").read_text() == str(tmp_path), "a chapter runs in its own folder"
    assert not (tmp_path / "never.txt").exists() and not (tmp_path / "out" / "index.html").exists()


def test_the_set_up_fetches_the_mermaid_version_the_book_uses(book, tmp_path):
    # scripts/setup.sh reads MERMAID_VERSION out of book.py to skip the fetch when the file is already there
    (tmp_path / "share" / "microcosm").mkdir(parents=True)
    (tmp_path / "share" / "microcosm" / book.MERMAID_JS).write_text("// mermaid")
    result = subprocess.run(["bash", "-c", f'source scripts/setup.sh; VENV="{tmp_path}"; mermaid_setup; echo ok'],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.stdout == "ok\n" and result.stderr == "", "it fetched (or complained) although the file is there"


def test_under_ci_the_set_up_installs_npm_with_apt_when_it_is_missing(tmp_path):
    """No npm and CI set: setup.sh installs it with apt-get, then fetches mermaid.js (stubs stand for both)."""
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    stubs = {bin_dir / "apt-get": f'echo "apt-get $*" >> {calls}\nprintf "#!/bin/sh\\n" > {bin_dir}/npm; chmod +x {bin_dir}/npm',
             venv / "bin" / "python": f'echo "python $*" >> {calls}'}
    for path, body in stubs.items():
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CI": "true", "HOME": str(tmp_path)}
    script = f'source scripts/setup.sh; have() {{ PATH="{bin_dir}" command -v "$1" >/dev/null; }}; VENV="{venv}"; ' \
             f'mermaid_setup; echo ok'
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
    said = calls.read_text()
    assert "apt-get -y -q install --no-install-recommends npm" in said and "python scripts/book.py --fetch-mermaid" in said
