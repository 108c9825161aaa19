"""Chapter 10's edges in the live monitor, drawn in a real Chromium (issue 16; issue 17: cache hits must read
unlike calls that went through, and unlike asynchronous edges).

Two real edges in front of a real catalog: "eu" answers mostly from its store, "us" (far from the origin) gets a
new URL every time, so every answer is a miss. A live `Monitor` (its background thread reading Redis) redraws
its topology widget; the page shows the widget's HTML as test_monitor_topology.py does, and the test reads what
a learner sees: each edge's row with its hit ratio, bytes saved and origin requests per second, the client's
calls labelled with their hit ratio, a halo under the arrow into the edge that answered from its store (and none
under the one whose requests all went through), the footnote saying what it means, nothing overlapping.
Screenshots go to test-artifacts/monitor/.
"""
import re
import uuid

import pytest
import requests

from overlaps import overlaps
from test_monitor_topology import ARTIFACTS, live_monitor, show, wait_for  # noqa: F401 (live_monitor: a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_chapter_10_an_edge_served_from_its_store_reads_unlike_one_that_goes_to_the_origin(
        chromium_page, launch, live_monitor):
    tag = uuid.uuid4().hex[:6]
    catalog = launch("catalog", f"catalog-{tag}", max_age=300)
    eu = launch("cdn", f"cdn-eu-{tag}", origin=catalog.url, region="eu")
    us = launch("cdn", f"cdn-us-{tag}", origin=catalog.url, region="us", origin_delay_ms=40)
    monitor = live_monitor(window=30)
    with requests.Session() as session:
        for i in range(20):
            assert session.get(f"{eu.url}/products/{1 + i % 2}", timeout=5).headers["X-Cache"] in ("HIT", "MISS")
            assert session.get(f"{us.url}/products/1?visit={i}", timeout=5).headers["X-Cache"] == "MISS"
    own = eu.get("/metrics").json()["cache"]
    assert (own["hits"], own["misses"]) == (18, 2), own

    row = lambda node: re.search(rf'data-node="{node}".*?</g>', monitor.topology.value, re.S)
    drawn = lambda: (row(eu.name) and row(eu.name).group(0), row(us.name) and row(us.name).group(0))
    wait_for(drawn, lambda rows: all(rows) and "90% hit" in rows[0] and "origin" in rows[0] and "0% hit" in rows[1]
             and "2xx 40" in monitor.topology.value)
    show(chromium_page, monitor, "10_cdn")
    page = chromium_page
    problems = overlaps(page)
    assert not problems, "\n".join(problems)

    # each edge's row: its hit ratio, the bytes its store saved the origin, its requests to the origin per second
    eu_row = page.locator(f'g.mc-row[data-node="{eu.name}"]').text_content()
    us_row = page.locator(f'g.mc-row[data-node="{us.name}"]').text_content()
    assert re.search(r"90% hit .*saved \d[\d.]* (B|kB) .*origin \d", eu_row), eu_row
    assert "0% hit" in us_row and "saved" not in us_row and re.search(r"origin \d", us_row), us_row
    assert page.locator("g.mc-service[data-service=cdn]").get_attribute("data-kind") == "cache"

    # the client's calls into the edges: one label, their hit ratio written in the cache colour
    label = page.locator("text.mc-edge-label", has=page.locator("title", has_text="client → cdn"))
    assert label.count() == 1 and re.search(r"2xx 40 · 45% hit", label.text_content()), label.text_content()
    hit_colour = label.locator("tspan", has_text="% hit").evaluate("t => getComputedStyle(t).fill")
    other_colours = label.locator("tspan").evaluate_all("ts => ts.filter(t => !t.textContent.includes('hit'))"
                                                        ".map(t => getComputedStyle(t).fill)")
    assert hit_colour not in other_colours, (hit_colour, other_colours)

    # a halo under the arrow into the edge answered from its store; none under the one that always went through
    halo = page.locator(f'path.mc-cache-halo[data-from=client][data-to="{eu.name}"]')
    assert halo.count() == 1 and page.locator(f'path.mc-cache-halo[data-to="{us.name}"]').count() == 0
    arrow = page.locator(f'path.mc-edge[data-from=client][data-to="{eu.name}"]')
    style = "p => [getComputedStyle(p).stroke, parseFloat(getComputedStyle(p).strokeWidth), p.getAttribute('d')]"
    halo_colour, halo_width, halo_d = halo.evaluate(style)
    _, arrow_width, arrow_d = arrow.evaluate(style)
    assert halo_d == arrow_d and halo_width >= arrow_width + 4  # the same curve, well wider
    edge_colours = set(page.locator("path.mc-edge").evaluate_all("ps => ps.map(p => getComputedStyle(p).stroke)"))
    assert halo_colour not in edge_colours, (halo_colour, edge_colours)  # no status colour: it reads as its own thing
    assert halo.evaluate("(h, a) => !!(h.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING)",
                         arrow.element_handle())  # drawn first: under the arrow
    # still a call: solid, with a filled arrowhead (asynchronous edges are dashed with an open one)
    dash, marker = arrow.evaluate("p => [getComputedStyle(p).strokeDasharray, p.getAttribute('marker-end')]")
    assert dash == "none" and "mc-arrow" in marker
    # the edges' calls to the origin are plain calls too
    assert page.locator(f'path.mc-edge[data-from="{eu.name}"][data-to="{catalog.name}"]').count() == 1
    assert page.locator(f'path.mc-cache-halo[data-from="{eu.name}"]').count() == 0
    assert page.locator("text.mc-footnote", has_text="teal halo").count() == 1
    assert page.locator("text.mc-footnote", has_text="saved: body bytes answered from the store").count() == 1


