"""A game day: a script of faults run one after another under a steady load, and the scorecard at the end.

    report = game_day(system, [
        Step("a catalog instance crashes", "kill", "catalog-1", seconds=2, predict={"availability": True}),
        Step("orders freezes", "pause", "orders", seconds=1.5, predict={"lost orders": True}),
    ], catalog=system["catalog-lb"], orders=system["orders"])

Shoppers (shoppers.py) browse and check out the whole time. Each step is an experiment (experiments.py): its
fault is done, held for `seconds`, put back, and `calm` seconds later judged over its window against the
prediction. The printout is a line per step with its verdicts, then the scorecard of the whole run (every
request, the error budget, lost and duplicated orders counted from orders' own database). `default_script`
makes a script from whatever a system runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .experiments import experiment
from .faults import ACTIONS
from .shoppers import Shoppers
from .slo import SLOs, Scorecard, scorecard
from .tally import tally_orders


@dataclass(frozen=True)
class Step:
    name: str
    action: str                 # kill, pause, slow, isolate, restart
    target: str                 # a process name in the system
    seconds: float = 2.0        # how long the fault is held before it is put back
    predict: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # slow: {"ms": 300}; isolate: {"link": a netem Service}

    def __post_init__(self):
        if self.action not in ACTIONS or self.action == "resume":
            raise ValueError(f"a step's action is one of kill, pause, slow, isolate, restart (not {self.action!r})")
        if not 0 <= self.seconds <= 600:
            raise ValueError(f"seconds must be from 0 to 600, not {self.seconds!r}")


@dataclass
class GameDay:
    steps: list
    experiments: list
    card: Scorecard
    seconds: float

    def lines(self) -> list[str]:
        out = []
        for step, ex in zip(self.steps, self.experiments):
            c = ex.card
            out.append(f"{step.name}: {step.action} {step.target} for {step.seconds:g} s: "
                       f"{c.failures} of {c.requests} requests failed, p99 "
                       f"{'-' if c.p99_ms is None else f'{c.p99_ms:.0f} ms'}; "
                       f"{ex.predictions_right} of {len(ex.predict)} predictions right")
            out += [f"    {line}" for line in ex.verdict()]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines() + ["", str(self.card)])

    def _repr_html_(self) -> str:
        import html

        steps = "<br>".join(html.escape(line).replace("    ", "&emsp;") for line in self.lines())
        return f"<div class='microcosm-gameday'><p>{steps}</p>{self.card._repr_html_()}</div>"


def _by_name(source, name: str):
    if hasattr(source, "processes"):
        found = [p for p in source.processes() if p.name == name]
    else:
        found = [p for p in source if getattr(p, "name", None) == name]
    if not found:
        raise ValueError(f"no process named {name!r} to break")
    return found[0]


def game_day(source, steps: list[Step], *, catalog, orders=None, users: int = 3, slos: SLOs | None = None,
             calm: float = 1.0, keyed: bool = True, out: Callable[[str], None] | None = print,
             **shopper_options) -> GameDay:
    """Run `steps` against the processes of `source` (a System or a list of processes) under shoppers browsing
    `catalog` and checking out at `orders`; print (with `out`) and return the report."""
    slos = slos or SLOs()
    targets = [_by_name(source, step.target) for step in steps]  # every name checked before anything breaks
    shoppers = Shoppers(catalog, orders, users=users, keyed=keyed,
                        checkout_every=shopper_options.pop("checkout_every", 3 if orders is not None else 0),
                        **shopper_options)
    experiments = []
    began = time.time()
    with shoppers:
        time.sleep(calm)  # a calm start: the figures before anything breaks are part of the day
        for step, target in zip(steps, targets):
            with experiment(step.name, shoppers, predict=step.predict, slos=slos, settle=calm) as ex:
                getattr(ex, step.action)(target, **step.options)
                time.sleep(step.seconds)
            experiments.append(ex)
            if out:
                out(GameDay([step], [ex], ex.card, 0).lines()[0])
    orders_count = tally_orders(orders, shoppers.checkouts, shoppers.since_order_id) if orders is not None else None
    card = scorecard(shoppers.seen(), slos, orders=orders_count,
                     title=f"game day: {len(steps)} faults, {shoppers.stopped - began:.0f} s, {users} shoppers")
    report = GameDay(list(steps), experiments, card, shoppers.stopped - began)
    report.shoppers = shoppers
    if out:
        out("")
        out(str(card))
    return report


def default_script(system, seconds: float = 1.5) -> list[Step]:
    """A script from what `system` runs: a catalog instance killed, orders frozen, a catalog instance slowed,
    the registry frozen, the identity provider killed, Redis frozen, a ZooKeeper node killed (each where the
    system has it)."""
    names = {p.name for p in system.processes()}
    steps = []
    if "catalog-1" in names:
        steps.append(Step("a catalog instance crashes", "kill", "catalog-1", seconds,
                          predict={"availability": True, "lost orders": True}))
    if "orders" in names:
        steps.append(Step("orders freezes", "pause", "orders", seconds,
                          predict={"p99": False, "lost orders": True, "duplicated orders": True}))
    if "catalog-2" in names:  # half the requests behind the balancer: far more than 1 in 100 wait 600 ms
        steps.append(Step("a catalog instance slows down", "slow", "catalog-2", seconds, predict={"p99": False},
                          options={"ms": 600}))
    if "registry" in names:  # instances keep their last list of peers; heartbeats fail until it thaws
        steps.append(Step("the registry freezes", "pause", "registry", seconds, predict={"availability": True}))
    if "identity" in names:  # tokens already issued still verify against the keys the gateway holds
        steps.append(Step("the identity provider crashes", "kill", "identity", seconds,
                          predict={"availability": True}))
    if "redis" in names:
        steps.append(Step("Redis freezes", "pause", "redis", seconds, predict={"availability": True}))
    for name in sorted(names):
        if name.startswith("zookeeper") or name.startswith("zk-"):
            steps.append(Step("a ZooKeeper node crashes", "kill", name, seconds, predict={"availability": True}))
            break
    return steps
