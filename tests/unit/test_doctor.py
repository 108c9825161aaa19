"""The environment check: it finds what is here, and says how to install what is not."""
import os
import shutil

import pytest

import microcosm
from microcosm.runtime import doctor
from microcosm.runtime.infra import install_hint


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """A PATH with no programs on it, except the package manager (so the hints can name it)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    apt = shutil.which("apt-get")
    if apt:
        (folder / "apt-get").symlink_to(apt)
    for name in ("MICROCOSM_REDIS_URL", "MICROCOSM_ZK_HOSTS", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_exported_from_the_package():
    assert microcosm.check_environment is doctor.check_environment
    assert "check_environment" in microcosm.__all__


def test_missing_redis_fails_and_names_the_install_command(bare_path):
    report = microcosm.check_environment()
    redis = report["Redis"]
    assert redis.status == doctor.FAIL and redis.symbol == "✗"
    assert "redis-server" in redis.detail
    assert redis.todo == install_hint("redis")
    if (bare_path / "apt-get").exists():
        assert "apt-get install -y redis-server" in redis.todo
    assert report["Java"].status == doctor.FAIL and report["Java"].todo == install_hint("java")
    assert not report.ok
    assert "Redis" in report.summary()
    # the command is what a learner sees, in both forms
    assert install_hint("redis") in repr(report)
    assert "✗" in report._repr_html_() and "redis-server" in report._repr_html_()


def test_a_missing_optional_part_only_warns(bare_path, monkeypatch):
    monkeypatch.setattr(doctor, "CHECKS", (doctor.check_python, doctor.check_chromium))
    report = doctor.check_environment()
    chromium = report["Chromium"]
    assert chromium.status == doctor.WARN and chromium.symbol == "!" and not chromium.required
    assert chromium.todo
    assert report.ok  # optional parts do not make the environment unusable


def test_a_broken_check_is_reported_not_raised(monkeypatch):
    def check_boom():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (doctor.check_python, check_boom))
    report = doctor.check_environment()
    assert report["boom"].status == doctor.FAIL and "boom" in report["boom"].detail
    assert not report.ok


def test_run_folder_that_cannot_be_written_fails(tmp_path, monkeypatch):
    def unwritable():
        raise PermissionError(13, "Permission denied", str(tmp_path / "nope"))

    monkeypatch.setattr(doctor.paths, "run_dir", unwritable)
    check = doctor.check_run_folder()
    assert check.status == doctor.FAIL and "Permission denied" in check.detail
    assert "MICROCOSM_RUN_DIR" in check.todo


def test_versions_are_parsed():
    assert doctor._version("Redis server v=7.0.15 sha=0", r"v=(\d+\.\d+(?:\.\d+)?)") == (7, 0, 15)
    assert doctor._version('openjdk version "17.0.15" 2025-04-15', r'version "([\d._]+)') == (17, 0, 15)
    assert doctor._version('java version "1.8.0_392"', r'version "([\d._]+)') == (1, 8, 0, 392)


def test_this_machine_passes_and_shows_a_table():
    """The set-up (make lab / make test) installs every required part, so here everything required is fine."""
    report = microcosm.check_environment()
    assert [c.name for c in report] == ["Python", "Redis", "Java", "ZooKeeper", "free loopback port",
                                        "run folder", "ipywidgets", "Chromium"]
    assert report.ok, repr(report)
    html = report._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == len(report) + 1 and "✓" in html
    text = repr(report)
    assert text.splitlines()[0].split() == ["check", "status", "detail", "what", "to", "do"]
    assert os.path.basename(report["Redis"].detail.split()[0]) == "redis-server"
