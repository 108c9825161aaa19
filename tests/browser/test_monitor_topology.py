"""The live traffic monitor as chapters 03, 05 and 07 use it, drawn in a real Chromium (issue 11).

Real services make real traffic; a live `Monitor` (its background thread reading Redis, as in a notebook)
redraws its topology widget; the test puts the widget's HTML in a plain page (the ipywidgets HTML view sets
it as the element's content; the JupyterLab test already proves the widget itself renders there) and reads
what a learner would see: no text overlapping another text, a box or an edge (rendered boxes measured in the
browser), each instance's state after a kill, the 429s on the client -> gateway edge, control-plane traffic
hidden until asked for, events going producer -> stream -> consumer group drawn unlike calls, ZooKeeper with
each reporter's session (chapter 08). Screenshots go
to test-artifacts/monitor/.
"""
import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from microcosm.runtime.infra import RedisServer
from microcosm.services.balancer.control import backends
from microcosm.traffic.monitor import Monitor
from overlaps import overlaps

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "monitor"


def wait_for(what, until, timeout=15.0):
    """Call `what()` until `until(value)` holds (deadlines are generous: a loaded 2-core machine)."""
    deadline = time.monotonic() + timeout
    value = what()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = what()
    return value


def show(page, monitor, name):
    """The live topology widget's HTML in the page, as the widget view shows it; a screenshot kept."""
    page.set_content(f'<div class="microcosm-monitor" style="font-family:sans-serif">{monitor.topology.value}</div>')
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


@pytest.fixture
def live_monitor(redis_server):
    monitors = []

    def start(**options):
        monitors.append(Monitor(redis_server.client(decode_responses=False), refresh=0.2, **options))
        return monitors[-1]

    yield start
    for m in monitors:
        m.stop()


def test_chapter_03_instances_show_their_share_and_state_after_a_kill(chromium_page, launch, live_monitor):
    catalogs = [launch("catalog", f"catalog-{i}") for i in (1, 2, 3)]
    lb = launch("balancer", "lb", upstream="catalog", backends=backends(catalogs), health_interval=0.2)
    monitor = live_monitor(window=5)
    catalogs[1].chaos(delay_ms=150)
    session = requests.Session()
    for _ in range(30):
        session.get(f"{lb.url}/products/1", timeout=5)
    catalogs[2].kill()
    answers = [session.get(f"{lb.url}/products/1", timeout=5).status_code for _ in range(20)]
    assert set(answers) == {200}, f"the balancer let a failure through: {answers}"

    row = lambda node: re.search(rf'data-node="{node}" data-state="(\w+)"', monitor.topology.value)
    state = lambda node: row(node) and row(node).group(1)
    wait_for(lambda: (state("catalog-3"), state("catalog-2")), lambda s: s == ("down", "slow"))
    show(chromium_page, monitor, "03_load_balancer")
    page = chromium_page
    problems = overlaps(page)
    assert not problems, "\n".join(problems)
    rows = {r.get_attribute("data-node"): (r.get_attribute("data-state"), r.text_content())
            for r in page.locator("g.mc-row").all()}
    assert rows["catalog-3"][0] == "down" and "down" in rows["catalog-3"][1]
    assert rows["catalog-2"][0] == "slow" and "slow" in rows["catalog-2"][1]
    assert rows["catalog-1"][0] == "up"
    # each instance's share of catalog's requests, written in its row, and the kill's refused call counted
    assert all(re.search(r"\d+%", rows[n][1]) for n in ("catalog-1", "catalog-2")), rows
    assert page.locator("g.mc-row[data-node=catalog-3] rect").evaluate("r => getComputedStyle(r).fill") != \
        page.locator("g.mc-row[data-node=catalog-1] rect").evaluate("r => getComputedStyle(r).fill")
    labels = page.locator("text.mc-edge-label").all_text_contents()
    assert any(re.search(r"2xx \d+", t) for t in labels), labels


