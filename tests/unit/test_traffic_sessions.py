"""ZooKeeper in the monitor's model: sessions as their holders report them (kind "session" hops), not pixels."""
import re

from microcosm.traffic.model import TrafficModel
from microcosm.traffic.render import topology_svg
from microcosm.traffic.sessions import FORGET_AFTER, ZOOKEEPER


def session(instance, sid, state="connected", ts=1000.0, holds="", token="", lost=0, timeout=2.0,
            service="reporter"):
    return {"request_id": "", "hop": f"h{ts}{instance}{state}", "parent": "", "caller": service,
            "caller_instance": instance, "callee": ZOOKEEPER, "instance": "", "method": "SESSION", "path": "/",
            "status": 200, "ms": 0.0, "ts": ts, "error": "", "kind": "session", "session": sid, "state": state,
            "lost": str(lost), "timeout": str(timeout), "holds": holds, "token": str(token)}


def call(ts=1000.0):
    return {"request_id": f"r{ts}", "hop": f"c{ts}", "parent": "", "caller": "reporter",
            "caller_instance": "reporter-1", "callee": "journal", "instance": "journal", "method": "POST", "path": "/batches", "status": 201,
            "ms": 2.0, "ts": ts, "error": ""}


def three_reporters(model, ts=1000.0):
    model.add([session("reporter-1", "0x100a", ts=ts, holds="member of reporter, leader", token=4294967310),
               session("reporter-2", "0x100b", ts=ts, holds="member of reporter"),
               session("reporter-3", "0x100c", ts=ts, holds="member of reporter"), call(ts)], now=ts)


def test_zookeeper_is_a_node_with_one_session_edge_per_holder_when_control_traffic_is_shown():
    model = TrafficModel(control=True)
    three_reporters(model)
    nodes = model.nodes()
    assert nodes[ZOOKEEPER] == ["zookeeper/0x100a", "zookeeper/0x100b", "zookeeper/0x100c"]
    assert nodes["reporter"] == ["reporter-1", "reporter-2", "reporter-3"]
    sessions = [e for e in model.edges() if e["kind"] == "session"]
    assert [(e["from"], e["to"], e["state"]) for e in sessions] == [
        ("reporter-1", "zookeeper/0x100a", "connected"), ("reporter-2", "zookeeper/0x100b", "connected"),
        ("reporter-3", "zookeeper/0x100c", "connected")]
    assert model.session_of("reporter-1")["token"] == 4294967310
    assert model.session_of("reporter-2")["token"] is None
    # sessions are not requests: no rates, no latency, nothing in the inspector, not in the hop count
    assert model.total == 1 and list(model.requests) == ["r1000.0"] and ZOOKEEPER not in model.latency()


def test_sessions_are_control_plane_traffic_hidden_by_default():
    model = TrafficModel()
    three_reporters(model)
    assert ZOOKEEPER not in model.nodes() and all(e["kind"] != "session" for e in model.edges())
    assert model.hidden_control() == 3 and model.session_of("reporter-1") is None
    svg = topology_svg(model)
    assert "zookeeper" not in svg and "3 control-plane hops hidden" in svg and "ZooKeeper sessions" in svg
    model.control = True  # the learner ticks "control plane"
    assert ZOOKEEPER in model.nodes() and model.hidden_control() == 0


def test_a_lost_session_is_shown_expired_beside_the_new_one_and_counted():
    model = TrafficModel(control=True)
    three_reporters(model)
    model.add([session("reporter-2", "0x100b", ts=1001)], now=1001)
    model.expire(1005)  # reporter-2 paused: nothing from it for longer than its 2 s session timeout
    assert model.sessions()["0x100b"]["state"] == "silent"
    assert model.sessions()["0x100a"]["state"] == "silent"  # (the others too: this test sends no more heartbeats)
    model.add([session("reporter-2", "0x100b", "suspended", ts=1005.1),
               session("reporter-2", "0x100b", "expired", ts=1005.2, lost=1),
               session("reporter-2", "0x100b", "connected", ts=1005.25),  # a heartbeat sent before it knew: ignored
               session("reporter-2", "0x100f", ts=1005.3, lost=1, holds="member of reporter")], now=1005.3)
    states = {sid: info["state"] for sid, info in model.sessions().items() if info["instance"] == "reporter-2"}
    assert states == {"0x100b": "expired", "0x100f": "connected"}
    assert model.session_of("reporter-2")["lost"] == 1 and model.session_of("reporter-2")["name"] == "0x100f"
    edges = {e["to"]: e["state"] for e in model.edges() if e["from"] == "reporter-2"}
    assert edges == {"zookeeper/0x100b": "expired", "zookeeper/0x100f": "connected"}
    # a second loss: only the latest ended session stays beside the current one
    model.add([session("reporter-2", "0x100f", "expired", ts=1010, lost=2),
               session("reporter-2", "0x1010", ts=1010.1, lost=2)], now=1010.1)
    assert sorted(s for s, i in model.sessions().items() if i["instance"] == "reporter-2") == ["0x100f", "0x1010"]
    assert model.session_of("reporter-2")["lost"] == 2


