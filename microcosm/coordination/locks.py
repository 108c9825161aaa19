"""A distributed lock on ZooKeeper: kazoo's Lock recipe, with a bounded wait and the grant's fencing token.

    with held(zk, "/microcosm/locks/flash_sale/sneakers", "flash_sale-2", timeout=5) as token:
        ...   # only one holder at a time, across every process that uses this path

The recipe: each contender creates an ephemeral sequential node under the path; the lowest number holds the
lock; every other watches only the node just before its own (no herd woken by each release). A holder that
dies loses its node when its session ends, so a crash frees the lock after the session timeout, not never.

`token` is the holder's sequence number: it grows with every grant on that path, so a resource that keeps the
highest it has seen can refuse a late write from a holder that lost the lock while paused (fencing.py). The
lock alone cannot: a paused holder's session may expire, and another be granted the lock, while the first
still runs its block.

Two waits kazoo leaves unbounded are bounded here: a client that has lost ZooKeeper is refused at once (kazoo
would queue the lock's requests until ZooKeeper is back), and a grant that arrives after `timeout` (the
connection dropped mid-wait and came back) is given back at once: its caller has stopped waiting.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

from kazoo.exceptions import KazooException, LockTimeout


class LockUnavailable(RuntimeError):
    """The lock could not be had: ZooKeeper is unreachable, or another held it for longer than the wait."""


@contextmanager
def held(zk, path: str, identifier: str = "", timeout: float = 5.0):
    """Hold the lock at `path` for the block, and give the block the grant's fencing token."""
    if not zk.connected:
        raise LockUnavailable(f"ZooKeeper is unreachable from here ({zk.state.lower()})")
    lock = zk.Lock(path, identifier=identifier)
    began = time.monotonic()
    try:
        got = lock.acquire(timeout=timeout)
    except LockTimeout:
        got = False
    if got and time.monotonic() - began > timeout:
        release(lock)
        got = False
    if not got:
        raise LockUnavailable(f"not granted within {timeout:g} s")
    try:
        yield int(lock.node[-10:])  # "<uuid>__lock__0000000042": the sequence number
    finally:
        release(lock)


def release(lock) -> None:
    """Give the lock back; if the session is gone, its node went with it and there is nothing to give."""
    try:
        lock.release()
    except KazooException:
        pass
