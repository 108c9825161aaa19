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
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

KUBERNETES = "1.33"  # a release the package ships schemas for; the tests also check the oldest and newest it has
KUBERNETES_RELEASES = ("1.29", KUBERNETES, kubernetes_validate.utils.latest_version())


def compose_schema() -> dict:
    return json.loads((resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())


def compose_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(compose_schema(), format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(document)]


def kubernetes_errors(resource: dict, release: str = KUBERNETES) -> list[str]:
    try:
        kubernetes_validate.validate(resource, release, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(map(str, error.absolute_path))
        return [f"{resource.get('kind')} {resource.get('metadata', {}).get('name')}: {where}: {error.message}"]
    return []


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
