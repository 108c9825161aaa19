"""The official schemas the exported files are checked against, offline, and an export to check.

- Compose: the compose-spec JSON schema (compose-spec/compose-spec's schema/compose-spec.json) as the PyPI package
  check-jsonschema ships it (builtin_schemas/vendor/compose-spec.json), checked with jsonschema.
- Kubernetes: the JSON schemas of the Kubernetes API that the PyPI package kubernetes-validate ships for each
  release, checked strictly (a field the API does not know is an error).
Neither needs the network: `no_network` makes any connection attempt fail, so a check that tried would fail.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import kubernetes_validate.utils
import pytest
import yaml

from microcosm.export.check import KUBERNETES, compose_errors, kubernetes_errors  # noqa: F401 - the checks, shared with chapter 12

# KUBERNETES: a release the package ships schemas for; the tests also check the oldest and newest it has
KUBERNETES_RELEASES = ("1.29", KUBERNETES, kubernetes_validate.utils.latest_version())


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to connect anywhere fails the test: the schemas are checked offline."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted during an offline check: {args!r:.200}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


class Exported:
    """What export() wrote into a folder, read back as data."""

    def __init__(self, folder: Path, written: dict):
        self.folder, self.written = folder, written

    @property
    def compose(self) -> dict:
        return yaml.safe_load((self.folder / "compose.yaml").read_text())

    def kubernetes(self) -> list[dict]:
        return [doc for path in self.written["kubernetes"] for doc in yaml.safe_load_all(path.read_text())]

    def kind(self, kind: str) -> dict[str, dict]:
        return {r["metadata"]["name"]: r for r in self.kubernetes() if r["kind"] == kind}

    def config(self, component: str) -> dict:
        """A component's launch options, as its ConfigMap gives them."""
        return json.loads(self.kind("ConfigMap")[f"{component}-config"]["data"]["config.json"])


def export_to(folder: Path, topology=None, **options) -> Exported:
    import microcosm

    return Exported(folder, microcosm.export(topology, folder=folder, **options))
