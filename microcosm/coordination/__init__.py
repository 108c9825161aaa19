"""Coordination on ZooKeeper: what several instances of a service need to agree on (component 10, chapter 08).

- config.py      live configuration: JSON values in a ZooKeeper tree, watched and applied by every instance
                 while it runs, each instance knowing which version it runs
- membership.py  group membership with ephemeral nodes, and the session behind them: lost when the instance
                 is silent longer than its session timeout (killed, or paused), noticed and re-joined on waking
- election.py    leader election on kazoo's recipe, behind a small interface a service loads its election
                 from (so a lab's election plugs into the same service), and the fencing token it hands out
- fencing.py     the check a resource applies to a fencing token: a write from a deposed leader is refused
- locks.py       a distributed lock (kazoo's Lock recipe) with bounded waits and the grant's fencing token
- timeline.py    who believed it led when, sampled from each instance, drawn as one lane per instance
- watches.py     who watches what, as the ZooKeeper server counts it (wchc, wchp, mntr): the herd effect
                 measured (lab 08's grader and its try-it cell)

Every path lives under /microcosm in ZooKeeper, one subtree per group of instances:
/microcosm/config/<group>/<key>, /microcosm/members/<group>/<instance>, /microcosm/election/<group>/<node>.
The services that use them: `reporter` (the coordinated workers), `journal` (the resource they write to) and
`flash_sale` (instances that take a lock per item). Chapter 08 shows them; `runtime/ensemble.py` runs three servers.
"""
ROOT = "/microcosm"


def group_path(kind: str, group: str) -> str:
    """The ZooKeeper path of `group`'s subtree of one kind: group_path("config", "reporter") ->
    "/microcosm/config/reporter". A group is a plain name (letters, digits, - and _), never a path."""
    if not isinstance(group, str) or not group or len(group) > 100 or \
            not all(c.isascii() and (c.isalnum() or c in "-_") for c in group):
        raise ValueError(f"a group is a plain name (letters, digits, - and _), got {group!r:.120}")
    return f"{ROOT}/{kind}/{group}"
