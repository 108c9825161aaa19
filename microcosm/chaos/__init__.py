"""Break it on purpose (chapter 11): faults on any process, a load that remembers every answer, SLOs and their
scorecard, experiments with a prediction and a verdict, a panel of buttons, and a scripted game day.

    faults.py      kill, pause, resume, slow, isolate, restart: each a Fault record that can be undone
    throttle.py    slowing a process with no /_chaos route (Redis, ZooKeeper): its CPU cut by SIGSTOP/SIGCONT
    shoppers.py    a small steady load (browse, check out with an Idempotency-Key) that keeps every answer
    tally.py       lost and duplicated orders: what shoppers were told against what orders stored
    slo.py         SLOs and the scorecard: availability, p99, error budget, orders; a verdict per SLO
    experiment.py  a with-block: predict, break, always put back, judge
    panel.py       the ipywidgets chaos panel: a button per fault, a log, the scorecard redrawn live
    gameday.py     a scripted sequence of faults under load, and the scorecard at the end
"""
from __future__ import annotations

_NAMES = {
    "Fault": "faults", "kill": "faults", "pause": "faults", "resume": "faults", "slow": "faults",
    "isolate": "faults", "restart": "faults", "in_force": "faults", "undo_all": "faults",
    "Shoppers": "shoppers", "SLOs": "slo", "Scorecard": "slo", "scorecard": "slo", "tally": "tally",
    "experiment": "experiment", "Experiment": "experiment", "panel": "panel", "ChaosPanel": "panel",
    "gameday": "gameday", "Step": "gameday",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_NAMES[name]}", __name__), name)
    globals()[name] = value
    return value
