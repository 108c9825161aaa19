"""Break it on purpose (chapter 11): faults on any process, a load that remembers every answer, SLOs and their
scorecard, experiments with a prediction and a verdict, a panel of buttons, and a scripted game day.

    faults.py       kill, pause, resume, slow, isolate, restart: each a Fault record that can be undone
    throttle.py     slowing a process with no /_chaos route (Redis, ZooKeeper): its CPU cut by SIGSTOP/SIGCONT
    shoppers.py     a small steady load (browse, check out with an Idempotency-Key) that keeps every answer
    tally.py        lost and duplicated orders: what shoppers were told against what orders stored
    slo.py          SLOs and the scorecard: availability, p99, error budget, orders; a verdict per SLO
    from_hops.py    the same scorecard from the services' side: the hop records of the requests one answered
    experiments.py  a with-block: predict, break, always put back, judge
    panel.py        the ipywidgets chaos panel: a button per fault, a log, the scorecard redrawn live
    gameday.py      a scripted sequence of faults under load, and the scorecard at the end

Nothing here is imported by `import microcosm`; ipywidgets is loaded only when a panel is made.
"""
from .experiments import Experiment, experiment
from .from_hops import answered
from .faults import Fault, in_force, isolate, kill, pause, restart, resume, slow, undo_all
from .shoppers import Shoppers
from .slo import SLOs, Scorecard, scorecard
from .tally import OrderTally, tally_orders

__all__ = ["Experiment", "Fault", "OrderTally", "SLOs", "Scorecard", "Shoppers", "answered", "experiment", "in_force",
           "isolate", "kill", "pause", "restart", "resume", "scorecard", "slow", "tally_orders", "undo_all"]
