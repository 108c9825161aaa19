"""The chaos panel in a real JupyterLab and a real Chromium (issue 17): its buttons, clicked in the page, freeze
and thaw a real catalog process; the log says so; "end experiment" writes the verdict; the scorecard with its
error budget bar is drawn from a live load. The screenshot is left in test-artifacts/jupyterlab-chaos-panel.png.
"""
import json
import re
from pathlib import Path

import pytest

from microcosm.testing import process_state
from test_jupyterlab_renders_monitor import NOTEBOOK_STATE, OPEN_TIMEOUT, RUN_TIMEOUT, finished, poll, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(480)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "jupyterlab-chaos-panel.png"
NOTEBOOK = "chaos_panel.ipynb"
CELLS = [
    "import microcosm\n"
    "from microcosm.chaos import Shoppers\n"
    "from microcosm.chaos.panel import chaos_panel\n"
    "catalog = microcosm.launch('catalog', 'chaos-browser-catalog', traffic=False)\n"
    "shoppers = Shoppers(catalog, users=1, checkout_every=0, timeout=0.5).start()",
    "open('catalog.pid', 'w').write(str(catalog.pid))\n"
    "panel = chaos_panel([catalog], shoppers=shoppers, refresh=0.5)\n"
    "panel",
]


def write_notebook(path: Path) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}},
          "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": source} for i, source in enumerate(CELLS)]}
    path.write_text(json.dumps(nb, indent=1) + "\n")


def test_the_chaos_panel_buttons_act_on_a_real_process_from_the_page(chromium_page, jupyterlab):
    page = chromium_page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    write_notebook(jupyterlab.root / NOTEBOOK)
    try:
        page.goto(jupyterlab.page_url(f"lab/tree/{NOTEBOOK}?reset"), timeout=OPEN_TIMEOUT * 1000)
        state = lambda: page.evaluate(NOTEBOOK_STATE, NOTEBOOK)
        poll(state, lambda s: s and s["ready"] and s["kernel"] == "idle", OPEN_TIMEOUT,
             f"{NOTEBOOK} did not open with an idle kernel")
        run_all_cells(page)
        poll(state, lambda s: s and (s["kernel"] != "idle" or any(c["count"] is not None for c in s["cells"])),
             RUN_TIMEOUT, "Run All Cells did not start")
        final = poll(state, finished, RUN_TIMEOUT, "the notebook did not finish running")
        assert not [e for c in final["cells"] for e in c["errors"]], final
        pid = int((jupyterlab.root / "catalog.pid").read_text())

        panel = page.locator(".jp-OutputArea-output .microcosm-chaos-panel")
        panel.first.wait_for(state="visible", timeout=30_000)
        log = panel.locator("pre")
        panel.locator("button", has_text=re.compile(r"^pause$")).click()
        log.filter(has_text="pause chaos-browser-catalog").wait_for(timeout=20_000)
        assert process_state(pid) == "T"
        # the shopper's requests time out (0.5 s) while it is frozen: the live scorecard counts them
        card = panel.locator(".microcosm-scorecard")
        card.filter(has_text=re.compile(r"[1-9]\d* of \d+ failed")).wait_for(timeout=30_000)
        panel.locator("option", has_text="chaos-browser-catalog (paused)").wait_for(state="attached", timeout=20_000)
        panel.locator("button", has_text="end experiment").click()
        log.filter(has_text="put back: pause chaos-browser-catalog").wait_for(timeout=20_000)
        assert process_state(pid) in ("S", "R")
        text = log.first.text_content()
        assert "experiment 1: predicted availability holds, p99 holds" in text
        assert "availability: predicted met, was missed ✘ not as predicted" in text  # a timeout spends the budget
        assert re.search(r"experiment 1: [01] of 2 predictions right", text)
        bar = panel.locator(".microcosm-budget svg rect.left")
        bar.first.wait_for(state="attached", timeout=20_000)
        assert "failures allowed" in panel.locator(".microcosm-budget").first.text_content()
        assert panel.locator(".microcosm-scorecard td", has_text="availability").count() == 1
    except BaseException:
        shown = page.locator(".microcosm-chaos-panel")
        print("the panel showed:\n" + (shown.first.inner_text() if shown.count() else "(no panel)"))
        print("browser console errors:", *page.console_errors[-20:], sep="\n  ")
        print("JupyterLab log (last lines):\n" + jupyterlab.log_tail())
        raise
    finally:
        page.screenshot(path=str(SCREENSHOT))
