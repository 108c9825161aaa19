"""Notebook 00 in a real JupyterLab 4 and a real browser: every cell runs cleanly and the live traffic monitor
renders as a widget (the topology SVG with the catalog service in it), not just as the static fallback.

The screenshot is left in test-artifacts/jupyterlab-00_welcome.png (also when the test fails, to see why).
"""
import re
import time
from pathlib import Path

import pytest

# the waits below are generous deadlines (a loaded 2-core machine), not expectations: it takes 10-20 s
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(480)]

NOTEBOOK = "notebooks/00_welcome.ipynb"
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "jupyterlab-00_welcome.png"
OPEN_TIMEOUT = 120   # s: JupyterLab's page, the notebook and its kernel, on a loaded 2-core machine
RUN_TIMEOUT = 120    # s: every cell of the notebook

# The open notebook as JupyterLab's own model sees it (window.jupyterapp: --LabApp.expose_app_in_browser).
NOTEBOOK_STATE = """(path) => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path || !panel.content.model) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  const model = panel.content.model;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type !== 'code') continue;
    cells.push({
      count: cell.executionCount,
      running: cell.executionState === 'running',
      errors: cell.outputs.toJSON().filter(o => o.output_type === 'error')
                  .map(o => o.ename + ': ' + o.evalue),
    });
  }
  return {ready: panel.context.isReady && panel.sessionContext.isReady,
          kernel: kernel ? kernel.status : null, cells};
}"""


def poll(what, until, timeout, describe):
    """Call `what()` until `until(value)` holds; fail after `timeout` seconds saying what was last seen."""
    deadline = time.monotonic() + timeout
    value = what()
    while not until(value):
        if time.monotonic() > deadline:
            pytest.fail(f"{describe} within {timeout} s; last seen: {value!r}")
        time.sleep(0.25)
        value = what()
    return value


def finished(state) -> bool:
    if not state or state["kernel"] != "idle":
        return False
    cells = state["cells"]
    if any(c["running"] for c in cells):
        return False
    # Run All stops at the first error: then the rest never gets an execution count
    return all(c["count"] is not None for c in cells) or any(c["errors"] for c in cells)


def run_all_cells(page):
    """Run → Run All Cells, from the menu bar, the way a learner does it."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item:visible", has_text=re.compile(r"^Run All Cells")).click()


def test_notebook_00_runs_and_renders_the_live_monitor(chromium_page, jupyterlab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = chromium_page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    try:
        page.goto(jupyterlab.page_url(f"lab/tree/{NOTEBOOK}?reset"), timeout=OPEN_TIMEOUT * 1000)
        state = lambda: page.evaluate(NOTEBOOK_STATE, NOTEBOOK)
        poll(state, lambda s: s and s["ready"] and s["kernel"] == "idle", OPEN_TIMEOUT,
             f"{NOTEBOOK} did not open with an idle kernel")

        run_all_cells(page)
        # first wait for the run to start (cells get counts), then for it to end
        poll(state, lambda s: s and (s["kernel"] != "idle" or any(c["count"] is not None for c in s["cells"])),
             RUN_TIMEOUT, "Run All Cells did not start")
        final = poll(state, finished, RUN_TIMEOUT, "the notebook did not finish running")

        errors = [e for c in final["cells"] for e in c["errors"]]
        assert not errors, f"cells raised in the browser: {errors}"
        assert all(c["count"] is not None for c in final["cells"]), final
        tracebacks = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                                  has_text="Traceback")
        assert tracebacks.count() == 0, tracebacks.all_inner_texts()
        broken = page.locator(".jp-OutputArea-output", has_text="Error displaying widget")
        assert broken.count() == 0, broken.all_inner_texts()

        # the widget view (not the static snapshot): the monitor's box holding the live topology
        monitor = page.locator(".jp-OutputArea-output .microcosm-monitor")
        topology = monitor.locator("svg.microcosm-topology", has_text="catalog")
        try:
            topology.first.wait_for(state="attached", timeout=30_000)
        except PlaywrightTimeout:
            pytest.fail(f"no live monitor widget with the catalog in its topology: {monitor.count()} "
                        f".microcosm-monitor, {page.locator('.microcosm-snapshot').count()} static snapshots, "
                        f"outputs: {page.locator('.jp-OutputArea-output').all_inner_texts()[:12]}")
        assert monitor.count() == 1
        monitor.first.scroll_into_view_if_needed()
        topology.first.wait_for(state="visible", timeout=30_000)
        assert "catalog" in topology.first.text_content()
        # it saw the notebook's requests: the client node and its arrow to catalog are drawn, and the
        # latency table counts them (monitor.stop() waits for the hops still on their way)
        assert "client" in topology.first.text_content()
        assert "No requests in the last" not in monitor.first.text_content()
    except BaseException:
        # shown by pytest with the failure: what the browser and the server said
        print("browser console errors:", *page.console_errors[-20:], sep="\n  ")
        print("JupyterLab log (last lines):\n" + jupyterlab.log_tail())
        raise
    finally:
        page.screenshot(path=str(SCREENSHOT))
