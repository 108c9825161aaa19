"""Previous/next navigation for the course notebooks (in the style of the Python Data Science Handbook).

    python scripts/navigation.py            # (re)write the navigation of every notebook in notebooks/
    python scripts/navigation.py --check    # change nothing; exit 1 naming the notebooks that are out of date

Every numbered notebook in notebooks/ (`NN_topic.ipynb`, in file-name order) gets a navigation cell at its
top and at its bottom: markdown cells that start with NAV_MARK, linking the previous and the next notebook by
their titles (each notebook's first `# ` heading). Only those cells are replaced; nothing else is touched.

The welcome notebook's table of chapters (what follows CONTENTS_MARK in its markdown cell) is rewritten too,
from CHAPTERS below (the chapter names of DESIGN.md): a link for each notebook and lab that exists, the
others marked as coming.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAV_MARK = "<!--NAVIGATION-->"
CONTENTS_MARK = "<!--CONTENTS-->"
CONTENTS_NOTEBOOK = "00_welcome.ipynb"
CONTENTS_ANCHOR = "#The-chapters"  # JupyterLab's id for the heading "## The chapters"
NUMBERED = re.compile(r"^\d\d_\w+\.ipynb$")

# slug, title, what the learner does there (the names and order of DESIGN.md)
CHAPTERS = [
    ("00_welcome", "Welcome", "check the machine, see the map, launch a first service"),
    ("01_microservices", "Microservices", "catalog and orders as separate processes; a dead or slow service; bad input"),
    ("02_databases", "Databases", "a database per service, data that survives a crash, why not share one"),
    ("03_load_balancer", "Load balancer", "several copies of a service behind a balancer with health checks and retries"),
    ("04_service_registry", "Service registry", "services register with heartbeats; callers discover them"),
    ("05_api_gateway", "API gateway", "one front door: routing, composition, authentication, rate limits in Redis"),
    ("06_identity", "Identity provider", "log in, signed tokens (RS256, JWKS), checked at the gateway"),
    ("07_message_broker", "Message broker", "events on Redis Streams: consumer groups, acknowledgements"),
    ("08_coordination", "Coordination", "ZooKeeper: shared configuration, locks, leader election"),
    ("09_clients", "Clients", "a Python client, a web page in a real browser, a mobile profile"),
    ("10_cdn", "CDN", "an edge cache in front of the shop: Cache-Control, ETag, 304"),
    ("11_full_system", "The full system", "everything together: live traffic, load tests, faults on purpose"),
    ("12_beyond_one_machine", "Beyond one machine", "what replaces each home-made part in production; the same system for an orchestrator"),
]


def chapters(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course notebooks, in reading order."""
    return sorted(p for p in folder.glob("*.ipynb") if NUMBERED.match(p.name))


def title(nb) -> str:
    """A notebook's title: the text of its first top-level heading."""
    for cell in nb.cells:
        if cell.cell_type != "markdown" or cell.source.startswith(NAV_MARK):
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    raise ValueError("no top-level heading ('# ...') in any markdown cell")


def navigation(previous: tuple[str, str] | None, following: tuple[str, str] | None, contents: bool) -> str:
    """The navigation line: previous, contents, next (each present only when it exists)."""
    parts = []
    if previous:
        parts.append(f"[← Previous: {previous[1]}]({previous[0]})")
    if contents:
        parts.append(f"[Contents]({CONTENTS_NOTEBOOK}{CONTENTS_ANCHOR})")
    if following:
        parts.append(f"[Next: {following[1]} →]({following[0]})")
    return NAV_MARK + "\n" + " · ".join(parts)


def contents_table(folder: Path = NOTEBOOKS) -> str:
    labs = folder.parent / "labs"
    rows = ["| chapter | what you do | lab |", "|---|---|---|"]
    for slug, name, what in CHAPTERS:
        number = slug[:2]
        chapter = f"[{number} · {name}]({slug}.ipynb)" if (folder / f"{slug}.ipynb").exists() else f"{number} · {name} *(coming)*"
        lab_file = labs / slug / f"{slug}.ipynb"
        lab = f"[lab](../labs/{slug}/{slug}.ipynb)" if lab_file.exists() else ""
        rows.append(f"| {chapter} | {what} | {lab} |")
    return CONTENTS_MARK + "\n" + "\n".join(rows)


def with_navigation(nb, previous, following, contents: bool, folder: Path):
    """A copy of nb with fresh navigation cells (and contents table, where there is one)."""
    nb = copy.deepcopy(nb)
    nav = navigation(previous, following, contents)
    cells = [c for c in nb.cells if not (c.cell_type == "markdown" and c.source.startswith(NAV_MARK))]
    for cell in cells:
        if cell.cell_type == "markdown" and CONTENTS_MARK in cell.source:  # keep what precedes the mark
            cell.source = cell.source[:cell.source.index(CONTENTS_MARK)] + contents_table(folder)
    top = nbformat.v4.new_markdown_cell(nav)
    top.id = "navigation-top"
    bottom = nbformat.v4.new_markdown_cell(nav)
    bottom.id = "navigation-bottom"
    nb.cells = [top, *cells, bottom]
    return nb


def refreshed(folder: Path = NOTEBOOKS) -> dict:
    """For each notebook: (the notebook now, the notebook with current navigation)."""
    paths = chapters(folder)
    books = {p: nbformat.read(p, as_version=4) for p in paths}
    titles = {p: title(nb) for p, nb in books.items()}
    out = {}
    for i, path in enumerate(paths):
        previous = (paths[i - 1].name, titles[paths[i - 1]]) if i > 0 else None
        following = (paths[i + 1].name, titles[paths[i + 1]]) if i + 1 < len(paths) else None
        contents = path.name != CONTENTS_NOTEBOOK and (folder / CONTENTS_NOTEBOOK).exists()
        new = with_navigation(books[path], previous, following, contents, folder)
        out[path] = (books[path], new)
    return out


def stale(folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks whose navigation is not what this script would write."""
    return [p for p, (now, wanted) in refreshed(folder).items() if nbformat.writes(now) != nbformat.writes(wanted)]


def update(folder: Path = NOTEBOOKS) -> list[Path]:
    """Rewrite the navigation where it is out of date; returns the notebooks changed."""
    changed = []
    for path, (now, wanted) in refreshed(folder).items():
        if nbformat.writes(now) != nbformat.writes(wanted):
            nbformat.write(wanted, path)
            changed.append(path)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any notebook is out of date")
    parser.add_argument("folder", nargs="?", type=Path, default=NOTEBOOKS)
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale(args.folder)
        for path in out_of_date:
            print(f"out of date: {path} (run: python scripts/navigation.py)")
        return 1 if out_of_date else 0
    for path in update(args.folder):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
