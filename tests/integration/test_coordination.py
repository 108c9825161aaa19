"""Coordination over real processes and a real ZooKeeper: reporters that agree, and a journal that fences.

Three reporter instances share a group (live config, membership, election) and the leader writes a numbered
batch per period into a journal. Each test harms them for real: SIGKILL, or SIGSTOP past the session timeout
and SIGCONT, and reads what the survivors, ZooKeeper and the journal say. Sessions are 2 s so it stays quick;
every wait polls for a condition with a generous bound, and no test asserts how long something took.
"""
from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from microcosm import trust
from microcosm.coordination import config as live
from microcosm.coordination.membership import members
from microcosm.testing import wait_until
from reporters_crew import Crew

SESSION = 2.0
PLUGINS = str(Path(__file__).parent / "services" / "coordination_plugins.py")


@pytest.fixture
def crew_of(launch, tmp_path, zookeeper_server):
    """crew_of(fencing=..., **reporter options) -> a Crew with its journal and three reporters running."""
    clients = []

    def make(fencing=True, fence=None, **options) -> Crew:
        c = Crew()
        c.zk, c.group = zookeeper_server.client(), f"t{uuid.uuid4().hex[:10]}"
        clients.append(c.zk)
        c.journal = launch("journal", f"journal-{c.group}", data_dir=str(tmp_path / "journal"), traffic=False,
                           fencing=fencing, **({"fence": fence} if fence else {}))
        options = {"interval": 0.2, "session_timeout": SESSION, **options}
        with ThreadPoolExecutor(3) as pool:  # three launches at once: each is mostly waiting for imports
            c.reporters = list(pool.map(lambda i: launch(
                "reporter", f"reporter-{i}-{c.group}", journal_url=c.journal.url, group=c.group, traffic=False,
                **options), (1, 2, 3)))
        assert wait_until(lambda: len(c.leaders()) >= 1), [c.status(r) for r in c.reporters]
        return c

    yield make
    for client in clients:
        client.stop()
        client.close()


def freeze(instance) -> None:
    os.killpg(instance.pid, signal.SIGSTOP)


def thaw(instance) -> None:
    os.killpg(instance.pid, signal.SIGCONT)


def test_a_config_change_is_applied_by_every_instance_and_changes_what_they_do(crew_of):
    c = crew_of()
    version = live.write(c.zk, c.group, "label", "after")
    assert wait_until(lambda: all(c.status(r)["config"]["version"] >= version for r in c.reporters)), \
        [c.status(r)["config"] for r in c.reporters]
    assert {c.status(r)["config"]["values"]["label"] for r in c.reporters} == {"after"}
    assert wait_until(lambda: any(b["label"] == "after" and b["config_version"] >= version for b in c.batches()))

    refused = live.write(c.zk, c.group, "interval", "fast")  # wrong type: every instance keeps what it runs
    assert wait_until(lambda: all(any(x["mzxid"] == refused for x in c.status(r)["config"]["refused"])
                                  for r in c.reporters))
    assert {c.status(r)["config"]["values"]["interval"] for r in c.reporters} == {0.2}
    live.write(c.zk, c.group, "intreval", 1)  # a typo: listed as unknown, never applied
    assert wait_until(lambda: all(any(x["key"] == "intreval" for x in c.status(r)["config"]["refused"])
                                  for r in c.reporters))
    live.remove(c.zk, c.group, "label")  # deleted: every instance goes back to its default
    assert wait_until(lambda: {c.status(r)["config"]["values"]["label"] for r in c.reporters} == {""})

    disabled = live.write(c.zk, c.group, "enabled", False)  # the feature flag: the leader stops writing
    assert wait_until(lambda: all(c.status(r)["config"]["version"] >= disabled for r in c.reporters))
    assert wait_until(lambda: c.status(c.leaders()[0])["job"]["phase"] == "disabled")
    written = c.summary()["writes"]
    assert not wait_until(lambda: c.summary()["writes"] > written + 1, timeout=1.0)  # (one may have been under way)


def test_the_leader_killed_gives_exactly_one_new_leader_and_no_batch_twice(crew_of):
    c = crew_of()
    old = c.leaders()[0]
    old_token = c.status(old)["token"]
    assert wait_until(lambda: c.summary()["writes"] >= 3)
    old.kill()
    survivors = [r for r in c.reporters if r is not old]
    assert wait_until(lambda: len(c.leaders(survivors)) == 1 and c.status(c.leaders(survivors)[0])["token"] > old_token,
                      timeout=6 * SESSION), [c.status(r) for r in survivors]
    new = c.leaders(survivors)[0]
    assert wait_until(lambda: old.name not in members(c.zk, c.group))  # its ephemeral node went with its session
    written = c.summary()["writes"]
    assert wait_until(lambda: c.summary()["writes"] >= written + 3)
    assert [r.name for r in c.leaders(survivors)] == [new.name]  # still one
    summary = c.summary()
    assert summary["double_writes"] == 0 and summary["stale_accepted"] == 0, summary
    assert sorted(b["batch"] for b in c.batches()) == list(range(1, summary["last_batch"] + 1))  # no gap, no twice


