"""The readable edition: every chapter executed top to bottom, rendered to static HTML with nbconvert.

    python scripts/book.py                         # every chapter (notebooks/NN_*.ipynb) into build/book/
    python scripts/book.py 03_load_balancer 00     # only these chapters (by name or number)
    python scripts/book.py --out /tmp/book         # somewhere else
    python scripts/book.py --fetch-mermaid         # only get mermaid.js (scripts/setup.sh does, once)

Each chapter runs in a fresh kernel of this interpreter, with notebooks/ as its working folder (as in
JupyterLab), and stops at the first cell that raises, naming the chapter and the cell. nbconvert's lab template
renders it; on top of it the edition has an index page (one line per chapter), previous/next links in place of
the notebooks' own navigation cells, links between chapters that point at their pages, and pages that work
offline: Mermaid diagrams are drawn by a copy of mermaid.js from npm (the version nbconvert itself asks a CDN
for), no other script is loaded from the network, and live widgets (which need a kernel) leave their static
fallback, such as the traffic monitor's snapshot, or a note to run the notebook.
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import jinja2
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import navigation  # noqa: E402  (scripts/navigation.py: the chapter list, titles, the navigation cells' mark)

ROOT = navigation.ROOT
NOTEBOOKS = navigation.NOTEBOOKS
OUT = ROOT / "build" / "book"
REPOSITORY = "https://github.com/OWNER/microcosm/blob/HEAD/"  # where links to files outside the book go
MERMAID_VERSION = "11.10.0"  # nbconvert 7.17's own choice (HTMLExporter.mermaid_js_url)
MERMAID_JS = f"mermaid-{MERMAID_VERSION}.min.js"
MERMAID_CACHE = Path(sys.prefix) / "share" / "microcosm"  # .venv/share/microcosm/
CELL_TIMEOUT = 600  # seconds for one cell
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="book-widget"><em>A live widget is shown here when the notebook runs in Jupyter '
               '(a static page has no kernel to drive it).</em></p>')

# nbconvert's lab template, minus what it loads from a CDN: require.js (for widgets), MathJax (the course has
# no formulas) and mermaid.js, which comes from the vendored copy instead (a global `mermaid`, handed to the
# template's module script through a data: URL, because file:// pages cannot import modules from files)
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}
<script src="_static/""" + MERMAID_JS + """"></script>
<script>mermaid.initialize({startOnLoad: false});  /* the template's script below draws them */</script>
{{ super() }}
{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}<style>.book-nav { font-size: 1.1em; }</style>{% endblock extra_css %}
"""
MERMAID_FROM_GLOBAL = "data:text/javascript,export%20default%20globalThis.mermaid;"


class ChapterFailed(RuntimeError):
    """A chapter raised while it ran: the message names the chapter, the cell and the error."""


