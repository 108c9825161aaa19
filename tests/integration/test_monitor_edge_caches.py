"""CDN edges in the live monitor (issue 16), fed by real processes through real Redis: two edges (regions) in
front of a real catalog, traffic through them, and the monitor's model and picture showing each edge's hit ratio,
bytes saved and origin requests per second, the same figures the edges count themselves (GET /metrics)."""
import re
import uuid

import pytest
import requests

from microcosm.testing import wait_until
from microcosm.traffic.monitor import Monitor


@pytest.fixture
def two_edges(launch):
    tag = uuid.uuid4().hex[:6]
    catalog = launch("catalog", f"catalog-{tag}", max_age=300)  # nothing goes stale while the test runs
    eu = launch("cdn", f"cdn-eu-{tag}", origin=catalog.url, region="eu")
    us = launch("cdn", f"cdn-us-{tag}", origin=catalog.url, region="us", origin_delay_ms=30)
    return catalog, eu, us


def test_each_edge_shows_the_hit_ratio_bytes_saved_and_origin_rate_it_counts_itself(two_edges, redis_server):
    catalog, eu, us = two_edges
    monitor = Monitor(redis_server.client(decode_responses=False), live=False, window=30)
    with requests.Session() as session:  # kept alive: hits come from the edge's fast path, recorded the same way
        for _ in range(10):
            for product in (1, 2, 3):
                assert session.get(f"{eu.url}/products/{product}", timeout=5).status_code == 200
        for _ in range(2):  # a Range request is passed through: it asks no cache, and reaches the origin
            answer = session.get(f"{eu.url}/products/1", headers={"Range": "bytes=0-3"}, timeout=5)
            assert answer.status_code == 200 and answer.headers["X-Cache"] == "MISS"  # (passed through: never a HIT)
        for _ in range(2):
            for product in (1, 2, 3):
                assert session.get(f"{us.url}/products/{product}", timeout=5).status_code == 200
    own = {edge.name: edge.get("/metrics").json()["cache"] for edge in (eu, us)}
    assert (own[eu.name]["hits"], own[eu.name]["misses"], own[eu.name]["passed"]) == (27, 3, 2), own
    assert (own[us.name]["hits"], own[us.name]["misses"]) == (3, 3), own

    def seen():
        monitor.refresh()
        return monitor.model.caches()

    complete = lambda c: all(e.name in c and c[e.name]["origin_requests"] == own[e.name]["origin_requests"]
                             and sum(c[e.name][v] for v in ("hit", "miss", "pass")) == 32 - 26 * (e is us)
                             for e in (eu, us))
    assert wait_until(lambda: complete(seen())), (monitor.model.caches(), own)
    caches = monitor.model.caches()
    for edge in (eu, us):  # the monitor's figures are the edge's own
        mine, theirs = caches[edge.name], own[edge.name]
        assert (mine["hit"], mine["miss"], mine["pass"]) == (theirs["hits"], theirs["misses"], theirs["passed"])
        assert round(mine["hit_ratio"], 4) == round(mine["hit_ratio_all"], 4) == theirs["hit_ratio"]
        assert mine["bytes_saved"] == theirs["bytes_from_store"] > 0
        assert mine["origin_requests"] == theirs["origin_requests"] and mine["origin_rps"] > 0
        assert mine["service"] == "cdn"
    assert caches[eu.name]["hit_ratio"] == 0.9 and caches[us.name]["hit_ratio"] == 0.5
    assert (caches[eu.name]["region"], caches[us.name]["region"]) == ("eu", "us")
    assert caches[eu.name]["origin_requests"] == 5  # 3 misses and 2 passes
    # the origin's side of it: the catalog saw exactly those calls, with each edge as their caller
    edges = {(e["from"], e["to"]): e["count"] for e in monitor.model.edges()}
    assert edges[(eu.name, catalog.name)] == 5 and edges[(us.name, catalog.name)] == 3
    assert edges[("client", eu.name)] == 32 and edges[("client", us.name)] == 6

    # what a notebook shows: each edge's row with its figures, the client's calls with their hit ratio
    html = monitor.snapshot_html()
    row = lambda node: re.search(rf'<g class="mc-row" data-node="{node}".*?</g>', html, re.S).group(0)
    assert "90% hit" in row(eu.name) and "saved " in row(eu.name) and "origin " in row(eu.name)
    assert "50% hit" in row(us.name) and "saved " in row(us.name)
    assert re.search(r"<title>client → cdn</title>.*?\d+% hit", html)
    assert f'class="mc-cache-halo" data-from="client" data-to="{eu.name}"' in html
    assert f'data-to="{us.name}" data-hit' not in html  # half from the store: not "mostly"
    # and the table under it, one row per edge
    cells = re.findall(r"<td[^>]*>(.*?)</td>", re.search(rf"<tr><td[^>]*>{eu.name}</td>.*?</tr>", html).group(0))
    assert cells[1:9] == ["eu", "90%", "90%", "27", "0", "3", "0", "2"] and cells[-1] == "5", cells
    assert "Edge caches" in monitor.stats.value


def test_a_revalidation_counts_as_an_origin_request_and_not_as_a_hit(launch, redis_server):
    """A product read kept 3 s (time for a HIT on a busy machine; the Date header's whole seconds count): after it goes stale the edge asks the catalog "still this one?" (If-None-Match),
    gets a 304, and answers REVALIDATED. The monitor counts it among the answers with a verdict (not a hit) and
    its 304 from the catalog as an origin request."""
    tag = uuid.uuid4().hex[:6]
    catalog = launch("catalog", f"catalog-{tag}", max_age=3)
    edge = launch("cdn", f"cdn-{tag}", origin=catalog.url, region="eu")
    monitor = Monitor(redis_server.client(decode_responses=False), live=False, window=60)
    url = f"{edge.url}/products/2"
    assert [requests.get(url, timeout=5).headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert wait_until(lambda: requests.get(url, timeout=5).headers["X-Cache"] == "REVALIDATED", every=0.3)
    own = edge.get("/metrics").json()["cache"]

    def seen():
        monitor.refresh()
        return monitor.model.caches().get(edge.name, {}).get("origin_requests") == own["origin_requests"] and \
            sum(monitor.model.caches()[edge.name][v] for v in ("hit", "miss", "revalidated")) == \
            own["hits"] + own["misses"] + own["revalidated"]

    assert wait_until(seen), (monitor.model.caches(), own)
    mine = monitor.model.caches()[edge.name]
    assert mine["revalidated"] == own["revalidated"] >= 1 and mine["hit"] == own["hits"]
    assert round(mine["hit_ratio"], 4) == own["hit_ratio"] < 1
    assert monitor.model.classes_between("cdn", "catalog").get("3xx", 0) == own["revalidated"]  # the 304s
