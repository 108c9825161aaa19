"""Chaos on a three-node ZooKeeper ensemble (slow: three JVMs): the leader killed by the chaos faults, the two
left elect another and keep the data; undone, the node rejoins as a follower. A follower frozen (pause) drops
out of the quorum's view and comes back when thawed."""
from __future__ import annotations

import uuid

import pytest

from microcosm.chaos import faults
from microcosm.runtime.ensemble import Ensemble
from microcosm.testing import gone, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def ensemble():
    servers = Ensemble(3, name=f"chaos-ens-{uuid.uuid4().hex[:6]}").start()
    yield servers
    faults.undo_all(restart_killed=False)
    servers.kill()
    servers.forget()


def test_the_leader_killed_another_is_elected_and_undo_brings_it_back_as_a_follower(ensemble):
    zk = ensemble.client()
    zk.create("/chaos-ensemble", b"kept")
    zk.stop()
    leader = ensemble.leader
    pid = leader.pid
    fault = faults.kill(leader)
    assert gone(pid)
    new_leader = ensemble.wait_for_quorum(timeout=60)
    assert new_leader is not leader
    zk = ensemble.client()
    assert zk.get("/chaos-ensemble")[0] == b"kept"
    zk.stop()
    fault.undo()
    ensemble.wait_for_quorum(timeout=60)
    assert leader.alive and leader.mode == "follower" and ensemble.leader is new_leader


def test_a_frozen_follower_drops_out_and_comes_back_when_thawed(ensemble):
    follower = ensemble.followers[0]
    fault = faults.pause(follower)
    assert follower.mode == "not serving"  # alive, but it answers no four-letter word while frozen
    assert ensemble.leader is not None
    zk = ensemble.client()
    zk.set("/chaos-ensemble", b"written while one node froze")  # two of three: a quorum still writes
    zk.stop()
    fault.undo()
    assert wait_until(lambda: follower.mode == "follower", timeout=60)