def test_chapter_05_the_429s_are_on_the_client_gateway_edge_and_control_traffic_is_folded(
        chromium_page, launch, live_monitor):
    launch("registry")
    launch("catalog", registry_ttl=0.6)  # heartbeats every 0.2 s: control-plane traffic to hide
    gateway = launch("gateway", rate_limit={"capacity": 5, "refill_per_s": 1})
    monitor = live_monitor(window=2)
    statuses = [requests.get(f"{gateway.url}/api/products", timeout=5).status_code for _ in range(25)]
    refused = statuses.count(429)
    assert refused >= 10 and statuses.count(200) >= 5, statuses

    client_label = lambda: re.search(r'<title>client → gateway</title>(.*?)</text>', monitor.topology.value)
    wait_for(client_label, lambda m: m and f">429 {refused}<" in m.group(1))
    wait_for(lambda: monitor.model.hidden_control(), lambda n: n > 0)
    show(chromium_page, monitor, "05_api_gateway")
    page = chromium_page
    problems = overlaps(page)
    assert not problems, "\n".join(problems)
    label = page.locator("text.mc-edge-label", has=page.locator("title", has_text="client → gateway"))
    assert label.count() == 1 and label.is_visible()
    text = label.text_content()
    assert f"429 {refused}" in text and f"2xx {statuses.count(200)}" in text, text
    # control traffic: hidden by default (no edge into the registry), said so, and drawn when asked for
    assert page.locator("path.mc-edge[data-to=registry]").count() == 0
    assert page.locator("text.mc-footnote", has_text="control-plane hops hidden").count() == 1
    assert page.locator("g.mc-service[data-service=registry]").count() == 1  # running: still a box
    monitor.control_box.value = True  # the learner ticks "control plane"
    wait_for(lambda: monitor.topology.value.count('data-to="registry"'), lambda n: n >= 2)
    show(chromium_page, monitor, "05_api_gateway-control")
    assert page.locator("path.mc-edge[data-to=registry]").count() >= 2  # catalog's and the gateway's heartbeats
    problems = overlaps(page)
    assert not problems, "\n".join(problems)


@pytest.fixture
def broker(tmp_path):
    """A redis-server for this test's streams alone (a group made on a shared stream would replay old entries)."""
    server = RedisServer(f"monitor-broker-{tmp_path.name}").start()
    yield server
    server.stop()
    server.forget()


