"""Group membership with ephemeral nodes, and the session that keeps them.

Each instance registers one **ephemeral** node, /microcosm/members/<group>/<instance>, holding where to reach it.
ZooKeeper keeps an ephemeral node exactly as long as the session that created it: the client pings the server
every third of its session timeout, and a server that hears nothing for a whole timeout expires the session and
deletes its ephemeral nodes. Nobody needs to say "I am leaving": a SIGKILLed instance's node disappears at session
expiry, and so does a SIGSTOPped one's, since a paused process sends no pings either.

Chapter 04's registry does the same with heartbeats and a TTL over HTTP; here the heartbeat is the session's
ping, and the expiry is decided by ZooKeeper, once, for every client at the same time.

**The instance that was paused** wakes with a session that no longer exists. Its client learns that on its first
exchange with the server (kazoo's state goes SUSPENDED, then LOST), and makes a new session (CONNECTED). Whatever
the old session owned is gone: its member node, its place in an election, its locks. `Membership` notices (the
count `sessions_lost`), registers again in the new session, and then calls the `on_new_session` functions, so the
rest of the instance can rebuild what it owned, for example rejoin the election.

A listener kazoo calls on a state change runs on kazoo's own thread and must not wait for ZooKeeper, so the
listener here only notes the state and wakes a thread of ours (`keeper`), which does the work.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.protocol.states import EventType

from . import group_path

log = logging.getLogger("microcosm.coordination")


def connect(hosts: str, session_timeout: float = 3.0) -> KazooClient:
    """A started kazoo client with a session of `session_timeout` seconds (the server may round it into its
    bounds: 2 to 20 ticks by default; microcosm's ZooKeeper allows 1 s to 60 s). It reconnects at once after a
    dropped connection, trying again every second at most, for as long as the process runs."""
    zk = KazooClient(hosts=hosts, timeout=session_timeout,
                     connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0})
    zk.start(timeout=10)
    return zk


def members(zk: KazooClient, group: str) -> dict[str, dict]:
    """The instances registered in `group` now: {instance: what it registered (its url ...) and its session}."""
    out = {}
    try:
        names = zk.get_children(group_path("members", group))
    except NoNodeError:
        return out
    for name in sorted(names):
        try:
            data, stat = zk.get(f"{group_path('members', group)}/{name}")
        except NoNodeError:  # gone between the listing and the read
            continue
        try:
            info = json.loads(data)
        except ValueError:
            info = {}
        out[name] = {**(info if isinstance(info, dict) else {}), "session": hex(stat.ephemeralOwner)}
    return out


class Membership:
    """This instance's membership of `group`: an ephemeral node kept registered across lost sessions.

        membership = Membership(zk, "reporter", "reporter-1", {"url": "http://127.0.0.1:8123"})
        membership.on_new_session.append(rejoin_the_election)
        membership.start()
        membership.snapshot()   # state, session id, sessions lost, registered or not, the recent transitions
    """

    def __init__(self, zk: KazooClient, group: str, name: str, info: dict | None = None):
        self.zk, self.group, self.name = zk, group, name
        self.path = f"{group_path('members', group)}/{name}"
        self.data = json.dumps(info or {}).encode()
        self.on_new_session: list[Callable[[], None]] = []
        self.sessions_lost = 0
        self.registered_session: int | None = None  # the session our node belongs to (None: not registered)
        self.history: deque = deque(maxlen=20)     # (time.time(), state) of each transition
        self._wake = threading.Event()
        self._node_gone = False
        self._stopped = False

    def start(self) -> "Membership":
        self.zk.add_listener(self._state_changed)
        self.history.append((time.time(), self.zk.state))
        threading.Thread(target=self._keeper, name=f"membership-{self.name}", daemon=True).start()
        self._wake.set()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    @property
    def registered(self) -> bool:
        """Is our node there, in the session we have now (as far as this process knows)?"""
        return self.registered_session is not None and self.registered_session == self._session_id()

    def snapshot(self) -> dict:
        return {"state": self.zk.state, "session": hex(self._session_id() or 0), "sessions_lost": self.sessions_lost,
                "registered": self.registered, "node": self.path,
                "history": [{"at": at, "state": state} for at, state in list(self.history)]}

    # --- kazoo's thread: note the state, wake the keeper ----------------------------------------------------------
    def _state_changed(self, state: str) -> None:
        self.history.append((time.time(), state))
        if state == KazooState.LOST:
            self.sessions_lost += 1
            log.warning("%s: the ZooKeeper session is lost (expired while we were away)", self.name)
        self._wake.set()

    # --- our thread: register in every new session ----------------------------------------------------------------
    def _keeper(self) -> None:
        while not self._stopped:
            self._wake.wait(timeout=1.0)  # woken by a state change or a change to our node; else look anyway
            self._wake.clear()
            if self._stopped or not self.zk.connected:
                continue
            session = self._session_id()
            fresh = session != self.registered_session  # a new session: all the old one owned is gone
            if session is None or not (fresh or self._node_gone):
                continue
            self._node_gone = False
            try:
                if not self._register(session) or not fresh:
                    continue
            except KazooException as exc:  # the connection went again: try at the next wake
                log.warning("%s: could not register yet (%s)", self.name, type(exc).__name__)
                continue
            for callback in list(self.on_new_session):
                try:
                    callback()
                except Exception:
                    log.exception("%s: a new-session callback failed", self.name)

    def _register(self, session: int) -> bool:
        """Create our ephemeral node in this session. If a node of that name is left from an older session (one
        that has not expired yet: a restarted process, fast), wait for ZooKeeper to delete it, then create ours."""
        self.zk.ensure_path(group_path("members", self.group))
        try:
            self.zk.create(self.path, self.data, ephemeral=True)
        except NodeExistsError:
            stat = self.zk.exists(self.path, watch=lambda event: self._wake.set())
            if stat is None or stat.ephemeralOwner != session:
                return False  # woken again when the old node goes
        self.registered_session = session
        self.zk.exists(self.path, watch=self._node_changed)  # deleted by hand? register again
        log.info("%s: registered %s in session %s", self.name, self.path, hex(session))
        return True

    def _node_changed(self, event) -> None:
        if event.type == EventType.DELETED:
            self._node_gone = True
            self._wake.set()

    def _session_id(self) -> int | None:
        client_id = self.zk.client_id
        return client_id[0] if client_id else None
