"""The set-up files agree with each other: pyproject.toml, environment.yml (root and binder/), binder/,
the Makefile, .ci/run and the README. Each test names one promise the repository makes."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]

# conda-forge names that differ from the PyPI name of the same package
CONDA_TO_PIP = {"redis-py": "redis"}
NOT_PACKAGES = {"python", "pip"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def canonical(name: str) -> str:
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_TO_PIP.get(name, name)


def split(requirement: str) -> tuple[str, str]:
    """'Flask >= 3.0' -> ('flask', '>=3.0')."""
    match = REQUIREMENT.match(requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    return canonical(match.group(1)), re.sub(r"\s+", "", match.group(2))


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])
    return dict(split(r) for r in listed)


def environment_requirements(path: Path = ROOT / "environment.yml") -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    found = {}
    for entry in env["dependencies"]:
        entries = entry["pip"] if isinstance(entry, dict) else [entry]
        for requirement in entries:
            if requirement.startswith("-") or requirement in (".", "./"):
                continue  # pip options such as `-e .`
            name, spec = split(requirement)
            if name not in NOT_PACKAGES:
                found[name] = spec
    return found


# --- conda / Binder ---------------------------------------------------------------------------------
def test_binder_environment_is_the_root_environment():
    # repo2docker reads only binder/ when it exists, so the two files must not drift apart
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()


def test_environment_yml_names_every_pyproject_dependency_and_nothing_else():
    pyproject, conda = set(pyproject_requirements()), set(environment_requirements())
    assert pyproject - conda == set(), "in pyproject.toml but not in environment.yml"
    assert conda - pyproject == set(), "in environment.yml but not in pyproject.toml"


def test_environment_yml_asks_for_the_same_versions_as_pyproject():
    pyproject, conda = pyproject_requirements(), environment_requirements()
    differ = {name: (pyproject[name], conda[name]) for name in pyproject
              if name in conda and conda[name] and conda[name] != pyproject[name]}
    assert differ == {}, "version bounds differ (pyproject, environment.yml)"


def test_environment_yml_uses_conda_forge_python_311_and_jupyter_server_proxy():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]
    assert "pip" in env["dependencies"]
    # on Binder a browser reaches a service only through <prefix>/proxy/<port>/
    assert "jupyter-server-proxy" in environment_requirements()


def test_requirement_names_are_normalised_across_pip_and_conda():
    assert split("redis-py>=5.0") == ("redis", ">=5.0")
    assert split("Jupyter_Server.Proxy >= 4.1") == ("jupyter-server-proxy", ">=4.1")
    assert split("pytest[testing]>=8; python_version>'3.9'") == ("pytest", ">=8")


def test_binder_apt_txt_installs_redis_zookeeper_and_java():
    packages = (ROOT / "binder" / "apt.txt").read_text().split()
    assert {"redis-server", "zookeeper", "default-jre-headless"} <= set(packages)


def test_binder_postbuild_stops_on_error_and_installs_the_package_without_apt():
    text = (ROOT / "binder" / "postBuild").read_text()
    assert text.startswith("#!/bin/bash")
    assert re.search(r"^set -e", text, re.M)
    assert re.search(r"pip install .*-e \.", text)
    assert not re.search(r"\bapt(-get)?\s+install", text)  # it runs as the notebook user: no apt
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)


def test_binder_start_exports_both_servers_and_ends_with_exec():
    text = (ROOT / "binder" / "start").read_text()
    assert text.startswith("#!/bin/bash")
    assert [line for line in text.splitlines() if line.strip()][-1] == 'exec "$@"'
    assert "MICROCOSM_REDIS_URL" in text and "MICROCOSM_ZK_HOSTS" in text
    assert "set -e" not in text  # a server that fails to start must not end the session
    assert "admin.enableServer=false" in text and "-Xmx64m" in text
    assert os.access(ROOT / "binder" / "start", os.X_OK)


# --- the two commands -------------------------------------------------------------------------------
def last_line(path: Path) -> str:
    return [line for line in path.read_text().splitlines() if line.strip()][-1].strip()


def test_ci_runs_a_command_the_readme_shows():
    command = last_line(ROOT / ".ci" / "run")
    assert command == "make test"
    assert re.search(rf"^\s*(\$ )?{re.escape(command)}\s*$", (ROOT / "README.md").read_text(), re.M)
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_shows_the_two_commands_and_the_binder_link():
    readme = (ROOT / "README.md").read_text()
    for command in ("make lab", "make test"):
        assert re.search(rf"^\s*{command}\s*$", readme, re.M), command
    assert "mybinder.org/v2/gh/" in readme and "urlpath=lab/tree/notebooks" in readme


def test_readme_maps_every_notebook_that_exists():
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert notebook.stem in readme, f"{notebook.name} is missing from the README's map"


@pytest.mark.parametrize("script", ["scripts/setup.sh", "binder/start", "binder/postBuild", ".ci/run"])
def test_shell_scripts_parse(script):
    assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_setup_script_is_strict_and_skips_pip_when_nothing_changed():
    text = (ROOT / "scripts" / "setup.sh").read_text()
    assert "set -euo pipefail" in text
    assert ".setup-done" in text and "pyproject.toml" in text
    assert "--no-install-recommends" in text


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
@pytest.mark.parametrize("target, expected", [
    ("lab", r"\.venv/bin/jupyter lab .*default_url=/lab/tree/notebooks"),
    ("test", r"\.venv/bin/python -m pytest"),
    ("labs", r"\.venv/bin/python -m microcosm\.labs generate"),
])
def test_make_targets_set_up_first_then_run(target, expected):
    # `make -n` prints what would run without running it
    result = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "scripts/setup.sh" in lines[0]
    assert re.search(expected, "\n".join(lines[1:])), result.stdout


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_lab_passes_jupyter_args_through():
    result = subprocess.run(["make", "-n", "--no-print-directory", "lab"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "JUPYTER_ARGS": "--no-browser --port=0"})
    assert "--no-browser --port=0" in result.stdout
