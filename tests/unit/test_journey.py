"""microcosm/clients/journey.py without a browser: where Chromium is missing, a journey says so in words (and the
install command) before it starts anything. The journey itself runs in tests/browser/test_web_shop.py."""
from __future__ import annotations

import pytest

from microcosm.clients import journey


def test_a_missing_chromium_is_said_with_the_command_that_installs_it(monkeypatch, tmp_path):
    monkeypatch.setattr(journey, "CHROMIUM", str(tmp_path / "no-chromium-here"))
    assert "apt-get install chromium" in journey.missing()
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        journey.run("http://127.0.0.1:9", "ada", "a password")


def test_a_file_that_is_not_executable_is_not_a_browser(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("not a program")
    monkeypatch.setattr(journey, "CHROMIUM", str(fake))
    assert journey.missing() is not None


def test_another_path_can_be_asked_about(tmp_path):
    assert journey.missing(str(tmp_path / "elsewhere")).startswith(str(tmp_path / "elsewhere") + " is missing")