def select(names: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The chapters to build, in reading order: all NN_*.ipynb, or those named ("03_load_balancer", "03")."""
    every = navigation.chapters(folder)
    if not names:
        return every
    wanted = {name.removesuffix(".ipynb") for name in names}
    unknown = [n for n in wanted if not any(p.stem == n or p.stem[:2] == n for p in every)]
    if unknown:
        raise SystemExit(f"no such chapter: {', '.join(sorted(unknown))} (chapters: {', '.join(p.stem for p in every)})")
    return [p for p in every if p.stem in wanted or p.stem[:2] in wanted]


def page(slug: str) -> str:
    return f"{slug}.html"


def label(slug: str, title: str) -> str:
    """A chapter's name with its number: its title, numbered unless it is already ("00 — Welcome ...")."""
    return title if title.startswith(slug[:2]) else f"{slug[:2]} · {title}"


def nav_markdown(previous: tuple[str, str] | None, following: tuple[str, str] | None) -> str:
    """The navigation line of a page: previous, contents (the index), next; each (slug, title) or None."""
    parts = [f"[← Previous: {previous[1]}]({page(previous[0])})"] if previous else []
    parts.append("[Contents](index.html)")
    if following:
        parts.append(f"[Next: {following[1]} →]({page(following[0])})")
    return '<div class="book-nav">\n\n' + " · ".join(parts) + "\n\n</div>"


LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+\.ipynb)(#[^)\s]*)?\)")


def rewrite_links(markdown: str, built: set[str]) -> str:
    """Markdown links to a built chapter point at its page; links to any other notebook, at the repository."""
    def replace(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        slug = Path(target).stem
        if "/" not in target and slug in built:
            return f"]({page(slug)}{anchor})"
        path = (NOTEBOOKS / target).resolve()
        try:
            return f"]({REPOSITORY}{path.relative_to(ROOT).as_posix()}{anchor})"
        except ValueError:  # a path outside the repository: leave it as written
            return match.group(0)
    return LINK.sub(replace, markdown)


def index_html(entries: list[tuple[str, str, str]], note: str = "") -> str:
    """The contents page: one line per chapter, (slug, title, what the learner does there)."""
    items = "\n".join(
        f'<li><a href="{page(slug)}">{html.escape(label(slug, title))}</a>'
        + (f" — {html.escape(line)}" if line else "") + "</li>" for slug, title, line in entries)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>microcosm: the course, executed</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
line-height: 1.5; color: #1f2328; }} li {{ margin: .4em 0; }} a {{ color: #0969da; }}
.note {{ color: #59636e; }} ul.chapters {{ list-style: none; padding-left: 0; }}</style></head>
<body>
<h1>microcosm: learn microservices by building one</h1>
<p>Every chapter as it looks after running it top to bottom: its outputs, charts, tables and traffic
monitor snapshots in place. To run them yourself, open the notebooks in JupyterLab (<code>make lab</code>).</p>
<ul class="chapters">
{items}
</ul>
<p class="note">{html.escape(note)}</p>
</body></html>
"""


def execute(path: Path) -> nbformat.NotebookNode:
    """The chapter run top to bottom in a fresh kernel of this interpreter, its working folder the chapter's."""
    import ipykernel.kernelspec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    class ThisPython(KernelSpecManager):  # ipykernel's own spec, whatever kernels the user has installed
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict())

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()  # starts the kernel; stopped below (nbclient leaves a kernel it was handed running)
    except (CellExecutionError, CellTimeoutError) as error:
        raise ChapterFailed(failure(path.stem, nb, error)) from None
    finally:
        if km.has_kernel:
            km.shutdown_kernel()  # politely: the kernel's atexit stops what the chapter started
    return nb


def failure(chapter: str, nb: nbformat.NotebookNode, error: Exception) -> str:
    """What went wrong, where: the chapter, the first cell with an error output (or the timeout), the error."""
    for number, cell in enumerate(nb.cells, 1):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return (f"{chapter}: cell {number} of {len(nb.cells)} ({first[:60]!r}) raised "
                        f"{output.ename}: {output.evalue}")
    return f"{chapter}: {str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__}"


def static_outputs(nb: nbformat.NotebookNode) -> None:
    """Live widgets cannot run on a static page: keep their HTML fallback, or leave a note; drop widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if "text/html" not in data:
                    data.clear()
                    data["text/html"] = WIDGET_NOTE


def for_the_book(nb, slug: str, title: str, previous, following, built: set[str]) -> nbformat.NotebookNode:
    """The executed notebook as the book shows it: book navigation, links rewritten, static outputs."""
    static_outputs(nb)
    cells = [c for c in nb.cells if not (c.cell_type == "markdown" and c.source.startswith(navigation.NAV_MARK))]
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, built)
    nav = nav_markdown(previous, following)
    nb.cells = [nbformat.v4.new_markdown_cell(nav), *cells, nbformat.v4.new_markdown_cell(nav)]
    nb.metadata["title"] = f"{label(slug, title)} · microcosm"
    return nb


MERMAID_BLOCK = re.compile(r'(<pre class="mermaid">)(.*?)(</pre>)', re.S)


def escape_mermaid(page_html: str) -> str:
    """Mermaid sources as text: nbconvert leaves a label's `<br/>` raw in the <pre>, so the browser makes it
    an element and mermaid, reading the text, loses the line break."""
    return MERMAID_BLOCK.sub(lambda m: m[1] + html.escape(html.unescape(m[2]), quote=False) + m[3], page_html)


def render(nb: nbformat.NotebookNode) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[jinja2.DictLoader({"book.html.j2": TEMPLATE})],
                            template_file="book.html.j2", mermaid_js_url=MERMAID_FROM_GLOBAL,
                            mermaid_layout_elk_js_url="")
    body, _ = exporter.from_notebook_node(nb)
    return escape_mermaid(body)


def mermaid_js() -> Path:
    """mermaid.min.js from npm's `mermaid` package (fetched once with `npm pack`, kept in .venv/share/microcosm)."""
    target = MERMAID_CACHE / MERMAID_JS
    if target.exists():
        return target
    if not shutil.which("npm"):
        raise RuntimeError(f"the book draws its diagrams with mermaid.js from npm, and npm is missing: install "
                           f"Node.js's npm (apt-get install npm), then run: {sys.executable} scripts/book.py "
                           "--fetch-mermaid")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"mermaid@{MERMAID_VERSION}", "--silent", "--pack-destination", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        with tarfile.open(Path(tmp) / f"mermaid-{MERMAID_VERSION}.tgz") as tar:
            js = tar.extractfile("package/dist/mermaid.min.js").read()
            licence = tar.extractfile("package/LICENSE").read()
    MERMAID_CACHE.mkdir(parents=True, exist_ok=True)
    (MERMAID_CACHE / f"mermaid-{MERMAID_VERSION}.LICENSE").write_bytes(licence)
    target.write_bytes(js)
    return target


def build(names: list[str] | None = None, out: Path = OUT, folder: Path = NOTEBOOKS, log=print) -> Path:
    """Execute and render the chapters into `out`; returns the index page. Raises ChapterFailed."""
    paths = select(names, folder)
    static = out / "_static"
    static.mkdir(parents=True, exist_ok=True)
    js = mermaid_js()
    shutil.copy2(js, static / MERMAID_JS)
    shutil.copy2(js.with_name(f"mermaid-{MERMAID_VERSION}.LICENSE"), static / f"mermaid-{MERMAID_VERSION}.LICENSE")
    titles = {p.stem: navigation.title(nbformat.read(p, as_version=4)) for p in paths}
    lines = {slug: what for slug, _, what in navigation.CHAPTERS}
    slugs, started = [p.stem for p in paths], time.monotonic()
    for i, path in enumerate(paths):
        begun = time.monotonic()
        nb = execute(path)
        previous = (slugs[i - 1], titles[slugs[i - 1]]) if i > 0 else None
        following = (slugs[i + 1], titles[slugs[i + 1]]) if i + 1 < len(slugs) else None
        nb = for_the_book(nb, path.stem, titles[path.stem], previous, following, set(slugs))
        (out / page(path.stem)).write_text(render(nb), encoding="utf-8")
        log(f"{path.stem}: ran and rendered in {time.monotonic() - begun:.0f} s")
    note = f"Built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; each chapter ran top to bottom."
    index = out / "index.html"
    index.write_text(index_html([(s, titles[s], lines.get(s, "")) for s in slugs], note), encoding="utf-8")
    log(f"{len(slugs)} chapters in {time.monotonic() - started:.0f} s: {index}")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="names or numbers of chapters (default: every chapter)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT.relative_to(ROOT)})")
    parser.add_argument("--fetch-mermaid", action="store_true", help="only fetch mermaid.js from npm, once")
    args = parser.parse_args(argv)
    try:
        if args.fetch_mermaid:
            print(f"mermaid.js: {mermaid_js()}")
        else:
            build(args.chapters, args.out)
    except (ChapterFailed, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"book: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
