"""Leader election: one instance of a group leads, the others wait to take over.

The recipe, as ZooKeeper's documentation gives it (and kazoo's `Election` implements it):

1. every contender creates an **ephemeral sequential** node under the election path; ZooKeeper appends a number
   that only grows (`.../2f1c...__lock__0000000007`);
2. the contender whose node has the smallest number leads;
3. every other contender watches **only the node just before its own** (its predecessor) and, when that node
   goes, looks again. Watching the leader instead would wake every contender at each change (the herd effect)
   for one of them to win.

A leader that dies stops pinging, its session expires, its ephemeral node goes, and the next contender leads:
within about one session timeout of the death, with nothing for anyone to clean up.

**The fencing token.** A leader also gets a number that proves *when* it was elected: the **czxid** of its election
node, the zxid of the write that created it. Every write to a ZooKeeper ensemble gets the next zxid, for the whole
life of the ensemble, so a leader elected later always holds a larger token than any leader before it. (The
sequence number in the node's name works too while the election's parent node lives; it starts from 0 again if
that node is ever deleted and made anew, and the czxid does not.) The resource a leader writes to keeps the
largest token it has seen and refuses older ones (fencing.py): that is what stops a leader that was paused, lost
its session without knowing it, and wakes up still believing it leads.

**The interface a service loads an election through** (`launch("reporter", election="my_election.py:MyElection")`):

    class MyElection:
        def __init__(self, zk: KazooClient, path: str, name: str): ...   # nothing in ZooKeeper yet
        def join(self) -> None:         # enter the election and return at once; leadership comes later, or never
        def is_leader(self) -> bool:    # does this instance lead now, as far as it knows?
        def token(self) -> int | None:  # while leading: this term's fencing token (None otherwise)
        def leave(self) -> None:        # step out: give up leadership or a place in the queue; join() may follow

The service calls `join()` once its session is up, and again after each lost session, with a `leave()` first: the
lost session's node is gone, and with it the place in the queue.
"""
from __future__ import annotations

import logging
import threading

from kazoo.client import KazooClient

from ..services.loader import load_object

log = logging.getLogger("microcosm.coordination")
METHODS = ("join", "is_leader", "token", "leave")


class KazooElection:
    """The election of the chapter: kazoo's `Election` recipe, run in a thread of its own.

    kazoo's `election.run(func)` blocks until this contender wins, then calls `func`, and gives up leadership
    (deletes the node) when `func` returns. Here `func` marks this instance as the leader and holds on until
    `leave()` says to stop.
    """

    def __init__(self, zk: KazooClient, path: str, name: str):
        self.zk, self.path, self.name = zk, path, name
        self._lock = threading.Lock()
        self._election = None             # kazoo's Election we contend in now
        self._stop: threading.Event | None = None  # set by leave(); None: not in the election
        self._token: int | None = None

    def join(self) -> None:
        with self._lock:
            if self._stop is not None:
                return  # in the election already
            self._stop = stop = threading.Event()
        threading.Thread(target=self._contend, args=(stop,), name=f"election-{self.name}", daemon=True).start()

    def is_leader(self) -> bool:
        return self._token is not None

    def token(self) -> int | None:
        return self._token

    def leave(self) -> None:
        with self._lock:
            stop, election, self._stop, self._token = self._stop, self._election, None, None
            if stop is not None:
                stop.set()
        if election is not None:
            election.cancel()  # stops a contender that is still waiting; a leader's `_lead` sees the stop

    def _contend(self, stop: threading.Event) -> None:
        """Contend until told to leave: if a term ends on its own (the connection failed under it), contend again."""
        while True:
            election = self.zk.Election(self.path, self.name)
            with self._lock:
                if stop.is_set():
                    return
                self._election = election
            try:
                election.run(self._lead, election, stop)  # returns when `_lead` does, or when cancelled
            except Exception as exc:
                log.warning("%s: out of the election (%s: %s); contending again", self.name, type(exc).__name__, exc)
                stop.wait(0.5)
            with self._lock:
                if not stop.is_set():  # this term is over; (after a leave() a newer term may lead already)
                    self._token = None

    def _lead(self, election, stop: threading.Event) -> None:
        """Won: our node is the first. Its czxid is this term's fencing token."""
        stat = self.zk.exists(f"{self.path}/{election.lock.node}")
        with self._lock:
            if stat is None or stop.is_set():  # our node is gone already (session lost), or we were told to leave
                return
            self._token = stat.czxid
        log.info("%s: leads %s with token %s", self.name, self.path, stat.czxid)
        stop.wait()


def contenders(zk: KazooClient, path: str) -> list[str]:
    """The names in the election at `path`, leader first (kazoo's recipe stores each contender's name)."""
    return zk.Election(path).contenders()


def load_election(spec: str | None):
    """The election class to use: kazoo's (spec None), or 'file.py:Name' from a file the notebook names."""
    cls = KazooElection if spec is None else load_object(spec)
    missing = [m for m in METHODS if not callable(getattr(cls, m, None))]
    if not callable(cls) or missing:
        raise TypeError(f"{spec} is not an election: it needs the methods {', '.join(METHODS)} "
                        f"(missing: {', '.join(missing) or 'it is not a class'})")
    return cls
