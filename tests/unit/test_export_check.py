"""microcosm.export.check.verdict, which chapter 12 shows: every file export() wrote read back and validated, and
a file broken on disk named in its errors (so the chapter's "valid" can say no)."""
from __future__ import annotations

import pytest
import yaml
from export_schemas import no_network  # noqa: F401 - a fixture

import microcosm
from microcosm.export import check
from microcosm.system import Component, Topology, url, urls

SMALL = Topology(Component("redis"), Component("catalog", count=2),
                 Component("catalog-lb", "balancer", upstream="catalog", backends=urls("catalog")),
                 Component("gateway", upstreams={"catalog": url("catalog-lb")}, rate_limit=False))


@pytest.fixture
def written(tmp_path):
    return microcosm.export(SMALL, folder=tmp_path)


def test_what_export_writes_is_valid_every_file_counted(written, no_network):
    found = check.verdict(written)
    documents = sum(1 for p in written["kubernetes"] for d in yaml.safe_load_all(p.read_text()) if d)
    assert found == {"compose": (1, []), "kubernetes": (documents, [])}
    assert documents > 8


def test_a_deployment_broken_on_disk_is_named(written, no_network):
    path = next(p for p in written["kubernetes"] if p.name == "catalog.yaml")
    path.write_text(path.read_text().replace("replicas: 2", "replicas: two"))
    n, errors = check.verdict(written)["kubernetes"]
    assert len(errors) == 1 and errors[0].startswith("Deployment catalog: spec/replicas")


def test_a_compose_file_broken_on_disk_is_named(written, no_network):
    path = next(p for p in written["compose"] if p.name == "compose.yaml")
    compose = yaml.safe_load(path.read_text())
    compose["services"]["catalog"]["restart_policy"] = "always"  # not a Compose key (restart is)
    path.write_text(yaml.safe_dump(compose))
    _, errors = check.verdict(written)["compose"]
    assert errors and any("restart_policy" in e for e in errors)
