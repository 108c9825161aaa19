"""ZooKeeper as a component of the picture, with each instance's session to it (chapter 08).

Instances that hold a ZooKeeper session say so in hops of kind "session" (session_hops.py): on every change of
state and once a second while connected, with what the session holds and a leader's fencing token. From them the
model keeps, per session: its holder (service and instance), its state, when its holder last spoke of it, its
timeout, what it holds, the token, and how many sessions the holder has lost. A session's state is one of

    connected   the holder says so, and said so within its session timeout (and a little slack)
    suspended   the holder lost its connection; the session may still live (another server, or the same, back)
    silent      the holder has said nothing for longer than the session timeout: ZooKeeper expires a client it
                does not hear from, so this session is gone or going (unless only the holder's hops are late)
    expired     the holder was told: ZooKeeper expired it (kazoo's LOST); what it owned is gone, and the
                holder's next hop names its new session

A session closed by a clean stop is forgotten. Sessions are control-plane traffic: ZooKeeper and the session
edges are drawn only with `control=True`. What is kept stays bounded: per holder its current session and the
latest one that ended or fell silent, and sessions not heard of for a minute are forgotten.
"""
from __future__ import annotations

ZOOKEEPER = "zookeeper"
SLACK = 1.5  # seconds past a session's timeout before it counts as silent (heartbeats come once a second)
FORGET_AFTER = 60.0  # seconds without a word about a session before it is forgotten
MAX_SESSIONS = 500
SESSION_STATES = ("connected", "suspended", "silent", "expired")
ENDED = ("expired",)


def session_node(session: str) -> str:
    return f"{ZOOKEEPER}/{session}"


def short_id(session: str) -> str:
    """"0x1000b2c3d4e0005" -> "0x…e0005": the part that tells one server's sessions apart."""
    return session if len(session) <= 9 else f"0x…{session[-5:]}"


class Sessions:
    """Mixed into TrafficModel: `add()` hands it the hops of kind "session"."""

    control: bool
    services: dict
    service_of: dict
    kinds: dict

    def _init_sessions(self) -> None:
        self.zk_sessions: dict[str, dict] = {}  # session id (hex) -> what is known of it
        self.session_hops = 0  # hops about sessions, seen since watching began
        self.session_changes = 0  # bumped whenever something drawn about a session changes

    def add_session(self, hop: dict) -> None:
        session, state = str(hop.get("session") or ""), hop.get("state")
        if not session or state not in ("connected", "suspended", "expired", "closed"):
            return
        self.session_hops += 1
        info = self.zk_sessions.get(session)
        if info is not None and info["state"] in ENDED:
            return  # a heartbeat sent before the holder learnt that its session had expired
        if state == "closed":
            if self.zk_sessions.pop(session, None) is not None:
                self.session_changes += 1
            return
        service, instance = hop.get("caller") or "?", hop.get("caller_instance") or hop.get("caller") or "?"
        self.service_of.setdefault(instance, service)
        self.services[service].add(instance)  # a holder seen only through its session is an instance all the same
        self.service_of[session_node(session)] = ZOOKEEPER
        self.kinds[ZOOKEEPER] = "zookeeper"
        fresh = {"service": service, "instance": instance, "state": state, "holds": hop.get("holds") or "",
                 "token": _int(hop.get("token")), "lost": _int(hop.get("lost")) or 0,
                 "timeout": _float(hop.get("timeout")) or 10.0}
        if info is None or any(info.get(k) != v for k, v in fresh.items()):
            self.session_changes += 1
        new = info is None
        if new:
            info = self.zk_sessions[session] = {"first": hop.get("ts") or 0.0}
        info.update(fresh, seen=max(info.get("seen", 0.0), hop.get("ts") or 0.0))
        if new:
            self._keep_few(instance, session)

    def _keep_few(self, instance: str, newest: str) -> None:
        """Per holder: its newest session and the latest one that ended (or fell silent: a killed holder never
        says that its session expired); and a bound on them all."""
        ended = sorted((s for s, i in self.zk_sessions.items() if i["instance"] == instance and s != newest
                        and i["state"] in ENDED + ("silent",)), key=lambda s: self.zk_sessions[s]["seen"])
        for s in ended[:-1]:
            del self.zk_sessions[s]
        while len(self.zk_sessions) > MAX_SESSIONS:
            del self.zk_sessions[min(self.zk_sessions, key=lambda s: self.zk_sessions[s]["seen"])]

    def age_sessions(self, now: float) -> None:
        """Mark silent the sessions whose holders stopped speaking; forget those not heard of for a minute."""
        for session, info in list(self.zk_sessions.items()):
            quiet = now - info["seen"]
            if quiet > FORGET_AFTER:
                del self.zk_sessions[session]
                self.session_changes += 1
            elif info["state"] in ("connected", "suspended") and quiet > info["timeout"] + SLACK:
                info["state"] = "silent"
                self.session_changes += 1

    # --- what is shown ------------------------------------------------------------------------------------
    def sessions(self) -> dict[str, dict]:
        """Session id -> its node, holder, state, holds, token and the holder's lost count (oldest first);
        empty while control-plane traffic is hidden."""
        if not self.control:
            return {}
        order = sorted(self.zk_sessions, key=lambda s: (self.zk_sessions[s]["instance"], self.zk_sessions[s]["first"]))
        return {s: {**self.zk_sessions[s], "node": session_node(s), "name": short_id(s)} for s in order}

    def session_edges(self) -> list[dict]:
        """One edge per session, from its holder to the session's row in ZooKeeper's box."""
        return [{"from": info["instance"], "to": info["node"], "kind": "session", "count": 0, "errors": 0,
                 "rps": 0.0, "classes": {}, "now": {}, "state": info["state"]} for info in self.sessions().values()]

    def session_of(self, instance: str) -> dict | None:
        """The holder's view: its newest session (state, holds, token) and how many it has lost."""
        mine = [info for info in self.sessions().values() if info["instance"] == instance]
        return max(mine, key=lambda i: i["first"]) if mine else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
