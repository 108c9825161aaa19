"""A service holding a ZooKeeper session reports it as hops of kind "session" (traffic/session_hops.py), through
its ordinary hop recorder: flash_sale with lock=True, over a real ZooKeeper and a real Redis, read back by a
real Monitor's model; the reporters' side (pause, expiry, a new session) is the browser test's
(tests/browser/test_monitor_topology.py)."""
import uuid

from microcosm.traffic.hops import newest_hops
from microcosm.traffic.monitor import Monitor
from microcosm.testing import wait_until


def session_hops(redis_server, instance):
    return [h for h in newest_hops(redis_server.client(decode_responses=False), 2000)
            if h.get("kind") == "session" and h["caller_instance"] == instance]


def test_a_locking_flash_sale_reports_its_session_what_it_holds_and_its_clean_goodbye(
        launch, redis_server, zookeeper_server):
    tag = uuid.uuid4().hex[:8]
    sale = launch("flash_sale", f"sale-{tag}", lock=True, key_prefix=f"sale-{tag}:", group=f"sale-{tag}",
                  work_ms=0, session_timeout=2)
    monitor = Monitor(redis_server.client(decode_responses=False), live=False, control=True)
    assert sale.put("/_sale/socks", json={"stock": 3}).status_code == 200
    assert [sale.post("/reservations", json={"item": "socks"}).status_code for _ in range(2)] == [201, 201]

    def seen():
        monitor.refresh()
        mine = [info for info in monitor.model.sessions().values() if info["instance"] == sale.name]
        return mine and mine[0]["holds"].startswith("2 locks") and mine[0]

    info = wait_until(seen, timeout=10)
    assert info and info["service"] == "flash_sale" and info["state"] == "connected" and info["lost"] == 0
    assert info["token"] is None and info["timeout"] == 2.0
    assert monitor.model.nodes()["zookeeper"] == [info["node"]]
    assert [e["from"] for e in monitor.model.edges() if e["kind"] == "session"] == [sale.name]
    # a monitor started now draws the session at once (a standing state, not traffic from before it started)
    later = Monitor(redis_server.client(decode_responses=False), live=False, control=True)
    assert sale.name in [i["instance"] for i in later.model.sessions().values()] and later.model.total == 0
    assert 'data-service="zookeeper"' in later.snapshot_html()
    # about one hop a second while connected (bounded), each naming the session
    hops = session_hops(redis_server, sale.name)
    assert hops and {h["session"] for h in hops} == {info["node"].split("/", 1)[1]}
    assert all(h["callee"] == "zookeeper" and h["request_id"] == "" for h in hops)

    sale.stop()  # a clean stop closes the session: its last hop says so, and the model forgets it
    assert wait_until(lambda: session_hops(redis_server, sale.name)[-1]["state"] == "closed", timeout=10)
    monitor.refresh()
    assert all(i["instance"] != sale.name for i in monitor.model.sessions().values())
    monitor.stop()


def test_without_a_lock_flash_sale_holds_no_session_and_reports_none(launch, redis_server):
    tag = uuid.uuid4().hex[:8]
    sale = launch("flash_sale", f"sale-{tag}", lock=False, key_prefix=f"sale-{tag}:")
    assert sale.put("/_sale/socks", json={"stock": 1}).status_code == 200
    assert sale.post("/reservations", json={"item": "socks"}).status_code == 201
    assert wait_until(lambda: any(h["caller"] == "client" and h["instance"] == sale.name
                                  for h in newest_hops(redis_server.client(decode_responses=False), 500)))
    assert session_hops(redis_server, sale.name) == []
