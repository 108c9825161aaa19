"""Chapter 12's side by side: a real nginx (microcosm.runtime.nginx) proxying to real catalog instances, stopped
afterwards; the short measurement gives figures for both proxies; the recorded figures read from RESULTS.md."""
from __future__ import annotations

import pytest
import requests

from microcosm import production
from microcosm.runtime import nginx as nginx_module
from microcosm.runtime import process
from microcosm.testing import gone

needs_nginx = pytest.mark.skipif(not nginx_module.installed(), reason="nginx is not installed (apt-get install nginx-light)")


@needs_nginx
def test_nginx_proxies_to_the_backends_in_turn_and_is_gone_after_stop(launch, tmp_path):
    backends = [launch("catalog", f"nx-catalog-{i}", data_dir=str(tmp_path / str(i))) for i in (1, 2)]
    nginx = nginx_module.Nginx([b.url for b in backends])
    try:
        answers = [requests.get(nginx.url + "/products/1", timeout=5) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 6
        assert answers[0].json()["id"] == 1
        assert all(b.metrics()["routes"]["GET /products/<int:product_id>"]["count"] > 0 for b in backends)  # both used
    finally:
        nginx.stop()
    assert gone(nginx.pid)
    assert not nginx.prefix.exists()


@needs_nginx
@pytest.mark.slow
def test_the_short_side_by_side_measures_both_proxies_and_leaves_nothing_running():
    def ours():
        return {p.name: p.pid for p in process.running() if p.name.startswith("ch12-")}

    figures = production.balancer_vs_nginx(seconds=1, connections=4)
    assert set(figures) == {"nginx", "microcosm balancer"}
    for f in figures.values():
        assert f["requests"] > 0 and f["errors"] == 0
    assert ours() == {}  # stopped and forgotten
    assert "microcosm balancer" in repr(production.side_by_side(figures))


def test_the_recorded_figures_come_from_results_md(tmp_path):
    recorded = production.recorded_balancer_vs_nginx()
    assert recorded["nginx"]["rps"] > 0 and recorded["microcosm balancer"]["p99_ms"] > 0
    assert "Balancer vs nginx" in recorded["source"]
    (tmp_path / "RESULTS.md").write_text("# nothing measured here\n")
    with pytest.raises(ValueError, match="no 'Balancer vs nginx' figures"):
        production.recorded_balancer_vs_nginx(tmp_path / "RESULTS.md")


@needs_nginx
@pytest.mark.slow
def test_the_edge_side_by_side_loads_origin_and_both_caches_with_hits_and_leaves_nothing_running():
    figures = production.edge_vs_nginx(seconds=1, connections=4)
    assert set(figures) == {"origin direct", "nginx proxy_cache", "microcosm edge"}
    for f in figures.values():
        assert f["requests"] > 0 and f["errors"] == 0
    assert not [p for p in process.running() if p.name.startswith("ch12-")]
    assert "nginx proxy_cache" in repr(production.side_by_side(figures, "nginx proxy_cache"))


def test_the_recorded_edge_figures_come_from_results_md(tmp_path):
    recorded = production.recorded_edge_vs_nginx()
    assert set(recorded) == {"origin direct", "nginx proxy_cache", "microcosm edge", "source"}
    assert all(recorded[k]["rps"] > 0 for k in ("origin direct", "nginx proxy_cache", "microcosm edge"))
    (tmp_path / "RESULTS.md").write_text("| origin direct (catalog) | 745 | 0.03 | 1.00 | 19.44 | 84.44 | 6.44 | 544 |\n")
    with pytest.raises(ValueError, match="no row 'nginx proxy_cache, hits'"):
        production.recorded_edge_vs_nginx(tmp_path / "RESULTS.md")
