"""The readable edition (`make book`, scripts/book.py) in a real Chromium, offline: chapter 03's percentile chart
and a traffic monitor snapshot are drawn, every Mermaid diagram is rendered to an SVG picture, and the index
links to each built chapter.

To stay short it builds two chapters only, into a temporary folder: 00_welcome (the cheapest chapter with a
monitor snapshot) and 03_load_balancer (the chart). The pages are opened over file://, as a reader opens
build/book/index.html, and must not ask the network for anything. Screenshots are left in test-artifacts/.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from scripts_module import load_file, load_script

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHAPTERS = ["00_welcome", "03_load_balancer"]
DRAW_TIMEOUT = 30_000  # ms for mermaid.js to draw a page's diagrams, on a loaded 2-core machine

# Every Mermaid block of the page: drawn (an <img> of an SVG with a size) or not (still a bare <pre>, or an error)
MERMAID = """() => [...document.querySelectorAll('.jp-Mermaid')].map(block => {
  const img = block.querySelector('figure img');
  return {rendered: block.classList.contains('jp-RenderedMermaid'),
          warning: block.classList.contains('jp-mod-warning'),
          svg: !!img && img.src.startsWith('data:image/svg+xml'),
          width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0,
          shown: img ? img.getBoundingClientRect().width : 0};
})"""

# The drawn size of an SVG's marks: bars of the percentile chart (rects with a "<name> p95 12 ms" title)
CHART_BARS = """() => [...document.querySelectorAll('.jp-OutputArea-output svg')].map(svg =>
  [...svg.querySelectorAll('rect')].filter(r => /\\b(p50|p95|p99) [\\d.]+ ms$/.test(r.textContent))
    .map(r => { const b = r.getBoundingClientRect(); return {title: r.textContent, width: b.width, height: b.height}; })
).filter(bars => bars.length)"""

# The monitor snapshots' topologies: their size, their text, and the service boxes (rounded rects) drawn
SNAPSHOTS = """() => [...document.querySelectorAll('.microcosm-snapshot svg.microcosm-topology')].map(svg => {
  const box = svg.getBoundingClientRect();
  return {width: box.width, height: box.height, text: svg.textContent,
          services: [...svg.querySelectorAll('rect[rx="8"]')].map(r => {
            const b = r.getBoundingClientRect(); return {width: b.width, height: b.height}; })};
})"""


@pytest.fixture(scope="module")
def book_module():
    return load_script("book")


def open_offline(page, path: Path, requests: list[str]):
    page.on("request", lambda r: r.url.startswith(("file:", "data:")) or requests.append(r.url))
    page.goto(path.as_uri())


def drawn_mermaid(page) -> list[dict]:
    page.wait_for_function("() => document.querySelectorAll('.jp-Mermaid').length > 0 && "
                           "[...document.querySelectorAll('.jp-Mermaid')].every(b => b.classList.contains("
                           "'jp-RenderedMermaid'))", timeout=DRAW_TIMEOUT)
    return page.evaluate(MERMAID)


def assert_mermaid_drawn(diagrams: list[dict], chapter: str):
    assert diagrams, f"{chapter}: no Mermaid diagram on the page"
    for d in diagrams:
        assert d["rendered"] and not d["warning"], f"{chapter}: a Mermaid diagram was not drawn: {d}"
        assert d["svg"] and d["width"] > 50 and d["height"] > 20 and d["shown"] > 50, \
            f"{chapter}: a Mermaid diagram has no picture with a size: {d}"


def test_book_draws_chart_monitor_snapshot_and_diagrams(book_module, chromium_page, tmp_path):
    try:
        book_module.mermaid_js()
    except Exception as error:  # no npm, or npm could not fetch it
        browser = load_file("browser_conftest", Path(__file__).with_name("conftest.py"))
        browser.skip_or_fail(f"mermaid.js for the book is missing: {error}")
    out = tmp_path / "book"
    index = book_module.build(CHAPTERS, out, log=lambda line: print(line))
    page = chromium_page
    requests: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)

    # the index: one link per built chapter, each to a page that exists
    open_offline(page, index, requests)
    hrefs = page.eval_on_selector_all("ul.chapters a", "links => links.map(a => a.getAttribute('href'))")
    assert hrefs == [f"{c}.html" for c in CHAPTERS]
    assert all((out / href).is_file() for href in hrefs)

    # chapter 03: reached from the index; its chart's bars are drawn with a size, its diagram too
    page.click('ul.chapters a[href="03_load_balancer.html"]')
    page.wait_for_url("**/03_load_balancer.html")
    assert_mermaid_drawn(drawn_mermaid(page), "03_load_balancer")
    charts = page.evaluate(CHART_BARS)
    assert charts, "03_load_balancer: no percentile chart (an SVG of p50/p95/p99 bars) on the page"
    for bars in charts:
        assert len(bars) >= 6 and all(b["height"] > 5 for b in bars), f"bars not drawn: {bars}"
        assert sum(b["width"] > 1 for b in bars) >= len(bars) * 2 // 3, f"bars without a length: {bars}"
    page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output svg')]"
                  ".find(svg => / p95 [\\d.]+ ms/.test(svg.textContent)).scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / "book-03_load_balancer.png"))

    # chapter 00, by the page's previous link: its monitor snapshot draws the services it ran as boxes
    page.locator(".book-nav a", has_text="← Previous").first.click()
    page.wait_for_url("**/00_welcome.html")
    assert_mermaid_drawn(drawn_mermaid(page), "00_welcome")
    snapshots = [s for s in page.evaluate(SNAPSHOTS) if s["services"]]
    assert snapshots, "00_welcome: no monitor snapshot with a service in it"
    for snap in snapshots:
        assert snap["width"] > 100 and snap["height"] > 50, f"snapshot not drawn: {snap}"
        assert all(s["width"] > 20 and s["height"] > 20 for s in snap["services"]), f"service boxes: {snap}"
    assert any("catalog" in snap["text"] for snap in snapshots), "the service chapter 00 runs is not named"
    page.locator(".microcosm-snapshot svg.microcosm-topology").last.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "book-00_welcome.png"))

    assert requests == [], f"the pages asked the network for: {requests}"
    assert page.console_errors == [], f"errors in the browser console: {page.console_errors}"
