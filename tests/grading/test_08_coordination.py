"""Graded tests of lab 08 (coordination): the learner's leader election from ZooKeeper's primitives, and the
journal's fence check.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cells leave election.py and fence.py there, and points these tests at that folder (see conftest.py).

Task 1 runs the learner's `Election` two ways. In this process: contenders with a kazoo client (a session) each,
on a ZooKeeper server of this module's own, whose watches ZooKeeper itself counts (coordination/watches.py:
`wchp` says who watches a node, `mntr` how many watchers an event woke). And in real reporter processes
(`election="election.py:Election"`) that write batches to a journal: the leader SIGKILLed, then a three-node
ensemble's own leader node SIGKILLed under them. Task 2 loads the learner's `check` into real journals
(`fence="fence.py:check"`), sends them tokens over HTTP, and pauses a leading reporter (SIGSTOP past its 2 s
session, SIGCONT once another leader wrote its batch). Every wait polls for a condition; no test asserts a time.
An answer not written yet (NotImplementedError) fails its task's tests at once (`Election`, `check`).
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from microcosm.coordination import watches
from microcosm.runtime.ensemble import Ensemble
from microcosm.runtime.infra import ZooKeeperServer
from microcosm.testing import wait_until
from lab08_crew import Crew, in_line, leaders, no_double, write

points = pytest.mark.points
TASKS = {"Task 1 · Leader election from primitives": ("election",),
         "Task 2 · The fence check": ("fence",)}  # the lab's tasks, as its headings say (conftest.py)
SESSION = 2.0  # the reporters' session timeout (s); the contenders in this process keep theirs (20 s)


def not_written(name: str, exc: NotImplementedError):
    pytest.fail(f"{name} is not written yet: {exc or 'NotImplementedError'}")


@pytest.fixture(scope="module")
def alone():
    """A standalone ZooKeeper of this module's own: the watches it counts are the contenders' alone."""
    server = ZooKeeperServer(f"grade08-{uuid.uuid4().hex[:8]}").start()
    yield server
    server.stop()
    server.forget()


@pytest.fixture(scope="module")
def Election(learner_object, alone):
    """The learner's class; tried once first (join, is_leader, token, leave), so an unwritten one fails at once."""
    cls = learner_object("election.py", "Election")
    zk = alone.client(timeout=20.0)
    try:
        probe = cls(zk, "/grade/probe", "probe")
        probe.join()
        wait_until(probe.is_leader, timeout=3)
        probe.token()
        probe.leave()
    except NotImplementedError as exc:
        not_written("election.py's Election", exc)
    except Exception:
        pass  # written, and wrong: the tests say how
    finally:
        zk.stop()
        zk.close()
    return cls


@pytest.fixture(scope="module")
def check(learner_object):
    """The learner's check; called once first, so an unwritten one fails at once."""
    found = learner_object("fence.py", "check")
    try:
        found(1, None)
    except NotImplementedError as exc:
        not_written("fence.py's check", exc)
    except Exception:
        pass
    return found


# --- Task 1, in this process: contenders whose watches ZooKeeper counts ---------------------------------
@pytest.fixture
def contenders(Election, alone):
    """contenders(n) -> n contenders on an election path of their own, in the queue's order (by their nodes'
    sequence numbers, as ZooKeeper has them), once one of them leads; each has .zk, .election, .node."""
    clients = []
    admin = alone.client()
    clients.append(admin)

    def start(n: int, path: str | None = None) -> list[SimpleNamespace]:
        path = path or f"/grade/election-{uuid.uuid4().hex[:8]}"
        group = []
        for i in range(n):
            zk = alone.client(timeout=20.0)  # a session that outlives every test: no expiry explains a handover
            clients.append(zk)
            group.append(SimpleNamespace(zk=zk, election=Election(zk, path, f"contender-{i}"), node=None))
            group[-1].election.join()
        assert wait_until(lambda: len(leaders(group)) == 1, timeout=10), \
            f"{len(leaders(group))} of {n} contenders lead: {[c.election.token() for c in group]}"
        return in_line(admin, path, group)

    start.admin, start.alone = admin, alone
    yield start
    for zk in clients:
        zk.stop()
        zk.close()


@points(2)
def test_election_only_the_next_in_line_watches_the_leaders_node(contenders):
    """Five contenders: ZooKeeper has one watch on the leader's node (the next in line's), none on the list of nodes."""
    line = contenders(5)
    watching = contenders.alone.hosts
    sessions = watches.by_path(watching).get(line[0].node, [])
    assert sessions == [watches.session_id(line[1].zk)], \
        f"{len(sessions)} contenders watch the leader's node: only the next in line should (the herd effect)"
    assert watches.counts(watching)["children"] == 0, "a contender watches the list of contenders (get_children " \
                                                      "with a watch): every join and every leave wakes it"