def pause_the_leader_mid_job(c: Crew):
    """SIGSTOP the leader while it works on batch n, past its session timeout, until another leader has written
    batch n; then SIGCONT it. Returns (the paused instance, n)."""
    old = c.leaders()[0]
    job = wait_until(lambda: (lambda s: s["job"] if s["job"]["phase"] == "working" else None)(c.status(old)))
    freeze(old)
    others = [r for r in c.reporters if r is not old]
    n = job["batch"]
    assert wait_until(lambda: any(b["batch"] == n and b["writer"] != old.name for b in c.batches()),
                      timeout=8 * SESSION), (n, c.batches()[-5:], [c.status(r) for r in others])
    thaw(old)
    return old, n


def test_a_paused_leader_without_fencing_writes_a_batch_twice(crew_of):
    c = crew_of(fencing=False, work_ms=1000)
    old, n = pause_the_leader_mid_job(c)
    assert wait_until(lambda: c.summary()["double_writes"] >= 1), c.batches()[-6:]
    doubled = [b for b in c.batches() if b["batch"] == n]
    assert {b["writer"] for b in doubled} >= {old.name} and any(b["double"] and b["stale"] for b in doubled), doubled
    assert wait_until(lambda: c.status(old)["session"]["sessions_lost"] >= 1)  # it learns, too late


def test_a_paused_leader_with_fencing_is_refused_and_nothing_is_written_twice(crew_of):
    c = crew_of(fencing=True, work_ms=1000)
    old, n = pause_the_leader_mid_job(c)
    assert wait_until(lambda: c.status(old)["job"]["refused"] >= 1), c.status(old)
    summary = c.summary()
    assert summary["double_writes"] == 0 and summary["refused"] >= 1, summary
    assert any(r["writer"] == old.name and r["batch"] == n for r in summary["refusals"]), summary["refusals"]
    assert [b["writer"] for b in c.batches() if b["batch"] == n] != [old.name]
    woke = wait_until(lambda: (lambda s: s if s["session"]["sessions_lost"] >= 1 and s["session"]["registered"]
                               and not s["leader"] else None)(c.status(old)))
    assert woke, c.status(old)


def test_a_paused_member_loses_its_node_and_notices_its_lost_session_on_waking(crew_of):
    c = crew_of()
    follower = next(r for r in c.reporters if not c.status(r)["leader"])
    session = c.status(follower)["session"]["session"]
    assert members(c.zk, c.group)[follower.name]["session"] == session
    freeze(follower)
    try:
        assert wait_until(lambda: follower.name not in members(c.zk, c.group), timeout=6 * SESSION)
        assert len(c.leaders([r for r in c.reporters if r is not follower])) == 1  # the others carry on
    finally:
        thaw(follower)
    assert wait_until(lambda: c.status(follower)["session"]["sessions_lost"] == 1 and
                      c.status(follower)["session"]["registered"]), c.status(follower)["session"]
    now = c.status(follower)["session"]["session"]
    assert now != session and members(c.zk, c.group)[follower.name]["session"] == now  # registered again, anew
    assert [s["state"] for s in c.status(follower)["session"]["history"]][-2:] == ["LOST", "CONNECTED"]


def test_a_broken_election_loaded_at_launch_is_held_off_by_fencing(crew_of):
    """Every instance believes it leads (a lab's wrong answer): fencing still lets only the newest token write."""
    c = crew_of(fencing=True, election=f"{PLUGINS}:EveryoneLeads")
    assert len(c.leaders()) == 3 or wait_until(lambda: len(c.leaders()) >= 2)
    assert wait_until(lambda: c.summary()["refused"] >= 1 and c.summary()["writes"] >= 5), c.summary()
    assert c.summary()["double_writes"] == 0, c.batches()


def test_a_fence_check_with_strictly_greater_refuses_the_leaders_own_second_write(crew_of):
    c = crew_of(fencing=True, fence=f"{PLUGINS}:strictly_newer")
    assert wait_until(lambda: c.summary()["refused"] >= 2), c.summary()
    refused = c.summary()["refusals"]
    assert any(r["token"] == r["newest"] for r in refused), refused  # the same token as the newest: its own


