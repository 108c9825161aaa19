"""The notebook's table of what each component becomes in a cluster says what the manifests say."""
from __future__ import annotations

import pytest
from export_schemas import export_to

from microcosm.export.summary import COLUMNS, in_the_cluster
from microcosm.system import SYSTEM


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    return export_to(tmp_path_factory.mktemp("whole"), SYSTEM, formats=["kubernetes"])


def test_the_table_agrees_with_the_manifests(manifests):
    rows = [dict(zip(COLUMNS, row)) for row in in_the_cluster(SYSTEM).rows]
    assert [r["component"] for r in rows] == [c.name for c in SYSTEM.order()]
    workloads = {**manifests.kind("Deployment"), **manifests.kind("StatefulSet")}
    autoscalers, claims = manifests.kind("HorizontalPodAutoscaler"), manifests.kind("PersistentVolumeClaim")
    for row in rows:
        name = row["component"]
        assert row["replicas"] == workloads[name]["spec"]["replicas"], name
        (container,) = workloads[name]["spec"]["template"]["spec"]["containers"]
        memory = container["resources"]
        assert row["memory request / limit"] == (f"{memory['requests']['memory'].removesuffix('Mi')} / "
                                                 f"{memory['limits']['memory'].removesuffix('Mi')} MiB")
        if name in autoscalers:
            spec = autoscalers[name]["spec"]
            assert row["autoscaled"] == f"yes: {spec['minReplicas']} to {spec['maxReplicas']} on CPU"
        else:
            assert row["autoscaled"].startswith("no: "), name
        assert ("volume claim" in row["runs as"]) == (f"{name}-data" in claims), name
    by_name = {r["component"]: r for r in rows}
    assert by_name["zookeeper"]["runs as"] == "StatefulSet, headless Service"
    assert by_name["gateway"]["address in the cluster"] == \
        "http://gateway:8000 (and http://gateway.microcosm.localhost through the Ingress)"
    assert by_name["orders"]["autoscaled"] == "no: keeps data on its volume"
    assert by_name["registry"]["autoscaled"] == "no: its state is in its memory"
    assert "<table>" in in_the_cluster(SYSTEM)._repr_html_()
