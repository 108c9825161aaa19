"""Showing results in a notebook: small HTML tables and charts, instead of a wall of printed text.

    from microcosm.show import table, percentile_chart, status_chart
    table([("catalog-1", 312), ("catalog-2", 9)], ["instance", "requests"])
    percentile_chart({"round_robin": {"p50_ms": 4, "p95_ms": 510, "p99_ms": 530}, ...})   # bars on a log scale
    status_chart([(0.05, 200), (0.10, 429), ...])                                           # a mark per answer

Chapters and labs import these rather than defining their own, so every notebook shows results the same way.
"""
from __future__ import annotations

import html
import math


class HTMLTable:
    """An HTML table that Jupyter renders (and that prints as aligned text anywhere else)."""

    def __init__(self, rows, columns):
        self.rows = [tuple(row) for row in rows]
        self.columns = tuple(columns)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in row)
                       + "</tr>" for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        rows = [tuple(str(c) for c in self.columns)] + [tuple(str(v) for v in row) for row in self.rows]
        widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def table(rows, columns) -> HTMLTable:
    """A small table: `rows` are sequences of values, `columns` their headings. Values are escaped."""
    return HTMLTable(rows, columns)


class SVGChart:
    """A chart as one SVG drawing: Jupyter renders it, `.svg` is its text (for a test, or a file)."""

    def __init__(self, svg: str, title: str):
        self.svg, self.title = svg, title

    def _repr_html_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"<chart: {self.title}>"


PERCENTILES = {"p50_ms": "#4c78a8", "p95_ms": "#f58518", "p99_ms": "#e45756"}  # key in a run -> its bar's colour


def percentile_chart(runs: dict, width: int = 640) -> SVGChart:
    """Horizontal bars of p50, p95 and p99 for each run, on a log scale (latencies here vary by 100x).

    `runs` maps a name (a strategy, say) to a dict with `p50_ms`, `p95_ms` and `p99_ms` (None counts as 1 ms).
    """
    top = max([max((r.get(k) or 1) for k in PERCENTILES) for r in runs.values()] + [1]) * 2
    scale = lambda ms: 150 + (width - 170) * math.log10(max(ms or 1, 1)) / math.log10(top)
    bars, y = [], 20
    for name, r in runs.items():
        bars.append(f"<text x='0' y='{y + 20}' font-size='12'>{html.escape(str(name))}</text>")
        for k, colour in PERCENTILES.items():
            ms = r.get(k) or 1
            bars.append(f"<rect x='150' y='{y}' width='{scale(ms) - 150:.0f}' height='11' fill='{colour}'>"
                        f"<title>{html.escape(str(name))} {k[:3]} {ms:g} ms</title></rect>"
                        f"<text x='{scale(ms) + 4:.0f}' y='{y + 10}' font-size='10'>{ms:g}</text>")
            y += 13
        y += 12
    ticks = [t for t in (1, 10, 100, 1000, 10000, 100000) if t <= top]
    axis = "".join(f"<line x1='{scale(t):.0f}' x2='{scale(t):.0f}' y1='14' y2='{y}' stroke='#ddd'/>"
                   f"<text x='{scale(t):.0f}' y='10' font-size='10' text-anchor='middle'>{t} ms</text>" for t in ticks)
    legend = "".join(f"<rect x='{150 + i * 70}' y='{y + 4}' width='10' height='10' fill='{c}'/>"
                     f"<text x='{164 + i * 70}' y='{y + 13}' font-size='11'>{k[:3]}</text>"
                     for i, (k, c) in enumerate(PERCENTILES.items()))
    return SVGChart(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{y + 24}' "
                    f"style='font-family:sans-serif'>{axis}{''.join(bars)}{legend}</svg>",
                    f"p50/p95/p99 of {len(runs)} runs")


def status_colour(status: int) -> str:
    """Green for a success, amber for a refusal (4xx), red for a server error (5xx)."""
    return "#2da44e" if status < 400 else ("#bf8700" if status < 500 else "#cf222e")


def status_chart(answers, width: int = 640, seconds: float | None = None) -> SVGChart:
    """One mark per answer along a time axis, one row per status code (200 on top, then 429, ...).

    `answers` are sequences whose first two items are (seconds since the start, status code); more items are
    ignored, so a cell's own records (time, status, Retry-After, ...) can go in as they are. The axis runs to
    `seconds`, by default the whole seconds that hold the last answer.
    """
    answers = [(t, int(s)) for t, s, *_ in answers]
    seconds = seconds or max(1, math.ceil(max((t for t, _ in answers), default=0)))
    rows = {status: i for i, status in enumerate(sorted({s for _, s in answers}))}
    top = lambda status: 20 + 30 * rows[status]
    bottom = 20 + 30 * max(1, len(rows)) - 5
    x = lambda t: 40 + (width - 60) * t / seconds
    marks = "".join(f"<rect x='{x(t):.1f}' y='{top(s)}' width='3' height='20' fill='{status_colour(s)}'/>"
                    for t, s in answers)
    ticks = "".join(f"<line x1='{x(t):.0f}' x2='{x(t):.0f}' y1='15' y2='{bottom}' stroke='#ddd'/>"
                    f"<text x='{x(t):.0f}' y='{bottom + 15}' font-size='10' text-anchor='middle'>{t} s</text>"
                    for t in range(int(seconds) + 1))
    labels = "".join(f"<text x='0' y='{top(s) + 14}' font-size='11'>{s}</text>" for s in rows)
    return SVGChart(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{bottom + 25}' "
                    f"style='font-family:sans-serif'>{ticks}{labels}{marks}</svg>",
                    f"{len(answers)} answers over {seconds:g} s")


def short(text, n: int = 24) -> str:
    """The start of a long string (a token, a hash, a key id), enough to recognise it in a table."""
    text = str(text)
    return text if len(text) <= n else text[:n] + "…"
