"""reporter: N instances that agree through ZooKeeper; the elected one writes a numbered batch each period (chapter 08).

    zk = microcosm.zookeeper()
    journal = launch("journal")
    reporters = [launch("reporter", f"reporter-{i}", journal_url=journal.url) for i in (1, 2, 3)]

Each instance, in ZooKeeper (coordination/):
- is a **member** of its group: an ephemeral node, kept in every new session (membership.py);
- runs its group's **live configuration** (config.py), applied as soon as a cell writes it:
    interval   seconds per period (one batch per period)
    work_ms    how long the job works on a batch between deciding its number and writing it
    enabled    false: the leader skips its job, writes nothing (a feature flag)
    label      a text written with every batch, so the journal shows which configuration wrote it
- contends in the **election** (election.py; `election="my_election.py:MyElection"` loads yours).

The leader's job, once per period: decide the next batch number (the journal's last + 1), work on it for
`work_ms`, write it to the journal with its fencing token. It checks that it leads when a job starts, not again
just before the write: a check there would only narrow the window, since a pause can always fall between the
check and the write. The window is the chapter's point; the journal's fencing closes it.

A new leader first shows its token to the journal (`POST /tokens`), so that the deposed leader is refused even
before the new leader's first write. An instance whose token the journal refuses (409) steps down, and joins
the election again at the back of the queue.

    GET /status    instance, leader or not, token, the job's phase and batch, the configuration and version it
                   runs, its session (state, sessions lost, registered), its writes accepted and refused
    GET /members   the group's members as ZooKeeper has them now

Options: `group` (default "reporter": each group has its own config, members and election), `session_timeout`
(seconds, default 3), `zk` (ZooKeeper's hosts; default: this kernel's), the defaults of the four settings.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from ..coordination import config as live, group_path
from ..coordination.election import load_election
from ..coordination.membership import Membership, connect, members
from ..traffic.session_hops import report_session
from .base import CALLER, CALLER_INSTANCE, UpstreamError, call, create_service
from .. import trust

log = logging.getLogger("microcosm.reporter")


def _number(low: float, high: float):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}, got {value!r:.40}")
        return value
    return check


def _flag(value):
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r:.40}")
    return value


def _label(value):
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"must be a text of at most 64 characters, got {value!r:.40}")
    return value


CHECKS = {"interval": _number(0.05, 60), "work_ms": _number(0, 30_000), "enabled": _flag, "label": _label}


class Job:
    """The leader's job: one numbered batch per period, written to the journal with the fencing token."""

    def __init__(self, name: str, journal_url: str, settings: live.LiveConfig, election, wake: threading.Event):
        self.name, self.journal, self.settings, self.election = name, journal_url.rstrip("/"), settings, election
        self.phase, self.batch, self.shown_token = "starting", None, None
        self.accepted = self.refused = self.failed = 0
        self.last_error = ""
        self.wake = wake  # set on a config change: a new interval applies now, not after the old one

    def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.one_period()
            except UpstreamError as exc:
                self.failed, self.last_error = self.failed + 1, exc.description
            except Exception as exc:  # log it and carry on: the next period is another chance
                self.failed, self.last_error = self.failed + 1, f"{type(exc).__name__}: {exc}"[:300]
                log.exception("%s: the job failed", self.name)
            self.wake.wait(max(0.0, started + self.settings["interval"] - time.monotonic()))
            self.wake.clear()

    def one_period(self) -> None:
        if not self.settings["enabled"]:
            self.phase = "disabled"
            return
        token = self.election.token() if self.election.is_leader() else None
        if token is None:
            self.phase = "following"
            return
        if token != self.shown_token:  # a new term: show the journal our token before anything else
            if not self._accepted(self._post("/tokens", {"token": token, "writer": self.name})):
                return
            self.shown_token = token
        self.batch = self._call("GET", "/summary").json()["last_batch"] + 1
        self.phase = "working"
        time.sleep(self.settings["work_ms"] / 1000)  # a pause here (GC, SIGSTOP) is the one fencing is for
        self.phase = "writing"
        answer = self._post("/batches", {"batch": self.batch, "token": token, "writer": self.name,
                                         "label": self.settings["label"], "config_version": self.settings.version})
        if self._accepted(answer):
            self.accepted += 1
            self.phase = "written"

    def _accepted(self, answer) -> bool:
        if answer.status_code in (200, 201):
            return True
        if answer.status_code == 409:  # the journal has seen a newer leader: we are deposed, whatever we believed
            self.refused, self.phase = self.refused + 1, "refused"
            self.last_error = answer.json().get("message", "")[:300]
            log.warning("%s: the journal refused our token: stepping down", self.name)
            self.election.leave()
            self.election.join()
            return False
        self.failed, self.last_error = self.failed + 1, f"{answer.status_code}: {answer.text[:200]}"
        return False

    def _post(self, path: str, body: dict):
        return self._call("POST", path, json=body, headers={trust.ADMIN_HEADER: trust.launch_secret() or ""})

    def _call(self, method: str, path: str, **kwargs):
        headers = {CALLER: "reporter", CALLER_INSTANCE: self.name, **kwargs.pop("headers", {})}
        return call(method, self.journal + path, upstream="journal", headers=headers, **kwargs)

    def snapshot(self) -> dict:
        return {"phase": self.phase, "batch": self.batch, "accepted": self.accepted, "refused": self.refused,
                "failed": self.failed, "last_error": self.last_error}


def create_app(config: dict):
    if not config.get("journal_url"):
        raise ValueError("reporter writes to a journal: launch('journal') first, or pass journal_url='http://...'")
    if not config.get("zk"):
        raise ValueError("reporter needs ZooKeeper: pass zk=microcosm.zookeeper().hosts")
    app = create_service("reporter", config)
    name, group = app.config["INSTANCE"], str(config.get("group", "reporter"))
    defaults = {"interval": 1.0, "work_ms": 0, "enabled": True, "label": ""}
    defaults.update({key: CHECKS[key](config[key]) for key in defaults if key in config})
    zk = connect(config["zk"], float(config.get("session_timeout", 3.0)))
    election = load_election(config.get("election"))(zk, group_path("election", group), name)
    wake = threading.Event()
    settings = live.LiveConfig(zk, group, defaults, CHECKS, on_change=lambda key, value: wake.set())
    job = Job(name, config["journal_url"], settings, election, wake)
    membership = Membership(zk, group, name, {"url": config.get("url", ""), "pid": os.getpid()})

    def rejoin() -> None:  # a new session: the old one's place in the election is gone with it
        election.leave()
        election.join()

    membership.on_new_session.append(rejoin)
    membership.start()
    report_session(app, zk, lambda: {  # for the traffic monitor: what our session holds, and the leader's token
        "holds": ", ".join([f"member of {group}"] * membership.registered + ["leader"] * bool(election.is_leader())),
        "token": election.token()})
    atexit.register(zk.stop)  # a clean stop (SIGTERM) ends the session: our nodes go now, not at its expiry
    threading.Thread(target=job.run, name=f"job-{name}", daemon=True).start()

    @app.get("/status")
    def status():
        return {"instance": name, "group": group, "leader": bool(election.is_leader()), "token": election.token(),
                "job": job.snapshot(), "config": settings.snapshot(), "session": membership.snapshot()}

    @app.get("/members")
    def list_members():
        return {"group": group, "members": members(zk, group)}

    return app
