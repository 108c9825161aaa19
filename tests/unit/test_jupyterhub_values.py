"""deploy/jupyterhub/: Zero to JupyterHub values for a class, valid for the chart (4.4.0's values.schema.json, over
the chart's defaults, as helm checks them), current with the measured figures they are sized from."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from microcosm.export import check, footprint, jupyterhub
from microcosm.system import SYSTEM

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def test_the_values_file_is_valid_for_the_zero_to_jupyterhub_chart(values):
    assert check.hub_values_errors(values) == []


@pytest.mark.parametrize("broken, expected", [
    ({"singleuser": {"memmory": {"guarantee": "1G"}}}, "'memmory' was unexpected"),  # a misspelt key
    ({"singleuser": {"cpu": {"limit": "2 cores"}}}, "singleuser.cpu.limit"),          # a number expected
    ({"singleuser": {"image": {"name": "x", "tag": 3}}}, "singleuser.image.tag"),
    ({"hub": {"nbgrader": True}}, "'nbgrader' was unexpected"),                        # no such chart option
])
def test_the_check_refuses_what_the_chart_would(broken, expected):
    errors = check.hub_values_errors(broken)
    assert any(expected in e for e in errors), errors


def test_the_committed_file_is_what_the_generator_writes_from_the_measured_figures(tmp_path):
    jupyterhub.main([str(tmp_path / "values.yaml")])
    for name in ("values.yaml", "nbgrader-exchange.yaml"):
        assert (DEPLOY / name).read_text() == (tmp_path / name).read_text(), "run python -m microcosm.export.jupyterhub"


def test_each_learner_gets_at_least_the_measured_system_and_jupyterlab(values):
    measured_mb = sum(footprint.RSS_MB[c.service] * c.count for c in SYSTEM) + jupyterhub.JUPYTERLAB[
        "server_and_kernel_mb"]
    memory = values["singleuser"]["memory"]
    guarantee, limit = (int(memory[k].removesuffix("M")) * 2**20 for k in ("guarantee", "limit"))
    assert measured_mb * 1e6 * 1.25 <= guarantee < measured_mb * 1e6 * 1.25 + 128 * 2**20
    assert limit == 2 * guarantee
    assert values["singleuser"]["cpu"] == {"guarantee": 0.5, "limit": 2}


def test_nbgrader_exchange_is_a_shared_volume_every_server_mounts(values):
    claim = yaml.safe_load((DEPLOY / "nbgrader-exchange.yaml").read_text())
    assert check.kubernetes_errors(claim) == []
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    storage = values["singleuser"]["storage"]
    assert storage["extraVolumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (mount,) = storage["extraVolumeMounts"]
    config = values["singleuser"]["extraFiles"]["nbgrader-config"]
    assert f'c.Exchange.root = "{mount["mountPath"]}"' in config["stringData"]
    assert config["mountPath"] == "/etc/jupyter/nbgrader_config.py"


def test_the_image_holds_what_the_values_start(values):
    """The server starts through binder/start (Redis and ZooKeeper for the session) in the checkout the
    Dockerfile copies, and the Dockerfile installs what the workbook needs."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    start, server = values["singleuser"]["cmd"]
    assert start == f"{jupyterhub.HOME}/binder/start" and server == "jupyterhub-singleuser"
    assert (DEPLOY.parents[1] / "binder" / "start").exists()
    assert f"COPY --chown=${{NB_UID}}:${{NB_GID}} . {jupyterhub.HOME}" in dockerfile
    for program in ("redis-server", "zookeeper", "default-jre-headless", "chromium"):
        assert program in dockerfile
    assert f'pip install --no-cache-dir -e "{jupyterhub.HOME}[dev]"' in dockerfile