def test_chapter_07_events_go_producer_stream_group_drawn_unlike_calls(chromium_page, launch, live_monitor, broker,
                                                                       tmp_path):
    """As chapter 07 runs it: groups named after the services that consume (group "inventory" read by the
    instance "inventory", group "orders" by "orders"), and two notifications sharing one group."""
    def start(service, name, **config):
        return launch(service, name, events=broker.url, data_dir=str(tmp_path / name), claim_idle=1.0, **config)

    catalog = launch("catalog", data_dir=str(tmp_path / "catalog"))
    start("inventory", "inventory", stock={1: 1000})
    mailers = [start("notifications", f"notifications-{i}", mail_delay_ms=30) for i in (1, 2)]
    orders = start("orders", "orders", catalog_url=catalog.url)
    monitor = live_monitor(window=5)
    session = requests.Session()
    placed = [session.post(f"{orders.url}/orders", json={"product_id": 1, "quantity": 1}, timeout=5).status_code
              for _ in range(20)]
    assert placed == [202] * 20, placed

    svg = lambda: monitor.topology.value
    wanted = ['data-from="orders.events/inventory" data-to="inventory"', 'data-from="inventory.events/orders"',
              'data-from="orders.events/notifications" data-to="notifications-1"',
              'data-from="orders.events/notifications" data-to="notifications-2"', "pending "]
    drawn = wait_for(svg, lambda v: all(w in v for w in wanted), timeout=30)
    assert all(w in drawn for w in wanted), [w for w in wanted if w not in drawn]
    show(chromium_page, monitor, "07_message_broker")
    page = chromium_page
    problems = overlaps(page)
    assert not problems, "\n".join(problems)

    # the path: orders -> orders.events (publish), out of each group's row -> its consumers (deliver)
    edge = lambda kind, frm, to="": page.locator(f'path.mc-edge[data-kind={kind}][data-from="{frm}"]'
                                                 + (f'[data-to="{to}"]' if to else ""))
    assert edge("publish", "orders", "orders.events").count() == 1
    assert edge("publish", "inventory", "inventory.events").count() == 1
    delivered = [edge("deliver", "orders.events/inventory", "inventory"), edge("deliver", "inventory.events/orders", "orders")]
    delivered += [edge("deliver", "orders.events/notifications", m.name) for m in mailers]
    assert all(d.count() == 1 for d in delivered)
    assert page.locator("path.mc-edge").evaluate_all("ps => ps.every(p => p.getAttribute('data-from') !== "
                                                     "p.getAttribute('data-to'))")
    for d in delivered:  # each delivery leaves its group's row in the stream's box
        start_y = d.evaluate("p => p.getPointAtLength(0).y")
        row = page.locator(f'g.mc-row[data-node="{d.get_attribute("data-from")}"] rect')
        top, height = float(row.get_attribute("y")), float(row.get_attribute("height"))
        assert top <= start_y <= top + height, (d.get_attribute("data-from"), start_y, top)

    # drawn unlike calls: dashed, with an open arrowhead, where calls are solid with a filled one
    style = "p => [getComputedStyle(p).strokeDasharray, p.getAttribute('marker-end')]"
    calls = [e.evaluate(style) for e in page.locator("path.mc-edge[data-kind=call]").all()]
    events = [e.evaluate(style) for e in page.locator("path.mc-edge[data-kind=publish], path.mc-edge[data-kind=deliver]").all()]
    assert calls and all(dash == "none" and "mc-arrow" in marker for dash, marker in calls), calls
    assert len(events) == 6 and all(dash != "none" and "mc-event" in marker for dash, marker in events), events
    fills = {page.locator(f'marker#{m.split("#")[1].rstrip(")")} path').evaluate("p => getComputedStyle(p).fill")
             for _, m in calls + events}
    assert "none" in fills and len(fills) >= 2, fills

    # each group's row says its lag and its pending entries
    for group in ("orders.events/inventory", "orders.events/notifications", "inventory.events/orders"):
        text = page.locator(f'g.mc-row[data-node="{group}"]').text_content()
        assert re.search(r"lag \d+", text) and re.search(r"pending \d+", text), (group, text)
    # shares within a service: each at most 100%, the two consumers of one group adding up to about 100%
    rows = {r.get_attribute("data-node"): r.locator("text.mc-stats").text_content()
            for r in page.locator("g.mc-row").all() if r.locator("text.mc-stats").count()}
    shares = {node: int(m.group(1)) for node, text in rows.items() if (m := re.search(r"\b(\d+)%", text))}
    assert shares.keys() >= {"notifications-1", "notifications-2"}, rows
    assert all(0 <= v <= 100 for v in shares.values()), shares
    assert 98 <= shares["notifications-1"] + shares["notifications-2"] <= 102, shares