GOOD = {"batch": 1, "token": 1, "writer": "cell"}
WRONG_SECRET, NO_SECRET = {trust.ADMIN_HEADER: "not-the-secret"}, {trust.ADMIN_HEADER: ""}
# (service, method, path, json body or raw bytes, extra headers, status, field named in the error)
BAD_INPUT = [
    ("journal", "POST", "/batches", GOOD, NO_SECRET, 401, None),
    ("journal", "POST", "/tokens", {"token": 1}, WRONG_SECRET, 403, None),
    ("journal", "POST", "/batches", b"{not json", {"Content-Type": "application/json"}, 400, None),
    ("journal", "POST", "/batches", b"batch=1&token=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
    ("journal", "POST", "/batches", [GOOD], {}, 400, None),
    ("journal", "POST", "/batches", b"[" * 50_000 + b"]" * 50_000, {"Content-Type": "application/json"}, 413, None),
    ("journal", "POST", "/batches", b"[" * 20_000 + b"]" * 20_000, {"Content-Type": "application/json"}, 400, None),
    ("journal", "POST", "/batches", {**GOOD, "batch": "1"}, {}, 400, "batch"),
    ("journal", "POST", "/batches", {**GOOD, "batch": 0}, {}, 400, "batch"),
    ("journal", "POST", "/batches", {**GOOD, "batch": 10**13}, {}, 400, "batch"),
    ("journal", "POST", "/batches", {**GOOD, "token": -1}, {}, 400, "token"),
    ("journal", "POST", "/batches", {**GOOD, "token": 2**63}, {}, 400, "token"),
    ("journal", "POST", "/batches", {**GOOD, "token": 10**400}, {}, 400, "token"),
    ("journal", "POST", "/batches", {**GOOD, "token": 1.5}, {}, 400, "token"),
    ("journal", "POST", "/batches", {**GOOD, "token": True}, {}, 400, "token"),
    ("journal", "POST", "/batches", {**GOOD, "token": None}, {}, 400, "token"),
    ("journal", "POST", "/batches", {"batch": 1, "writer": "cell"}, {}, 400, "token"),
    ("journal", "POST", "/batches", {**GOOD, "writer": ""}, {}, 400, "writer"),
    ("journal", "POST", "/batches", {**GOOD, "label": "x" * 65}, {}, 400, "label"),
    ("journal", "POST", "/batches", {**GOOD, "config_version": "new"}, {}, 400, "config_version"),
    ("journal", "POST", "/batches", {**GOOD, "leader": True}, {}, 400, "leader"),
    ("journal", "POST", "/batches", GOOD, {}, 409, None),              # token 1: older than the leader's
    ("journal", "POST", "/tokens", {"token": 0}, {}, 409, None),
    ("journal", "POST", "/tokens", {"token": "9" * 30}, {}, 400, "token"),
    ("journal", "PUT", "/batches", GOOD, {}, 405, None),
    ("journal", "DELETE", "/summary", None, {}, 405, None),
    ("journal", "PATCH", "/tokens", None, {}, 405, None),
    ("journal", "GET", "/tokens", None, {}, 405, None),
    ("journal", "BREW", "/batches", None, {}, 405, None),
    ("journal", "GET", "/batches?limit=0", None, {}, 400, "limit"),
    ("journal", "GET", "/batches?after=-1", None, {}, 400, "after"),
    ("journal", "GET", "/batches?limit=1e3", None, {}, 400, "limit"),
    ("journal", "GET", "/nothing-here", None, {}, 404, None),
    ("reporter", "POST", "/status", {"leader": True}, {}, 405, None),
    ("reporter", "DELETE", "/members", None, {}, 405, None),
    ("reporter", "PUT", "/_chaos", {"delay_ms": 10}, NO_SECRET, 401, None),
    ("reporter", "GET", "/status/..%2f..%2fmembers", None, {}, 404, None),
]


def test_bad_input_gets_a_json_4xx_that_says_what_is_wrong_and_changes_nothing(crew_of):
    c = crew_of(interval=0.5)
    assert wait_until(lambda: c.summary()["writes"] >= 1)
    before = c.summary()
    wrong = []
    for service, method, path, body, headers, status, field in BAD_INPUT:
        instance = c.journal if service == "journal" else c.reporters[0]
        if isinstance(body, bytes):
            answer = instance.request(method, path, data=body, headers=headers)
        else:
            answer = instance.request(method, path, json=body, headers=headers)
        said = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
        if answer.status_code != status or (field and said.get("field") != field) or not said.get("message"):
            wrong.append(f"{service} {method} {path} {str(body)[:60]}: {answer.status_code} {answer.text[:150]}")
    assert not wrong, "\n".join(wrong)
    after = c.summary()
    assert after["double_writes"] == 0 and after["newest_token"] == before["newest_token"], after
    assert not any(b["writer"] == "cell" for b in c.batches())
