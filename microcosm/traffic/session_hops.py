"""A ZooKeeper session, seen from the monitor: the instance that holds it records a small "session" hop.

An instance with a kazoo client records, through its hop recorder (hops.py, so off every request's path and
into the same bounded stream), one hop with kind "session":

- at each change of its session's state (kazoo's listener: connected, suspended, lost), at once, naming the
  session it concerns: a session that *expired* (kazoo's LOST after ZooKeeper said so) is over, and the hop after
  it names the new one;
- once a second while connected (a heartbeat: the monitor marks a session *silent* when its holder has said
  nothing for longer than the session timeout, which is when ZooKeeper expires a client it does not hear from);
- with what the session holds, where the service can say it cheaply (`holds`: "member of reporter, leader of
  reporter", "locks: 120 taken, 2 waiting") and a leader's fencing token.

    report_session(app, zk, holds=lambda: {"holds": "member of g", "token": election.token()})

One instance sends about one hop a second: a few a second for a whole chapter, against hundreds a second of
calls. The monitor reads them with everything else (model.py, sessions.py) and polls nobody.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from kazoo.client import KazooState
from kazoo.protocol.states import KeeperState

from .hops import new_hop_id

ZOOKEEPER = "zookeeper"  # the callee of every session hop: ZooKeeper drawn as one component
EVERY = 1.0  # seconds between heartbeats while connected
log = logging.getLogger("microcosm.traffic")


class SessionHops:
    """Records this process's ZooKeeper session as hops: each change at once, and a heartbeat while connected."""

    def __init__(self, zk, recorder, service: str, instance: str,
                 holds: Callable[[], dict] | None = None, every: float = EVERY):
        self.zk, self.recorder, self.service, self.instance = zk, recorder, service, instance
        self.holds, self.every = holds, every
        self.session: str | None = None  # the session we last knew (hex)
        self.lost = 0  # sessions that expired under us
        self.timeout = getattr(zk, "_session_timeout", 0) / 1000 or None  # what connect() asked for, in seconds
        self.held: dict = {}  # what `holds` said last (asked on our thread only)
        self._stopped, self._wake = threading.Event(), threading.Event()

    def start(self) -> "SessionHops":
        self.zk.add_listener(self._changed)
        self._wake.set()  # the first hop at once, if connected
        threading.Thread(target=self._beat, name=f"session-hops-{self.instance}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _current(self) -> str | None:
        client_id = self.zk.client_id
        return hex(client_id[0]) if client_id else None

    # --- kazoo's thread: record the change with what the session held when last asked, never wait --------------
    # (`holds` may call a learner's election, which may ask ZooKeeper: on kazoo's own thread that would deadlock)
    def _changed(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._record("connected", self._current())
        elif state == KazooState.SUSPENDED:
            self._record("suspended", self.session)
        elif self.zk.client_state == KeeperState.CLOSED:  # LOST by our own stop(): a clean goodbye
            self._record("closed", self.session)
            self.session = None
        else:  # LOST: ZooKeeper expired the session (or refused it); kazoo makes a new one next
            self.lost += 1
            self._record("expired", self.session)
            self.session, self.held = None, {}
        self._wake.set()  # our thread reports the new state's holdings now, not in a second

    # --- our thread: a heartbeat a second while connected, with what the session holds --------------------------
    def _beat(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            if self.zk.state == KazooState.CONNECTED and not self._stopped.is_set():
                if self.holds is not None:
                    try:
                        self.held = self.holds() or {}
                    except Exception:  # a learner's election plug-in may raise: the session is still worth showing
                        self.held = {}
                self._record("connected", self._current())

    def _record(self, state: str, session: str | None) -> None:
        """One hop; never raises (a listener that raised would upset kazoo, a heartbeat thread would stop)."""
        if not session:
            return
        try:
            if state == "connected":
                self.session = session
            held = self.held if state in ("connected", "suspended") else {}
            token = held.get("token")
            self.recorder.record(
                request_id="", hop=new_hop_id(), parent="", caller=self.service, caller_instance=self.instance,
                callee=ZOOKEEPER, instance="", method="SESSION", path="/", status=200, ms=0, error="",
                kind="session", session=session, state=state, lost=self.lost, timeout=self.timeout or "",
                holds=str(held.get("holds") or "")[:120], token="" if token is None else token)
        except Exception:
            log.exception("%s: could not record a session hop", self.instance)


def report_session(app, zk, holds: Callable[[], dict] | None = None) -> SessionHops | None:
    """Record `zk`'s session as hops of this service (nothing when the service records no hops)."""
    recorder = app.extensions.get("hops")
    if recorder is None:
        return None
    reporter = SessionHops(zk, recorder, app.name, app.config["INSTANCE"], holds)
    app.extensions["session_hops"] = reporter
    return reporter.start()