def test_chapter_08_zookeeper_with_each_reporters_session_lost_and_new_after_a_pause(
        chromium_page, launch, live_monitor, zookeeper_server, tmp_path):
    """Three reporters on a real ZooKeeper (2 s sessions): ZooKeeper drawn only with the control plane shown, a
    session edge from each reporter, the leader marked with its token; a follower SIGSTOPped past its session
    timeout shows its session silent, then (SIGCONT) expired beside the new one it made, one session lost."""
    from microcosm.coordination.membership import members

    group = f"m{uuid.uuid4().hex[:8]}"
    journal = launch("journal", f"journal-{group}", data_dir=str(tmp_path / "journal"))
    reporters = [launch("reporter", f"reporter-{i}", journal_url=journal.url, group=group, session_timeout=2,
                        interval=0.2) for i in (1, 2, 3)]
    status = lambda r: r.get("/status").json()
    leader = wait_for(lambda: [r for r in reporters if status(r)["leader"]], lambda ls: len(ls) == 1)
    assert len(leader) == 1, [status(r) for r in reporters]
    leader = leader[0]
    monitor = live_monitor(window=5)  # as chapter 08 calls it, but control traffic off: the default
    svg = lambda: monitor.topology.value
    wait_for(lambda: monitor.model.hidden_control(), lambda n: n >= 6)
    assert "zookeeper" not in svg() and 'data-kind="session"' not in svg()
    assert "ZooKeeper sessions)" in svg()  # the footnote says what is hidden

    monitor.control_box.value = True  # the learner ticks "control plane"
    token = status(leader)["token"]
    drawn = wait_for(svg, lambda v: v.count('data-kind="session"') == 3 and f"token {token}<" in v)
    show(chromium_page, monitor, "08_coordination")
    page = chromium_page
    problems = overlaps(page)
    assert not problems, "\n".join(problems)
    assert page.locator("g.mc-service[data-service=zookeeper]").count() == 1, drawn
    sessions = {r.name: status(r)["session"]["session"] for r in reporters}
    for r in reporters:  # one dotted edge from each reporter's row to its session's row in ZooKeeper's box
        edge = page.locator(f'path.mc-edge[data-kind=session][data-from="{r.name}"]')
        assert edge.count() == 1 and edge.get_attribute("data-to") == f"zookeeper/{sessions[r.name]}"
        assert page.locator(f'g.mc-row[data-node="zookeeper/{sessions[r.name]}"]').get_attribute("data-state") == \
            "connected"
    row = page.locator(f'g.mc-row[data-node="{leader.name}"]')
    assert row.locator("text.mc-state").text_content() == "leader" and f"token {token}" in row.text_content()
    assert all(page.locator(f'g.mc-row[data-node="{r.name}"] text.mc-state').count() == 0
               for r in reporters if r is not leader)

    follower = next(r for r in reporters if r is not leader)
    old = f"zookeeper/{sessions[follower.name]}"
    zk = zookeeper_server.client()
    try:
        follower.pause()  # SIGSTOP: no pings, no hops
        state = lambda node: (m := re.search(rf'data-node="{node}" data-state="(\w+)"', svg())) and m.group(1)
        assert wait_for(lambda: (state(old), state(follower.name)), lambda s: s == ("silent", "paused")) == \
            ("silent", "paused")
        assert wait_for(lambda: follower.name in members(zk, group), lambda there: not there) is False
    finally:
        follower.resume()  # SIGCONT: it learns that its session expired, and makes a new one
        zk.stop()
        zk.close()
    new = wait_for(lambda: status(follower)["session"], lambda s: s["registered"] and s["sessions_lost"] >= 1)
    assert new["sessions_lost"] == 1, new
    wait_for(svg, lambda v: f'data-node="zookeeper/{new["session"]}" data-state="connected"' in v
             and state(old) == "expired" and "1 session lost" in v and state(follower.name) == "up")
    show(chromium_page, monitor, "08_coordination-session-lost")
    problems = overlaps(page)
    assert not problems, "\n".join(problems)
    edges = {e.get_attribute("data-to"): e for e in
             page.locator(f'path.mc-edge[data-kind=session][data-from="{follower.name}"]').all()}
    assert set(edges) == {old, f"zookeeper/{new['session']}"}
    assert page.locator(f'g.mc-row[data-node="{old}"]').get_attribute("data-state") == "expired"
    assert "expired" in page.locator(f'g.mc-row[data-node="{old}"]').text_content()
    assert "1 session lost" in page.locator(f'g.mc-row[data-node="{follower.name}"]').text_content()
    assert len({e.evaluate("p => getComputedStyle(p).stroke") for e in edges.values()}) == 2  # grey, green