@points(3, must_pass=True)
def test_election_when_the_leader_goes_zookeeper_wakes_one_contender_and_it_leads(contenders):
    """Five contenders, the leader's session closed: ZooKeeper wakes exactly one watcher, and the next in line leads."""
    line = contenders(5)
    before = watches.counts(contenders.alone.hosts)["woken"]
    line[0].zk.stop()  # its session ends now, and its ephemeral node with it
    assert wait_until(lambda: leaders(line[1:]) == [line[1]], timeout=10), \
        f"after the leader went, {len(leaders(line[1:]))} lead of 4 (the next in line should, alone)"
    woken = watches.counts(contenders.alone.hosts)["woken"] - before
    assert woken == 1, f"the leader's node went and ZooKeeper woke {woken} watchers: only its successor should be"


@points(2, must_pass=True)
def test_election_leave_hands_over_at_once_and_a_rejoin_goes_to_the_back(contenders):
    """leave() deletes the node now: the next in line leads while the old session lives; join() again: at the back."""
    first, second, third = contenders(3)
    first.election.leave()
    assert not first.election.is_leader() and first.election.token() is None, "after leave() it still leads"
    assert wait_until(lambda: contenders.admin.exists(first.node) is None, timeout=5), \
        "leave() left its node in ZooKeeper: the others wait for its session to end"
    assert wait_until(second.election.is_leader, timeout=10), "the next in line does not lead after leave()"
    first.election.join()
    second.election.leave()
    assert wait_until(third.election.is_leader, timeout=10) and not first.election.is_leader(), \
        "a contender that left and joined again must wait behind those who stayed"


@points(2, must_pass=True)
def test_election_token_is_the_czxid_and_grows_even_when_the_election_node_is_made_anew(contenders):
    """The token is the czxid of the leader's node: larger every term, even after the election's node was deleted."""
    path = f"/grade/election-{uuid.uuid4().hex[:8]}"
    (one,) = contenders(1, path)
    before = one.election.token()
    assert before == contenders.admin.exists(one.node).czxid, \
        f"token {before}: it should be the czxid of the leader's node ({contenders.admin.exists(one.node).czxid})"
    one.election.leave()
    contenders.admin.delete(path, recursive=True)  # a clean-up: sequence numbers start from 0 again
    one.election.join()
    assert wait_until(one.election.is_leader, timeout=10), "after leave(), join() again: it should lead"
    after = one.election.token()
    assert after is not None and after > before, \
        f"the next term's token {after} is not larger than the last one's ({before}): a fenced journal refuses it"


# --- Task 1, in real reporters --------------------------------------------------------------------------
@pytest.fixture
def crew(launch, learner_file, Election):
    """crew(zk=..., fence=..., **reporter options) -> a Crew, once one of its reporters leads."""
    def start(fence: str | None = None, **options) -> Crew:
        c = Crew(group=f"g{uuid.uuid4().hex[:10]}")
        c.journal = launch("journal", f"grade08-journal-{c.group}", traffic=False,
                           **({"fence": f"{learner_file(fence)}:check"} if fence else {}))
        options = {"interval": 0.2, "session_timeout": SESSION, "traffic": False, "group": c.group,
                   "election": f"{learner_file('election.py')}:Election", "journal_url": c.journal.url, **options}
        with ThreadPoolExecutor(3) as pool:  # three launches at once: each is mostly waiting for imports
            c.reporters = list(pool.map(lambda i: launch("reporter", f"grade08-{i}-{c.group}", **options), (1, 2, 3)))
        assert wait_until(lambda: len(c.leaders()) >= 1, timeout=10), \
            f"no reporter leads: {[c.status(r)['job'] for r in c.reporters]}"
        return c
    return start


@points(2)
def test_election_three_reporters_elect_exactly_one_leader(crew):
    """Three reporters with your election: exactly one leads, only it has a token, and its batches reach the journal."""
    c = crew()
    assert wait_until(lambda: c.summary()["writes"] >= 3), f"the leader writes nothing: {c.summary()}"
    states = [c.status(r) for r in c.reporters]
    assert [s["leader"] for s in states].count(True) == 1, [(s["instance"], s["leader"]) for s in states]
    assert [s["token"] is not None for s in states] == [s["leader"] for s in states], \
        [(s["instance"], s["leader"], s["token"]) for s in states]
    no_double(c)


@points(3, must_pass=True)
def test_election_the_leader_sigkilled_gives_one_new_leader_with_a_larger_token(crew):
    """The leading reporter SIGKILLed: exactly one other leads, with a larger token, and batches go on, none twice."""
    c = crew()
    old = c.leaders()[0]
    old_token = c.status(old)["token"]
    old.kill()
    others = [r for r in c.reporters if r is not old]
    assert wait_until(lambda: [c.status(r)["token"] for r in c.leaders(others)], timeout=8 * SESSION), \
        f"no reporter leads after the leader was killed: {[c.status(r) for r in others]}"
    written = c.summary()["writes"]
    assert wait_until(lambda: c.summary()["writes"] >= written + 3), f"no batches since the kill: {c.summary()}"
    new = c.leaders(others)
    assert len(new) == 1, f"{len(new)} reporters lead"
    assert c.status(new[0])["token"] > old_token, f"the new token {c.status(new[0])['token']} is not > {old_token}"
    no_double(c)


