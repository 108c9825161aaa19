"""Fencing: the check a resource applies, so that only the newest leader's writes go through.

A leader can be wrong about leading. Paused (a long garbage collection, a SIGSTOP, a VM migration) for longer than
its session timeout, it loses its session, and another instance is elected while it sleeps. When it wakes it
carries on from where it was, in the middle of its job, and writes before its ZooKeeper client has even had the
news. No check the old leader makes before writing can close that gap: the pause can fall between the check and
the write. The resource has to check instead.

Each write carries the writer's **fencing token** (election.py: the czxid of its election node, larger for every
later leader). The resource remembers the newest token it has accepted and asks `check(token, newest)`:

- a token **older** than the newest is a deposed leader's: refuse the write (the journal answers 409);
- the **same** token as the newest is the current leader writing again (a leader writes many times in its
  term, with one token): accept it. That is why the comparison is `>=`: with `>`, a leader's second write
  would be refused, and no leader could do its job;
- a **newer** token is a new leader's: accept it, and from now on refuse every older one.

The resource keeps `newest` in its own database, in the same transaction as the write (a restart must not forget
it, or the old leader's write would pass after the restart). A lab writes its own `check` and plugs it into the
journal at launch: `launch("journal", fence="my_fence.py:check")`. Its signature:

    def check(token: int, newest: int | None) -> bool:   # newest is None before any write was accepted
"""
from __future__ import annotations

from typing import Callable

from ..services.loader import load_object


def check(token: int, newest: int | None) -> bool:
    """May a write carrying `token` go ahead, when `newest` is the newest token accepted so far?"""
    return newest is None or token >= newest


def load_check(spec: str | None) -> Callable[[int, int | None], bool]:
    """The fence check to use: this module's (spec None), or 'file.py:name' from a file the notebook names."""
    found = check if spec is None else load_object(spec)
    if not callable(found):
        raise TypeError(f"{spec} is not a function check(token, newest) -> bool")
    return found
