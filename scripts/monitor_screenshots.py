"""Pictures of the traffic monitor as the chapters show it, for issue notes and reviews.

    python scripts/monitor_screenshots.py [--chapters 03 05 06] [--label after] [--tree PATH]

Each chapter is executed top to bottom in a fresh kernel (as `make book` does, scripts/book.py), then every
monitor picture it left is drawn by Debian's Chromium and saved as a PNG under test-artifacts/screenshots/:

- `LABEL-NN_topic-CELLID.png`: a static picture a cell displayed (`monitor.snapshot()`, or the snapshot the
  live view carries for viewers without widgets);
- `LABEL-NN_topic-live.png`: the live view's topology as it was when the chapter ended (the widget's last value,
  kept in the notebook's widget state).

`--tree PATH` runs another checkout's notebooks with its own package (the kernel and every service it launches
import `microcosm` from PATH): the "before" pictures of a change, from a worktree of an older commit, without
touching this one:

    git worktree add /tmp/before 40e75c8      # the commit before the monitor's redesign (issue 11)
    python scripts/monitor_screenshots.py --tree /tmp/before --label before --chapters 03 05
    git worktree remove /tmp/before
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
MARK = "microcosm-topology"  # the class of every topology SVG the monitor draws, before and after issue 11


def _book():
    spec = importlib.util.spec_from_file_location("book", REPO / "scripts" / "book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pictures(nb) -> list[tuple[str, str]]:
    """(name, html) of every monitor picture in an executed notebook: static outputs, then the live view's."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = (output.get("data") or {}).get("text/html", "")
            text = "".join(text) if isinstance(text, list) else text
            if MARK in text:
                found.append((cell.get("id") or f"cell{len(found)}", text))
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    live = [m["state"]["value"] for m in state.values()
            if isinstance(m.get("state", {}).get("value"), str) and MARK in m["state"]["value"]]
    if live:
        found.append(("live", live[-1]))
    return found


def shoot(items: list[tuple[Path, str]]) -> None:
    """Each HTML fragment drawn in headless Chromium, the element's own box saved as a PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            for path, fragment in items:
                page.set_content(f'<div id="shot" style="display:inline-block;padding:8px;font-family:sans-serif">'
                                 f'{fragment}</div>')
                page.locator("#shot").screenshot(path=str(path))
        finally:
            browser.close()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chapters", nargs="+", default=["03", "05", "06"], help="chapter numbers (default 03 05 06)")
    p.add_argument("--label", default="after", help="the pictures' name prefix (default: after)")
    p.add_argument("--tree", type=Path, default=REPO, help="the checkout whose notebooks and package to run")
    args = p.parse_args(argv)
    tree = args.tree.resolve()
    if tree != REPO:  # the kernel (and the services it launches) import microcosm from the other checkout
        os.environ["PYTHONPATH"] = os.pathsep.join([str(tree)] + [x for x in [os.environ.get("PYTHONPATH")] if x])
    book = _book()
    OUT.mkdir(parents=True, exist_ok=True)
    shots, missing = [], []
    for number in args.chapters:
        notebooks = sorted((tree / "notebooks").glob(f"{number}_*.ipynb"))
        if not notebooks:
            sys.exit(f"no notebook {number}_*.ipynb in {tree / 'notebooks'}")
        path = notebooks[0]
        print(f"executing {path.relative_to(tree)} ...", flush=True)
        try:
            nb = book.execute(path)
        except book.ChapterFailed as failed:
            print(f"  failed: {failed}", flush=True)
            missing.append(path.stem)
            continue
        found = pictures(nb)
        if not found:
            missing.append(path.stem)
        for name, fragment in found:
            shots.append((OUT / f"{args.label}-{path.stem}-{name}.png", fragment))
            print(f"  {shots[-1][0].relative_to(REPO)}", flush=True)
    shoot(shots)
    listing = OUT / f"{args.label}.json"  # which pictures came from which tree (kept across runs)
    known = json.loads(listing.read_text()) if listing.exists() else {}
    for target, _ in shots:
        known[str(target.relative_to(REPO))] = str(tree)
    listing.write_text(json.dumps(known, indent=1, sort_keys=True))
    if missing:
        sys.exit(f"no monitor picture from: {', '.join(missing)}")


if __name__ == "__main__":
    main()
