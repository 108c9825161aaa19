"""Charts of what a client did (chapter 09), drawn as SVG like microcosm.show's charts.

    from microcosm.clients.chart import breaker_chart, amplification_chart
    breaker_chart(client.breaker_events, client.attempts)        # the breaker's life, and every attempt
    amplification_chart({"no retries": 1.0, "naive": 1.9, "jitter + budget": 1.25})

`breaker_chart` draws one lane per breaker state (closed, half-open, open): a coloured band where the breaker
was in that state, and a dashed line at each change of state. Under it, a mark per attempt, in three rows:
sent and answered well, sent and failed (no answer, a timeout, a 429 or 5xx), refused fast by the open breaker
(nothing sent). Time runs in seconds from the first event or attempt.

`amplification_chart` draws a bar per retry style: requests the server saw per request the clients made
(bench/client_retries.py measures them), with a line at 1.0, the load of clients that never retry.

Each chart keeps what it drew, so a test can check it without parsing SVG: `chart.labels` (every text, with
its box: x, y, width, height), and for the breaker chart `chart.bands` (state, start s, end s) and
`chart.transitions` (t s, from, to).
"""
from __future__ import annotations

import html
import math

from ..show import SVGChart
from .client import RETRY_STATUSES

STATES = (("closed", "#2da44e", "closed"), ("half_open", "#bf8700", "half-open"), ("open", "#cf222e", "open"))
ATTEMPTS = (("ok", "#2da44e", "sent, ok"), ("failed", "#cf222e", "sent, failed"),
            ("refused", "#8c959f", "refused fast (open)"))
FONT = 11
LANE, GAP, RIGHT, TOP = 18, 6, 20, 10
LEFT = 12 + round(0.6 * FONT * max(len(label) for _, _, label in STATES + ATTEMPTS))  # room for the row names
TICK_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


class _Drawing:
    """SVG parts and the boxes of the texts among them (width estimated: 0.6 em a character)."""

    def __init__(self):
        self.parts: list[str] = []
        self.labels: list[dict] = []

    def text(self, x: float, y: float, s: str, size: int = FONT, anchor: str = "start", fill: str = "#24292f"):
        w = 0.6 * size * len(s)
        left = x - (w if anchor == "end" else w / 2 if anchor == "middle" else 0)
        self.labels.append({"text": s, "x": left, "y": y - size * 0.8, "width": w, "height": size})
        self.parts.append(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
                          f"fill='{fill}'>{html.escape(s)}</text>")

    def add(self, svg: str):
        self.parts.append(svg)

    def chart(self, width: float, height: float, title: str) -> SVGChart:
        chart = SVGChart(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
                         f"style='font-family:sans-serif'>{''.join(self.parts)}</svg>", title)
        chart.labels = self.labels
        return chart


def attempt_kind(attempt: dict) -> str:
    """"ok", "failed" or "refused" for an entry of `client.attempts`."""
    outcome = str(attempt.get("outcome", ""))
    if outcome == "circuit open":
        return "refused"
    if outcome.isdigit() and int(outcome) not in RETRY_STATUSES:
        return "ok"
    return "failed"


def tick_step(seconds: float, pixels: float, label_width: float = 40) -> float:
    """The smallest round step (s) whose ticks are at least a label's width (and a gap) apart."""
    for step in TICK_STEPS:
        if pixels * step / seconds >= label_width + 8:
            return step
    return max(TICK_STEPS[-1], seconds)


