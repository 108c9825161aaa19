"""An experiment: a prediction, faults, and a verdict computed from what the shoppers saw meanwhile.

    with experiment("orders frozen for 2 s", shop, predict={"availability": False, "lost orders": True}) as ex:
        ex.pause(system["orders"])
        time.sleep(2)
    ex.card            # the scorecard over the experiment's window (slo.py)
    ex.verdict()       # each prediction against what happened: 'availability: predicted missed, was missed ✔'

Whatever happens inside the block (an exception, an interrupted cell), every fault it made is put back on the
way out, newest first, before the scorecard is computed. `predict` says, per SLO, whether you expect it met
(True) or missed (False); an SLO you did not predict is judged but not compared.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

from . import faults
from .slo import SLOs, scorecard
from .tally import tally_orders


class Experiment:
    def __init__(self, name: str, shoppers=None, predict: dict | None = None, slos: SLOs | None = None,
                 settle: float = 0.0):
        self.name, self.shoppers, self.slos, self.settle = name, shoppers, slos or SLOs(), settle
        self.predict = dict(predict or {})
        unknown = set(self.predict) - {"availability", "p99", "lost orders", "duplicated orders"}
        if unknown:
            raise ValueError(f"predict names SLOs: availability, p99, lost orders, duplicated orders "
                             f"(not {', '.join(sorted(unknown))})")
        self.faults: list[faults.Fault] = []
        self.started = self.ended = None
        self.card = None

    # --- the faults, recorded so they are put back ---------------------------------------------------------
    def _do(self, action: str, target, **options) -> faults.Fault:
        fault = faults.ACTIONS[action](target, **options)
        self.faults.append(fault)
        return fault

    def kill(self, target):
        return self._do("kill", target)

    def pause(self, target):
        return self._do("pause", target)

    def resume(self, target):
        return self._do("resume", target)

    def slow(self, target, ms: int = 300, **options):
        return self._do("slow", target, ms=ms, **options)

    def isolate(self, target, **options):
        return self._do("isolate", target, **options)

    def restart(self, target):
        return self._do("restart", target)

    def undo(self) -> None:
        """Put back every fault of this experiment, newest first; all are tried, the first error raised after."""
        errors = []
        for fault in reversed(self.faults):
            try:
                fault.undo()
            except Exception as error:  # noqa: BLE001 -- the others are still put back
                errors.append(error)
        if errors:
            raise errors[0]

    # --- the verdict ---------------------------------------------------------------------------------------
    def judge(self):
        """The scorecard over the experiment's window (needs shoppers): availability and p99 of the requests sent
        in the window; orders counted since the shoppers started (a checkout straddles any narrower window)."""
        if self.shoppers is None:
            return None
        orders = None
        if self.shoppers.orders_url is not None and self.shoppers.checkout_every:
            orders = tally_orders(self.shoppers.orders_url, self.shoppers.checkouts, self.shoppers.since_order_id)
        self.card = scorecard(self.shoppers.seen(self.started, self.ended), self.slos, orders=orders,
                              title=self.name)
        return self.card

    def verdict(self) -> list[str]:
        """A line per prediction: what was predicted, what the scorecard says, right or wrong."""
        if self.card is None:
            return [f"{self.name}: no scorecard (run it with shoppers)"]
        word = {True: "met", False: "missed", None: "not judged"}
        lines = []
        for slo, expected in self.predict.items():
            actual = self.card.verdicts.get(slo)
            if actual is None:
                lines.append(f"{slo}: predicted {word[expected]}, not judged (nothing to count in the window)")
                continue
            right = "✔ as predicted" if actual == expected else "✘ not as predicted"
            lines.append(f"{slo}: predicted {word[expected]}, was {word[actual]} {right}")
        return lines

    @property
    def predictions_right(self) -> int:
        return sum(self.card is not None and self.card.verdicts.get(s) == e for s, e in self.predict.items())

    def log(self) -> list[str]:
        return [f.line() for f in self.faults]


@contextmanager
def experiment(name: str, shoppers=None, *, predict: dict | None = None, slos: SLOs | None = None,
               settle: float = 0.0):
    """Run faults in a with-block; they are all put back when it ends, however it ends. `settle` seconds after
    the undo are still in the window (a restarted service's first answers count). With `shoppers` running, the
    experiment's `card` is the scorecard of the requests sent in the window."""
    ex = Experiment(name, shoppers, predict, slos, settle)
    ex.started = time.time()
    try:
        yield ex
    finally:
        try:
            ex.undo()
        finally:
            if settle:
                time.sleep(settle)
            ex.ended = time.time()
    ex.judge()
