"""A browser test without Chromium is skipped on a learner's machine and FAILS in CI (CI=true).

The browser suite's own `chromium_page` fixture (tests/browser/conftest.py) is run in a pytest of its own,
pointed at a Chromium path that does not exist, once without CI and once with it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BROWSER_CONFTEST = Path(__file__).resolve().parents[1] / "browser" / "conftest.py"

CONFTEST = f"""
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("browser_conftest", {str(BROWSER_CONFTEST)!r})
browser = sys.modules["browser_conftest"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browser)
browser.CHROMIUM = "/nonexistent/chromium"  # as on a machine where the set-up could not install it
chromium_page = browser.chromium_page
"""
TEST = "def test_needs_a_browser(chromium_page):\n    pass\n"


def run_without_chromium(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_page.py").write_text(TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the fixture needs no plugin, and loading them all takes seconds
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", [None, "false"])
def test_without_ci_a_missing_chromium_skips_the_browser_test(tmp_path, ci):
    run = run_without_chromium(tmp_path, ci)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("1 skipped") and "/nonexistent/chromium is missing" in run.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_chromium_fails_the_browser_test(tmp_path, ci):
    run = run_without_chromium(tmp_path, ci)
    assert run.returncode == 1, run.stdout + run.stderr
    # pytest.fail in a fixture is reported as an error of the test: the run fails either way
    summary = run.stdout.strip().splitlines()[-1]
    assert "1 error" in summary and "skipped" not in summary
    assert "/nonexistent/chromium is missing" in run.stdout and f"CI is set (CI={ci})" in run.stdout