def hop(i, caller, caller_instance, callee, instance, ts, **extra):
    return {"request_id": f"r{i}", "hop": f"h{i}{instance}", "parent": "", "caller": caller,
            "caller_instance": caller_instance, "callee": callee, "instance": instance, "method": "GET",
            "path": "/", "status": 200, "ms": 2.0, "ts": ts, "error": "", **extra}


def test_calls_events_and_cache_hits_read_three_ways_in_one_picture(chromium_page):
    """Issue 17's ask, for what this issue adds: in a picture of a whole system (browser -> CDN edges -> balancer
    -> gateway -> services -> a stream -> consumer groups), a call, an event and a call answered from an edge's
    store are each drawn their own way, and nothing overlaps."""
    from microcosm.traffic.model import TrafficModel
    from microcosm.traffic.render import topology_svg

    model, hops = TrafficModel(window=10), []
    for i in range(60):
        ts, edge = 1000 + i / 10, ("cdn-eu", "cdn-us")[i % 2]
        verdict = "hit" if edge == "cdn-eu" and i % 10 else "miss"  # eu: mostly hits; us: all misses
        hops.append(hop(i, "client", "", "cdn", edge, ts, cache=verdict, bytes="900", region=edge[-2:]))
        if verdict == "miss":
            gateway, service = f"gateway-{1 + i % 2}", ("catalog", "orders", "carts", "identity")[i % 4]
            instance = f"{service}-{1 + i % 3}" if service == "catalog" else service
            hops += [hop(i, "cdn", edge, "balancer", "lb", ts), hop(i, "balancer", "lb", "gateway", gateway, ts),
                     hop(i, "gateway", gateway, service, instance, ts)]
            if service == "orders":
                hops.append(hop(i, "orders", "orders", "orders.events", "", ts, kind="publish"))
                for group, consumer in (("inventory", "inventory"), ("notifications", f"notifications-{1 + i % 2}")):
                    hops.append(hop(i, "orders.events", group, consumer.split("-")[0], consumer, ts, kind="deliver",
                                    lag="0"))
    model.add(hops, now=1006)
    page = chromium_page
    page.set_content(f'<div style="font-family:sans-serif">{topology_svg(model)}</div>')
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-system-with-edges.png"), full_page=True)
    problems = overlaps(page)
    assert not problems, "\n".join(problems)
    assert page.locator("g.mc-service").count() >= 10

    halo_of = "`path.mc-cache-halo[data-from='${p.dataset.from}'][data-to='${p.dataset.to}']`"
    style = (f"p => [getComputedStyle(p).strokeDasharray, p.getAttribute('marker-end'), "
             f"!!document.querySelector({halo_of})]")
    drawn = {(e.get_attribute("data-from"), e.get_attribute("data-to")): e.evaluate(style)
             for e in page.locator("path.mc-edge").all()}
    answered_from_store = drawn[("client", "cdn-eu")]
    went_through = drawn[("client", "cdn-us")]
    call = drawn[("gateway-2", "orders")]
    event = drawn[("orders", "orders.events")]
    assert answered_from_store[0] == "none" and "mc-arrow" in answered_from_store[1] and answered_from_store[2]
    assert went_through[2] is False and call[0] == "none" and "mc-arrow" in call[1] and call[2] is False
    assert event[0] != "none" and "mc-event" in event[1] and event[2] is False
    assert len({tuple(v) for v in (answered_from_store, call, event)}) == 3
