"""A three-node ZooKeeper ensemble of real processes: one node down changes nothing a client can see, two down
stop every write, and started again it has lost nothing it acknowledged.

What kazoo does with two nodes down (measured here, and asserted below): the request in flight when the
quorum goes fails with ConnectionLoss; every later one waits in the client's queue (a plain `zk.set(...)`
blocks until a majority is back), so a bounded wait (`zk.set_async(...).get(timeout=1)`) ends in
KazooTimeoutError, for reads as for writes: the node left serves nobody. And a request whose caller gave up is
still in that queue: when the majority is back within the session's timeout, it is sent, and applied.
"""
from __future__ import annotations

import pytest
from kazoo.exceptions import ConnectionLoss
from kazoo.handlers.threading import KazooTimeoutError

from microcosm.runtime import ensemble as ensemble_module
from microcosm.testing import wait_until

NO_ANSWER = (ConnectionLoss, KazooTimeoutError)


@pytest.fixture(scope="module")
def zk_ensemble():
    """This test process's ensemble (the one `ensemble()` gives a kernel), stopped after the module."""
    ens = ensemble_module.ensemble()
    yield ens
    ens.stop()
    ens.forget()


@pytest.fixture
def ens(zk_ensemble):
    """The ensemble with all three nodes serving, whatever the test before did to it."""
    zk_ensemble.start()
    return zk_ensemble


@pytest.fixture
def client(ens):
    zk = ens.client(timeout=30)  # a session that outlives the outages below
    yield zk
    zk.stop()
    zk.close()


def test_three_real_servers_elect_one_leader(ens):
    modes = ens.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    assert len({n.pid for n in ens.nodes}) == 3 and all(n.alive for n in ens.nodes)
    assert ens.hosts == ",".join(f"127.0.0.1:{n.port}" for n in ens.nodes)
    for node in ens.nodes:
        assert (node.data / "myid").read_text().strip() == str(node.myid)
        cfg = (node.data / "zoo.cfg").read_text()
        assert all(f"server.{n.myid}=127.0.0.1:{n.peer_port}:{n.election_port}" in cfg for n in ens.nodes)
    assert ensemble_module.ensemble() is ens  # one per kernel


def test_with_one_node_down_the_client_goes_on_reading_and_writing(ens, client):
    client.ensure_path("/test/one-down")
    session = client.client_id
    old_leader = ens.leader
    old_leader.kill()  # the leader: every node has to elect a new one, and every client moves
    new_leader = ens.wait_for_quorum(timeout=30)
    assert new_leader is not old_leader and ens.modes()[old_leader.name] == "down"
    assert sorted(ens.modes().values()) == ["down", "follower", "leader"]
    assert wait_until(lambda: client.connected, timeout=20)
    for i in range(20):
        client.retry(client.set, "/test/one-down", str(i).encode())
        assert client.get("/test/one-down")[0] == str(i).encode()
    assert client.client_id == session  # the same session: its ephemeral nodes and watches survived


def test_with_two_nodes_down_writes_and_reads_get_no_answer(ens, client):
    client.ensure_path("/test/two-down")
    leader = ens.leader
    for node in ens.followers:
        node.kill()
    assert wait_until(lambda: leader.mode == "not serving", timeout=20), ens.modes()  # it steps down
    with pytest.raises(NO_ANSWER):  # ConnectionLoss if it was in flight, else the bounded wait ends
        client.set_async("/test/two-down", b"no quorum").get(timeout=1)
    with pytest.raises(KazooTimeoutError):
        client.set_async("/test/two-down", b"still none").get(timeout=1)
    with pytest.raises(KazooTimeoutError):
        client.get_async("/test/two-down").get(timeout=1)
    assert not client.connected


def test_started_again_nothing_acknowledged_is_lost_and_writes_work(ens, client):
    client.ensure_path("/test/log")
    acknowledged = [client.create("/test/log/entry-", b"", sequence=True) for _ in range(10)]
    first = ens.nodes[0]
    first.kill()
    ens.wait_for_quorum(timeout=30)  # two of three: still a majority
    assert wait_until(lambda: client.connected, timeout=20)
    acknowledged += [client.retry(client.create, "/test/log/entry-", b"", sequence=True) for _ in range(10)]
    for node in ens.nodes[1:]:
        node.kill()  # every node down; the last ten were logged by these two only
    assert wait_until(lambda: not client.connected, timeout=20)
    given_up = client.create_async("/test/log/given-up", b"")  # queued in the client; its caller gives up
    with pytest.raises(KazooTimeoutError):
        given_up.get(timeout=1)
    ens.start()
    assert wait_until(lambda: client.connected, timeout=30)
    children = set(client.retry(client.get_children, "/test/log"))
    assert {path.rsplit("/", 1)[1] for path in acknowledged} <= children
    assert "given-up" in children, "the request whose caller timed out was sent when the majority came back"
    assert client.retry(client.set, "/test/log", b"writes again").version >= 1
    only_first = ens.client(hosts=first.hosts)  # the node that missed the last ten has them now
    try:
        only_first.sync("/test/log")  # a node may lag the leader; sync() waits until it has caught up
        assert {path.rsplit("/", 1)[1] for path in acknowledged} <= set(only_first.get_children("/test/log"))
        assert only_first.get("/test/log")[0] == b"writes again"
    finally:
        only_first.stop()
        only_first.close()
