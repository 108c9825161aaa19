"""Service level objectives and the scorecard that judges a run against them.

    slos = SLOs(availability=0.99, p99_ms=500)           # zero lost and zero duplicated orders by default
    card = scorecard(shop.seen(t0, t1), slos, orders=tally_orders(...))
    card.verdicts      # {"availability": True, "p99": False, "lost orders": True, "duplicated orders": True}
    card               # in a notebook: the table and the error budget as a bar

Availability is the share of requests answered without a server failure (a 5xx, or no answer at all: refused,
reset, timed out); a 4xx is the client's mistake and counts as answered. The error budget is what the target
allows over this many requests, `(1 - availability) x requests` failures, against the failures spent. p99 is
the nearest-rank 99th percentile of every request's time (a failure's too: a timeout is a slow answer). Every
figure is counted from the observations given; nothing here is a constant but the targets.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

from .tally import OrderTally


@dataclass(frozen=True)
class SLOs:
    availability: float = 0.99   # share of requests answered without a server failure
    p99_ms: float = 500.0        # 99 of 100 requests answered within this
    lost_orders: int = 0         # acknowledged orders that are gone
    duplicated_orders: int = 0   # orders placed twice

    def __post_init__(self):
        if not 0 < self.availability < 1:
            raise ValueError(f"availability is a share between 0 and 1 (0.99 is 99%), not {self.availability!r}")
        if self.p99_ms <= 0:
            raise ValueError(f"p99_ms must be a positive number of milliseconds, not {self.p99_ms!r}")


def failed(status: int) -> bool:
    """A server failure: a 5xx, or no answer (status 0)."""
    return status == 0 or status >= 500


def p99(values) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(0.99 * len(ordered)) - 1))]


@dataclass(frozen=True)
class Scorecard:
    slos: SLOs
    requests: int
    failures: int
    p99_ms: float | None
    orders: OrderTally | None = None
    title: str = ""
    by_status: dict = field(default_factory=dict)

    @property
    def availability(self) -> float | None:
        return None if not self.requests else (self.requests - self.failures) / self.requests

    @property
    def budget(self) -> float:
        """The failures the availability target allows over these requests."""
        return (1 - self.slos.availability) * self.requests

    @property
    def budget_left(self) -> float:
        """The allowed failures not spent (negative: overspent)."""
        return self.budget - self.failures

    @property
    def budget_left_share(self) -> float | None:
        """budget_left as a share of the budget (1: untouched, 0: spent, below 0: overspent)."""
        return None if not self.budget else self.budget_left / self.budget

    @property
    def verdicts(self) -> dict[str, bool | None]:
        """Each SLO met (True), missed (False), or not judged (None: no requests, no orders counted)."""
        out = {"availability": None if self.availability is None else self.failures <= self.budget,
               "p99": None if self.p99_ms is None else self.p99_ms <= self.slos.p99_ms}
        if self.orders is not None:
            out["lost orders"] = self.orders.lost <= self.slos.lost_orders
            out["duplicated orders"] = self.orders.duplicated <= self.slos.duplicated_orders
        return out

    @property
    def met(self) -> bool:
        return all(v is not False for v in self.verdicts.values())

    def rows(self) -> list[tuple[str, str, str, bool | None]]:
        """(SLO, target, measured, met) for each SLO."""
        s = self.slos
        avail = "no requests" if self.availability is None else \
            f"{self.availability:.2%} ({self.failures} of {self.requests} failed)"
        rows = [("availability", f"≥ {s.availability:.2%}", avail, self.verdicts["availability"]),
                ("p99", f"≤ {s.p99_ms:g} ms", "no requests" if self.p99_ms is None else f"{self.p99_ms:.0f} ms",
                 self.verdicts["p99"])]
        if self.orders is not None:
            o = self.orders
            rows += [("lost orders", f"≤ {s.lost_orders}", f"{o.lost} of {o.acknowledged} acknowledged",
                      self.verdicts["lost orders"]),
                     ("duplicated orders", f"≤ {s.duplicated_orders}",
                      f"{o.duplicated} ({o.stored} stored for {o.placed} checkouts)"
                      + ("" if o.exact else ", at least"),
                      self.verdicts["duplicated orders"])]
        return rows

    def budget_line(self) -> str:
        return (f"error budget: {self.budget:.1f} failures allowed, {self.failures} spent, "
                f"{self.budget_left:.1f} left" + ("" if self.budget_left_share is None
                                                  else f" ({self.budget_left_share:.0%})"))

    def __str__(self) -> str:
        word = {True: "met", False: "MISSED", None: "not judged"}
        table = [("SLO", "target", "measured", "verdict")] + [(a, b, c, word[d]) for a, b, c, d in self.rows()]
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
        head = [self.title] if self.title else []
        return "\n".join(head + lines + [self.budget_line()])

    def _repr_html_(self) -> str:
        mark = {True: "<span style='color:#1a7f37'>✔ met</span>",
                False: "<span style='color:#cf222e'>✘ missed</span>",
                None: "<span style='color:#6e7781'>not judged</span>"}
        td = "<td style='text-align:left;padding:2px 12px 2px 0'>"
        body = "".join(f"<tr>{td}{html.escape(a)}</td>{td}{html.escape(b)}</td>{td}{html.escape(c)}</td>"
                       f"{td}{mark[d]}</td></tr>" for a, b, c, d in self.rows())
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        th = "".join(f"<th style='text-align:left;padding:2px 12px 2px 0'>{h}</th>"
                     for h in ("SLO", "target", "measured", "verdict"))
        return (f"<div class='microcosm-scorecard'>{title}<table><thead><tr>{th}</tr></thead>"
                f"<tbody>{body}</tbody></table>"
                f"{budget_bar(self)}</div>")


def budget_bar(card: Scorecard, width: int = 320) -> str:
    """The error budget as a bar: the share left in green, spent in grey, overspent shown as a red bar."""
    share = card.budget_left_share
    left = 0.0 if share is None else max(0.0, min(1.0, share))
    colour = "#1a7f37" if left > 0.25 else "#bf8700" if left > 0 else "#cf222e"
    fill = left * width if left > 0 else width if share is not None and share < 0 else 0
    return (f"<div class='microcosm-budget' title='{html.escape(card.budget_line(), quote=True)}'>"
            f"<svg width='{width}' height='14'><rect width='{width}' height='14' fill='#eaeef2'/>"
            f"<rect class='left' width='{fill:.1f}' height='14' fill='{colour}'/></svg> "
            f"<small>{html.escape(card.budget_line())}</small></div>")


def scorecard(observations, slos: SLOs | None = None, *, orders: OrderTally | None = None,
              title: str = "") -> Scorecard:
    """Judge `observations` (Shoppers' Observation: at, kind, status, ms) and an order tally against `slos`."""
    observations = list(observations)
    statuses: dict[int, int] = {}
    for o in observations:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    return Scorecard(slos or SLOs(), len(observations), sum(failed(o.status) for o in observations),
                     p99(o.ms for o in observations), orders, title, statuses)
