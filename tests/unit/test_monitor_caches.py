"""CDN edges in the monitor's model and picture (issue 16): per edge its hit ratio, bytes saved and origin
requests per second, from known hops (the edge's answers client -> cdn with their cache verdict, and the edge's
calls to its origin); calls into an edge say their hit ratio and, when mostly answered from the store, read
unlike calls that went through."""
import re

import pytest

from microcosm.traffic.model import TrafficModel
from microcosm.traffic.render import topology_svg
from microcosm.traffic.render.boxes import size


def answer(i, edge, verdict, ts, nbytes=1000, region="eu", caller="client"):
    """One answer of the edge `edge`, as services/cdn/app.py records it (fields as read back from Redis)."""
    return {"request_id": f"r{edge}{i}", "hop": f"h{edge}{i}", "parent": "", "caller": caller,
            "caller_instance": "", "callee": "cdn", "instance": edge, "method": "GET", "path": f"/products/{i % 3}",
            "status": 200, "ms": 0.3, "ts": ts, "error": "", "cache": verdict, "bytes": str(nbytes),
            "region": region}


def origin_call(i, edge, ts, status=200):
    """The origin's hop of a request the edge made to it (the edge is its caller)."""
    return {"request_id": f"r{edge}{i}", "hop": f"o{edge}{i}", "parent": f"h{edge}{i}", "caller": "cdn",
            "caller_instance": edge, "callee": "catalog", "instance": "catalog-1", "method": "GET",
            "path": f"/products/{i % 3}", "status": status, "ms": 4.0, "ts": ts, "error": ""}


def eu_and_us(model):
    """eu: 10 answers over 5 s, 6 hits, 1 stale, 1 miss, 1 revalidated, 1 pass (3 origin calls); us: 4 misses."""
    verdicts = ["hit"] * 6 + ["stale", "miss", "revalidated", "pass"]
    hops = []
    for i, verdict in enumerate(verdicts):
        ts = 1000 + i / 2
        hops.append(answer(i, "cdn-eu", verdict, ts, nbytes=1000 + i))
        if verdict in ("miss", "revalidated", "pass"):
            hops.append(origin_call(i, "cdn-eu", ts, 304 if verdict == "revalidated" else 200))
    for i in range(4):
        hops += [answer(i, "cdn-us", "miss", 1001 + i, region="us"), origin_call(i, "cdn-us", 1001 + i)]
    model.add(hops, now=1005)


def test_each_edge_has_its_hit_ratio_bytes_saved_and_origin_requests_per_second():
    model = TrafficModel(window=10)
    eu_and_us(model)
    caches = model.caches()
    eu, us = caches["cdn-eu"], caches["cdn-us"]
    assert eu["hit_ratio"] == eu["hit_ratio_all"] == pytest.approx(7 / 9)  # hits + stale / all but the pass
    assert (eu["hit"], eu["stale"], eu["miss"], eu["revalidated"], eu["pass"]) == (6, 1, 1, 1, 1)
    assert eu["bytes_saved"] == sum(1000 + i for i in range(7))  # the six hits and the stale answer
    assert eu["origin_requests"] == 3 and eu["origin_rps"] == 0.6  # 3 calls over the 5 s watched
    assert eu["region"] == "eu" and eu["service"] == "cdn"
    assert us["hit_ratio"] == 0 and us["bytes_saved"] == 0 and us["origin_requests"] == 4 and us["region"] == "us"
    assert model.kinds["cdn"] == "cache" and model.hit_ratio("cdn") == pytest.approx(7 / 13)
    assert model.edge_hit_ratio("client", "cdn") == pytest.approx(7 / 13)


def test_the_hit_ratio_follows_the_window_and_the_totals_stay():
    model = TrafficModel(window=10)
    eu_and_us(model)
    model.add([answer(100 + i, "cdn-eu", "miss", 1020 + i) for i in range(3)], now=1022)  # the old ones left
    eu = model.caches()["cdn-eu"]
    assert eu["hit_ratio"] == 0 and eu["hit_ratio_all"] == pytest.approx(7 / 12)
    assert eu["miss"] == 4 and eu["bytes_saved"] == sum(1000 + i for i in range(7))  # since watching began
    assert eu["origin_rps"] == 0.0 and eu["origin_requests"] == 3
    model.expire(1040)
    assert model.caches()["cdn-eu"]["hit_ratio"] is None and model.hit_ratio("cdn") is None
    assert all(counts[5:] == [0] * 5 for counts in model.cache_counts.values()) and not model.cache_recent