def _seconds_label(t: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{t:.{digits}f} s"


def breaker_bands(events, start: float, end: float, initial: str | None = None) -> list[tuple[str, float, float]]:
    """(state, from s, to s) from `client.breaker_events`, in seconds since `start`, up to `end` (absolute)."""
    events = sorted(events, key=lambda e: e["t"])
    state = initial or (events[0].get("was") if events else None) or "closed"
    bands, at = [], 0.0
    for e in events:
        t = e["t"] - start
        if t > at:
            bands.append((state, at, t))
        state, at = e["state"], max(at, t)
    if end - start > at or not bands:
        bands.append((state, at, max(at, end - start)))
    return bands


def breaker_chart(events, attempts=(), *, width: int = 640, start: float | None = None, end: float | None = None,
                  initial: str | None = None, title: str = "circuit breaker") -> SVGChart:
    """The breaker's states over time (a band per state, a dashed line per change) and a mark per attempt.

    `events`: `client.breaker_events` ({"t", "state", "was"}); `attempts`: `client.attempts` ({"t", "outcome",
    ...}); both with wall-clock times (time.time()). The axis starts at `start` (default: the first event or
    attempt) and ends at `end` (default: the last one); `initial` is the state before the first event (default:
    that event's "was", or closed).
    """
    events, attempts = list(events), list(attempts)
    times = [e["t"] for e in events] + [a["t"] for a in attempts]
    start = min(times) if start is None and times else (start or 0.0)
    end = max(times + [start]) if end is None else end
    seconds = max(end - start, 1e-3)
    plot = width - LEFT - RIGHT
    x = lambda t: LEFT + plot * min(max(t, 0.0), seconds) / seconds  # noqa: E731  t: seconds since start
    d = _Drawing()
    rows = [(key, colour, label, "state") for key, colour, label in STATES] + \
           [(key, colour, label, "attempt") for key, colour, label in ATTEMPTS]
    y_of = {}
    y = TOP
    for i, (key, colour, label, kind) in enumerate(rows):
        if kind == "attempt" and rows[i - 1][3] == "state":
            y += GAP * 2  # a gap between the breaker's lanes and the attempts' rows
        y_of[(kind, key)] = y
        d.add(f"<rect x='{LEFT}' y='{y}' width='{plot}' height='{LANE}' fill='#f6f8fa'/>")
        d.text(LEFT - 6, y + LANE - 5, label, anchor="end")
        y += LANE + GAP
    bottom = y - GAP
    bands = breaker_bands(events, start, end, initial) if (events or attempts or initial) else []
    for state, t0, t1 in bands:
        colour = dict((k, c) for k, c, _ in STATES).get(state, "#8c959f")
        d.add(f"<rect x='{x(t0):.1f}' y='{y_of.get(('state', state), TOP)}' width='{max(x(t1) - x(t0), 1.0):.1f}' "
              f"height='{LANE}' fill='{colour}' opacity='0.8'><title>{html.escape(state)} "
              f"{t0:.3f}–{t1:.3f} s</title></rect>")
    transitions = []
    for e in sorted(events, key=lambda e: e["t"]):
        t = e["t"] - start
        transitions.append((t, e.get("was"), e["state"]))
        d.add(f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{TOP}' y2='{y_of[('attempt', 'ok')] - GAP}' "
              f"stroke='#24292f' stroke-dasharray='3,2'><title>{html.escape(str(e.get('was')))} → "
              f"{html.escape(str(e['state']))} at {t:.3f} s</title></line>")
    for a in attempts:
        kind = attempt_kind(a)
        colour = dict((k, c) for k, c, _ in ATTEMPTS)[kind]
        d.add(f"<rect x='{x(a['t'] - start) - 1:.1f}' y='{y_of[('attempt', kind)] + 2}' width='2' "
              f"height='{LANE - 4}' fill='{colour}'><title>{html.escape(str(a.get('outcome')))} at "
              f"{a['t'] - start:.3f} s</title></rect>")
    step = tick_step(seconds, plot)
    for i in range(int(seconds / step + 1e-9) + 1):
        t = i * step
        d.add(f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{bottom}' y2='{bottom + 4}' stroke='#57606a'/>")
        d.text(x(t), bottom + 16, _seconds_label(t, step), size=10, anchor="middle")
    d.text(LEFT + plot, bottom + 30, "time (s)", size=10, anchor="end")
    if not events and not attempts:
        d.text(LEFT + plot / 2, TOP + LANE - 5, "no breaker events and no attempts yet", anchor="middle")
    chart = d.chart(width, bottom + 36, f"{title}: {len(transitions)} changes, {len(attempts)} attempts over "
                                         f"{seconds:.2f} s")
    chart.bands, chart.transitions = bands, transitions
    return chart


def amplification_chart(figures: dict, *, width: int = 480, title: str = "load amplification") -> SVGChart:
    """A bar per retry style: requests the server saw / requests the clients made (1.0: no extra load).

    `figures` maps a style's name to its amplification (a number), e.g. bench/client_retries.amplification()."""
    names = [str(n) for n in figures]
    left = 12 + max([0.6 * FONT * len(n) for n in names] + [40])
    plot = max(width - left - 50, 60)
    top_value = max([float(v) for v in figures.values() if v == v] + [1.0])
    top_value = math.ceil(top_value * 2) / 2  # a round end, at least 1.0
    x = lambda v: left + plot * v / top_value  # noqa: E731
    d = _Drawing()
    y = 10
    for name, value in figures.items():
        value = float(value)
        d.text(left - 6, y + 13, str(name), anchor="end")
        if value == value:
            colour = "#4c78a8" if value <= 1.05 else "#e45756"
            d.add(f"<rect x='{left}' y='{y + 2}' width='{max(x(value) - left, 1):.1f}' height='14' "
                  f"fill='{colour}'><title>{html.escape(str(name))}: {value:.2f}x</title></rect>")
            d.text(x(value) + 4, y + 13, f"{value:.2f}x", size=10)
        y += 22
    if not figures:
        d.text(left + plot / 2, y + 13, "no figures yet", anchor="middle")
        y += 22
    bottom = y
    d.add(f"<line x1='{x(1):.1f}' x2='{x(1):.1f}' y1='6' y2='{bottom}' stroke='#24292f' stroke-dasharray='3,2'/>")
    step = 0.5 if top_value <= 4 else math.ceil(top_value / 6)
    for i in range(int(top_value / step + 1e-9) + 1):
        v = i * step
        d.text(x(v), bottom + 14, f"{v:g}x", size=10, anchor="middle")
    d.text(left + plot, bottom + 28, "requests served / requests made", size=10, anchor="end")
    return d.chart(width, bottom + 34, f"{title} of {len(figures)} styles")