@pytest.fixture(scope="module")
def ensemble(Election):
    """Three ZooKeeper servers on loopback, one elected their leader (started once the election is written)."""
    servers = Ensemble(3, name=f"grade08-ens-{uuid.uuid4().hex[:6]}").start()
    yield servers
    servers.kill()
    servers.forget()


@points(3)
def test_election_an_ensemble_node_sigkilled_leaves_one_leader_and_batches_go_on(crew, ensemble):
    """A three-node ZooKeeper ensemble's leader node SIGKILLed: still one reporter leads; batches go on, none twice."""
    c = crew(zk=ensemble.hosts)
    assert wait_until(lambda: c.summary()["writes"] >= 3), f"the leader writes nothing: {c.summary()}"
    ensemble.leader.kill()
    ensemble.wait_for_quorum(timeout=30)  # the two left elect a leader among themselves
    written = c.summary()["writes"]
    assert wait_until(lambda: c.summary()["writes"] >= written + 5, timeout=30), \
        f"no batches since the ZooKeeper node was killed: {[c.status(r)['job'] for r in c.reporters]}"
    assert wait_until(lambda: len(c.leaders()) == 1), f"{len(c.leaders())} reporters lead"
    no_double(c)


# --- Task 2: the learner's check in real journals --------------------------------------------------------
@pytest.fixture
def journal(launch, learner_file, check):
    return launch("journal", f"grade08-fenced-{uuid.uuid4().hex[:8]}", traffic=False,
                  fence=f"{learner_file('fence.py')}:check")


@points(1)
def test_fence_the_first_write_is_accepted(journal):
    """The first write the journal sees (no token seen yet: newest is None) is accepted."""
    assert write(journal, 1, 10**12) == 201, "the first write was refused: newest is None before any write"


@points(2, must_pass=True)
def test_fence_the_same_token_twice_is_accepted(journal):
    """One leader writes twice with its one token: both writes are accepted."""
    assert write(journal, 1, 7_000) == 201, "the first write was refused"
    assert write(journal, 2, 7_000) == 201, "the leader's second write, with the same token, was refused"
    assert write(journal, 3, 7_000) == 201, "the leader's third write, with the same token, was refused"


@points(2, must_pass=True)
def test_fence_an_older_token_is_refused(journal):
    """After a write with token 9,000, older tokens are refused: a write with 8,999, token 1 shown (POST /tokens)."""
    assert write(journal, 1, 9_000) == 201, "the first write was refused"
    assert write(journal, 2, 8_999) == 409, "a write with an older token was accepted: a deposed leader's"
    assert journal.post("/tokens", json={"token": 1, "writer": "grader"}).status_code == 409
    assert journal.get("/summary").json()["writes"] == 1


@points(1)
def test_fence_a_newer_token_is_accepted(journal):
    """After a write with token 7,000, a write with token 9,000 (a new leader's) is accepted."""
    assert write(journal, 1, 7_000) == 201, "the first write was refused"
    assert write(journal, 2, 9_000) == 201, "a newer leader's write was refused"


@points(3, must_pass=True)
def test_fence_a_paused_leader_is_refused_and_nothing_is_written_twice(crew, check):
    """The leader SIGSTOPped mid-batch past its session, SIGCONT once another wrote that batch: refused, none twice."""
    c = crew(fence="fence.py", work_ms=1000)
    old = c.leaders()[0]
    job = wait_until(lambda: (lambda s: s["job"] if s["job"]["phase"] == "working" else None)(c.status(old)))
    assert job, f"the leader never works on a batch: {c.status(old)}"
    old.pause()  # SIGSTOP, in the middle of its batch
    try:
        others = [r for r in c.reporters if r is not old]
        assert wait_until(lambda: any(b["batch"] == job["batch"] and b["writer"] != old.name for b in c.batches()),
                          timeout=10 * SESSION), f"nobody else wrote batch {job['batch']}: {c.batches()[-4:]}" \
                                                 f" {[c.status(r)['job'] for r in others]}"
    finally:
        old.resume()  # SIGCONT: it carries on from where it was, and writes the batch
    assert wait_until(lambda: c.status(old)["job"]["refused"] >= 1, timeout=5 * SESSION), \
        f"the woken leader was never refused: {c.summary()['double_writes']} batches written twice"
    no_double(c)
    assert any(r["writer"] == old.name for r in c.summary()["refusals"]), c.summary()["refusals"]