def test_only_the_verdicts_the_edge_gives_are_counted_and_bad_bytes_count_nothing():
    model = TrafficModel(window=10)
    model.add([answer(1, "cdn-eu", "maybe", 1000), answer(2, "cdn-eu", "hit", 1000, nbytes="lots"),
               {**answer(3, "cdn-eu", "hit", 1000), "bytes": "-5"}, answer(4, "cdn-eu", "hit", 1000, nbytes="12.0")],
              now=1001)
    eu = model.caches()["cdn-eu"]
    assert (eu["hit"], eu["miss"], eu["bytes_saved"]) == (3, 0, 12)
    assert model.total == 4  # every hop is traffic all the same


def test_the_edges_rows_say_their_figures_and_the_client_edge_its_hit_ratio():
    model = TrafficModel(window=10)
    eu_and_us(model)
    svg = topology_svg(model)
    row = lambda node: re.search(rf'<g class="mc-row" data-node="{node}".*?</g>', svg, re.S).group(0)
    assert "78% hit" in row("cdn-eu") and "saved 7.0 kB" in row("cdn-eu") and "origin 0.6/s" in row("cdn-eu")
    assert "0% hit" in row("cdn-us") and "saved" not in row("cdn-us") and "origin 0.8/s" in row("cdn-us")
    label = re.search(r"<title>client → cdn</title>(.*?)</text>", svg).group(1)
    assert "54% hit" in label  # 7 of the 13 answers with a verdict, both edges
    assert 'data-kind="cache"' in svg and "hit 54%" in svg  # the box's header: the whole service
    # the edge mostly answered from the store has a halo under its arrow; the one that went through has none
    assert re.search(r'class="mc-cache-halo" data-from="client" data-to="cdn-eu" data-hit="0.78"', svg)
    assert 'data-to="cdn-us" data-hit' not in svg
    assert 'mc-cache-halo" data-from="cdn-' not in svg  # the edge's calls to its origin are plain calls
    assert "teal halo" in svg and "saved: body bytes answered from the store" in svg


def test_a_region_is_written_beside_an_edge_named_without_it():
    model = TrafficModel(window=10)
    model.add([answer(1, "cdn-1", "hit", 1000, region="ap")], now=1001)
    assert "cdn-1 · ap" in topology_svg(model)


def test_no_cache_no_footnote():
    model = TrafficModel(window=10)
    model.add([origin_call(1, "orders-1", 1000)], now=1001)
    svg = topology_svg(model)
    assert "teal halo" not in svg and "mc-cache-halo" not in svg and model.caches() == {}


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (12_345, "12.3 kB"),
                                     (456_000_000, "456 MB"), (2_500_000_000, "2.5 GB")])
def test_sizes_read_in_bytes_kilobytes_megabytes(n, text):
    assert size(n) == text


def test_the_table_under_the_picture_lists_each_edge_with_its_counts():
    from microcosm.traffic.render.caches import cache_table

    model = TrafficModel(window=10)
    assert cache_table(model) == ""
    eu_and_us(model)
    table = cache_table(model)
    row = lambda node: re.search(rf"<tr><td[^>]*>{node}</td>.*?</tr>", table).group(0)
    cells = lambda node: re.findall(r"<td[^>]*>(.*?)</td>", row(node))
    assert cells("cdn-eu") == ["cdn-eu", "eu", "78%", "78%", "6", "1", "1", "1", "1", "7.0 kB", "0.6/s", "3"]
    assert cells("cdn-us") == ["cdn-us", "us", "0%", "0%", "0", "0", "4", "0", "0", "0 B", "0.8/s", "4"]


def test_with_nothing_in_the_window_the_row_says_its_ratio_is_overall():
    from microcosm.traffic.render.caches import cache_table

    model = TrafficModel(window=10)
    eu_and_us(model)
    model.expire(1100)  # the traffic stopped a while ago
    row = re.search(r'<g class="mc-row" data-node="cdn-eu".*?</g>', topology_svg(model), re.S).group(0)
    assert "78% hit overall" in row and "origin 0/s" in row and "saved 7.0 kB" in row
    eu = re.search(r"<tr><td[^>]*>cdn-eu</td>.*?</tr>", cache_table(model)).group(0)
    assert re.findall(r"<td[^>]*>(.*?)</td>", eu)[2:4] == ["–", "78%"]


def test_the_request_inspector_says_what_the_edge_did_with_each_request():
    from microcosm.traffic.render import waterfall

    model = TrafficModel(window=10)
    eu_and_us(model)
    assert "hit, 1.0 kB" in waterfall(model, "rcdn-eu0")
    miss = waterfall(model, "rcdn-eu7")  # the edge's answer, and its call to the origin under it
    assert "miss, 1.0 kB" in miss and "cdn-eu → catalog-1" in miss
