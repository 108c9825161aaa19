"""Faults on any running process: kill, pause, slow, isolate, restart. Each returns a `Fault`, a record of what
was done to whom and when, whose `undo()` puts things back.

    fault = kill(system["catalog-1"])      # SIGKILL to its process group: a crash, no goodbye
    fault.undo()                           # started again, same port, same data

What each one does, exactly:

    kill      SIGKILL. Callers are refused at once (nothing listens). Undo: start it again (same port and data).
    pause     SIGSTOP: frozen mid-step. Callers connect (the kernel's listen backlog accepts them) and then wait
              for an answer that comes only after resume; its own timers stop too. Undo: SIGCONT.
    slow      a service: every request waits `ms` first (its `/_chaos` delay, needs the launch secret).
              Anything else (Redis, a ZooKeeper node, a proxy: balancer, netem, CDN edge): its CPU cut to
              `share` of the time by SIGSTOP/SIGCONT in turn (throttle.py). Undo: the service's earlier chaos
              settings back / the throttle stopped.
    isolate   with `link=` (a netem proxy in front of it, the only way its callers reach it): the link drops
              every request silently, so callers time out while the process itself runs on and can still
              reach others: one direction of a partition. Without a link: frozen as by `pause`. On one machine
              without root there is no network namespace to cut, and a frozen process is what a partition
              looks like from outside: no answers, no heartbeats, its ZooKeeper session lapses. What it does
              not show: the cut-off side noticing it is alone (a frozen process notices nothing).
    restart   stop (SIGTERM) and start again; nothing to undo.

Every fault that is still in force is in `in_force()`; `undo_all()` puts them all back (the experiment context
in experiments.py does it for you, even when the cell is interrupted).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..runtime.process import Process, before_stop_all
from ..runtime.service import Service
from .throttle import Throttle

NO_CHAOS_ROUTE = ("balancer", "netem", "cdn")  # proxies: a /_chaos sent to them would reach what is behind them
_in_force: list["Fault"] = []
_lock = threading.Lock()


@dataclass
class Fault:
    """One action on one process: what (`action`), to whom (`target`, its `pid` then), when (`at`, time.time()),
    how (`detail`), and whether it was put back (`undone_at`)."""

    action: str
    target: str
    pid: int | None
    detail: str
    at: float = field(default_factory=time.time)
    undone_at: float | None = None
    _undo: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def undoable(self) -> bool:
        return self._undo is not None and self.undone_at is None

    def undo(self) -> None:
        """Put back what this fault changed (once; again does nothing)."""
        if not self.undoable:
            return
        try:
            self._undo()
        finally:
            self.undone_at = time.time()
            with _lock:
                if self in _in_force:
                    _in_force.remove(self)

    def line(self) -> str:
        """One line for a log: '07:31:02 pause orders (pid 4242): frozen (SIGSTOP) [undone 07:31:05]'."""
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        after = f" [undone {time.strftime('%H:%M:%S', time.localtime(self.undone_at))}]" if self.undone_at else ""
        return f"{clock} {self.action} {self.target} (pid {self.pid}): {self.detail}{after}"


def _ours(target) -> Process:
    if not isinstance(target, Process):
        raise TypeError(f"{target!r} is not a process this kernel started (an attached Redis or ZooKeeper is "
                        "someone else's: a fault needs one you can also put back)")
    if target.popen is None:
        raise ValueError(f"{target.name} was never started")
    return target


def _record(action: str, target: Process, detail: str, undo: Callable[[], None] | None) -> Fault:
    fault = Fault(action, target.name, target.pid, detail, _undo=undo)
    if undo is not None:
        with _lock:
            _in_force.append(fault)
    return fault


def _start_if_dead(target: Process) -> None:
    if not target.alive:
        target.start()


def kill(target) -> Fault:
    """SIGKILL its process group: a crash. Undo starts it again on the same port with the same data."""
    p = _ours(target)
    if not p.alive:
        raise ValueError(f"{p.name} is not running ({p.status})")
    p.kill()
    return _record("kill", p, f"SIGKILL, {p.status}", lambda: _start_if_dead(p))


def pause(target) -> Fault:
    """SIGSTOP its process group: frozen until undo (SIGCONT)."""
    p = _ours(target)
    if not p.alive:
        raise ValueError(f"{p.name} is not running ({p.status})")
    p.pause()
    return _record("pause", p, "frozen (SIGSTOP): connections accepted, nothing answered", p.resume)


def resume(target) -> Fault:
    """SIGCONT, and every pause or frozen isolation of it in force counted as undone."""
    p = _ours(target)
    for fault in in_force():
        if fault.target == p.name and fault.action in ("pause", "isolate") and "SIGSTOP" in fault.detail:
            fault.undo()
    p.resume()
    return _record("resume", p, "running again (SIGCONT)", None)


def slow(target, ms: int = 300, *, share: float = 0.2) -> Fault:
    """A service: each request waits `ms` first (its /_chaos delay). Anything else: run `share` of the time."""
    p = _ours(target)
    if not p.alive:
        raise ValueError(f"{p.name} is not running ({p.status})")
    if isinstance(p, Service) and p.service not in NO_CHAOS_ROUTE:
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 < ms <= 60_000:
            raise ValueError(f"ms must be a whole number of milliseconds from 1 to 60000, got {ms!r}")
        answer = p.get("/_chaos")
        answer.raise_for_status()
        before, handle_faults = answer.json(), dict(p.faults)  # the service's whole chaos state, and the handle's
        p.chaos(**{**handle_faults, "delay_ms": ms})

        def undo():
            if p.alive:
                p.put("/_chaos", json=before).raise_for_status()
                p.faults = handle_faults

        return _record("slow", p, f"every request waits {ms} ms first (/_chaos delay_ms)", undo)
    throttle = Throttle(p.pid, share=share)
    return _record("slow", p, f"runs {share:.0%} of the time (SIGSTOP/SIGCONT every 0.1 s)", throttle.stop)


def isolate(target, *, link: Service | None = None) -> Fault:
    """Cut it off: its `link` (a netem proxy in front of it) drops every request, or, without one, frozen."""
    p = _ours(target)
    if not p.alive:
        raise ValueError(f"{p.name} is not running ({p.status})")
    if link is None:
        p.pause()
        return _record("isolate", p, "frozen (SIGSTOP): unreachable, and it reaches no one", p.resume)
    answer = link.get("/_netem")
    answer.raise_for_status()
    before = {k: v for k, v in answer.json().items() if k in ("drop_rate", "drop_mode", "drop_next")}
    link.put("/_netem", json={"drop_rate": 1.0, "drop_mode": "silent"}).raise_for_status()

    def undo():
        if link.alive:
            link.put("/_netem", json=before).raise_for_status()

    return _record("isolate", p, f"its link {link.name} drops every request (the process itself runs on)", undo)


def restart(target) -> Fault:
    """Stop it (SIGTERM, SIGKILL after 5 s) and start it again: same port, same data. Nothing to undo."""
    p = _ours(target)
    for fault in in_force():  # a restart ends a pause or a kill of it; a throttle would freeze the new process
        if fault.target == p.name:
            fault.undo()
    p.restart()
    return _record("restart", p, f"stopped and started again, now pid {p.pid}", None)


ACTIONS = {"kill": kill, "pause": pause, "resume": resume, "slow": slow, "isolate": isolate, "restart": restart}


def in_force() -> list[Fault]:
    """The faults not yet put back, oldest first."""
    with _lock:
        return list(_in_force)


def undo_all(*, restart_killed: bool = True) -> list[Fault]:
    """Put back every fault in force, newest first (killed processes started again unless `restart_killed` is
    False). Returns what was undone; an undo that fails does not stop the others, its error is raised after."""
    undone, errors = [], []
    for fault in reversed(in_force()):
        if fault.action == "kill" and not restart_killed:
            with _lock:
                _in_force.remove(fault)
            continue
        try:
            fault.undo()
            undone.append(fault)
        except Exception as error:  # noqa: BLE001 -- the others are still put back
            errors.append(error)
    if errors:
        raise errors[0]
    return undone


def _before_stop_all() -> None:
    undo_all(restart_killed=False)  # microcosm.stop_all(): no throttle left sending signals, nothing frozen


if _before_stop_all not in before_stop_all:
    before_stop_all.append(_before_stop_all)