def test_a_clean_stop_forgets_the_session_and_a_silent_one_is_forgotten_after_a_while():
    model = TrafficModel(control=True)
    three_reporters(model)
    model.add([session("reporter-3", "0x100c", "closed", ts=1001)], now=1001)
    assert "0x100c" not in model.sessions()
    model.expire(1001 + FORGET_AFTER + 1)
    assert model.sessions() == {} and ZOOKEEPER not in model.nodes()


def test_a_heartbeat_that_changes_nothing_does_not_ask_for_a_redraw():
    model = TrafficModel(control=True)
    three_reporters(model)
    before = model.session_changes
    model.add([session("reporter-2", "0x100b", ts=1000.9, holds="member of reporter")], now=1001)
    assert model.session_changes == before
    model.add([session("reporter-2", "0x100b", ts=1001.9, holds="member of reporter, leader", token=7)], now=1002)
    assert model.session_changes == before + 1


def test_nonsense_session_hops_are_ignored_and_the_sessions_kept_are_bounded():
    model = TrafficModel(control=True)
    model.add([session("x", "", ts=1), session("x", "0x1", "dancing", ts=1), {**session("x", "0x2"), "lost": "many",
               "timeout": "soon", "token": "big"}], now=1000)
    assert list(model.sessions()) == ["0x2"]
    info = model.sessions()["0x2"]
    assert info["lost"] == 0 and info["token"] is None and info["timeout"] > 0
    model.add([session(f"i{n}", f"0x{n:x}", ts=1000) for n in range(5, 1000)], now=1000)
    assert len(model.zk_sessions) <= 500


def test_the_topology_draws_zookeeper_its_sessions_and_the_leader_with_its_token():
    model = TrafficModel(control=True)
    for n in (1, 2, 3):
        model.declare("reporter", f"reporter-{n}")
    three_reporters(model)
    model.add([session("reporter-2", "0x100b", "expired", ts=1000.5, lost=1),
               session("reporter-2", "0x100f", ts=1000.6, lost=1)], now=1000.6)
    svg = topology_svg(model)
    assert 'data-service="zookeeper" data-kind="zookeeper"' in svg
    assert len(re.findall(r'<path class="mc-edge" [^>]*data-kind="session"', svg)) == 4
    assert re.search(r'data-node="zookeeper/0x100b" data-state="expired"', svg)
    assert re.search(r'data-node="zookeeper/0x100f" data-state="connected"', svg)
    leader = re.search(r'data-node="reporter-1" data-state="up">(.*?)</g>', svg).group(1)
    assert ">leader<" in leader and "token 4294967310" in leader
    assert "1 session lost" in re.search(r'data-node="reporter-2" data-state="up">(.*?)</g>', svg).group(1)
    assert "3 sessions" in svg  # connected ones, in ZooKeeper's header


def test_a_killed_and_restarted_holder_shows_its_old_session_silent_beside_its_new_one():
    """SIGKILL: the holder never says that its session expired; its restart's new session appears beside it."""
    model = TrafficModel(control=True)
    three_reporters(model)
    model.expire(1004)
    model.add([session("reporter-1", "0x1011", ts=1004.5)], now=1004.5)
    mine = {s: i["state"] for s, i in model.sessions().items() if i["instance"] == "reporter-1"}
    assert mine == {"0x100a": "silent", "0x1011": "connected"}
    assert model.session_of("reporter-1")["token"] is None  # the new session leads nothing (yet)
    model.expire(1010)
    model.add([session("reporter-1", "0x1012", ts=1010.5)], now=1010.5)  # killed again: one old session kept
    assert sorted(s for s, i in model.sessions().items() if i["instance"] == "reporter-1") == ["0x1011", "0x1012"]
