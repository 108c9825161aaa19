"""What lab 08's graded tests (test_08_coordination.py) read their processes with: contenders in line, a crew of
reporters and its journal, and the journal's answers."""
from __future__ import annotations

from types import SimpleNamespace

from kazoo.client import KazooClient

from reporters_crew import Crew  # noqa: F401 (the graded tests take it from here)


def leaders(group) -> list:
    return [c for c in group if c.election.is_leader()]


def in_line(admin: KazooClient, path: str, group) -> list[SimpleNamespace]:
    """The contenders in the order of their nodes' sequence numbers, each given its node's path."""
    owner = {c.zk.client_id[0]: c for c in group}
    nodes = sorted(admin.get_children(path), key=lambda name: name[-10:])
    for name in nodes:
        stat = admin.exists(f"{path}/{name}")
        if stat is not None and stat.ephemeralOwner in owner:
            owner[stat.ephemeralOwner].node = f"{path}/{name}"
    assert all(c.node for c in group) and len(nodes) == len(group), \
        f"{len(group)} contenders joined; the election's node has the children {nodes}: one node each"
    return sorted(group, key=lambda c: c.node[-10:])


def no_double(c: Crew) -> None:
    summary = c.summary()
    assert summary["double_writes"] == 0, f"{summary['double_writes']} batches written twice: {c.batches()[-6:]}"


def write(journal, batch: int, token: int) -> int:
    """POST /batches as a leader does; the journal's answer (201 written, 409 refused)."""
    answer = journal.post("/batches", json={"batch": batch, "token": token, "writer": "grader"})
    assert answer.status_code in (201, 409), f"the journal answered {answer.status_code}: {answer.text[:300]}"
    return answer.status_code
