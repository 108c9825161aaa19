"""Charts and tables of a load run, as plain SVG and HTML (live while it runs, static in a saved notebook).

Time runs from 0, the moment the users start, to the run's duration, from the first second: the axis does not
move while the run fills it, and an event (`events={2: catalog.kill}`) is drawn where it happened. Latency is
drawn per endpoint: different requests are never blended into one line.
"""
from __future__ import annotations

import html

W, H, PAD_L, PAD_R, PAD_B, PAD_T = 340, 180, 46, 10, 30, 40
BLUE, RED, ORANGE, PURPLE, GREEN, GREY, INK = "#0969da", "#cf222e", "#bf8700", "#8250df", "#1a7f37", "#8c959f", "#24292f"
ENDPOINT_COLOURS = (PURPLE, ORANGE, GREEN, BLUE, "#bc4c00", "#57606a")


def _panel(title, unit, history, series, events, duration):
    """One line chart over [0, duration] s: `series` is [(label, colour, value of a history row or None)]."""
    values = [v for h in history for _, _, get in series if (v := get(h)) is not None]
    y_max = max(values + [1]) * 1.15
    x = lambda t: PAD_L + (W - PAD_L - PAD_R) * min(max(t, 0), duration) / duration
    y = lambda v: PAD_T + (H - PAD_T - PAD_B) * (1 - v / y_max)
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           f'font-size="10" class="load-panel">',
           f'<text x="{PAD_L}" y="11" font-weight="bold" fill="{INK}">{esc(title)}</text>',
           f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="{GREY}"/>',
           f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="{GREY}"/>',
           f'<text x="{PAD_L - 4}" y="{PAD_T + 4}" text-anchor="end" fill="{GREY}">{y_max:.0f}</text>',
           f'<text x="{PAD_L - 4}" y="{H - PAD_B}" text-anchor="end" fill="{GREY}">0</text>',
           f'<text x="12" y="{(PAD_T + H - PAD_B) / 2:.0f}" fill="{GREY}" text-anchor="middle" '
           f'transform="rotate(-90 12 {(PAD_T + H - PAD_B) / 2:.0f})">{esc(unit)}</text>',
           f'<text x="{PAD_L}" y="{H - PAD_B + 12}" fill="{GREY}">0</text>',
           f'<text x="{W - PAD_R}" y="{H - PAD_B + 12}" text-anchor="end" fill="{GREY}">{duration:g}</text>',
           f'<text x="{(PAD_L + W - PAD_R) / 2:.0f}" y="{H - 4}" text-anchor="middle" fill="{GREY}">'
           f's since the load started</text>']
    for at, label in events:
        out.append(f'<g class="event" data-at="{at:g}"><line x1="{x(at):.1f}" y1="{PAD_T}" x2="{x(at):.1f}" '
                   f'y2="{H - PAD_B}" stroke="{INK}" stroke-dasharray="3,3"/><title>{esc(label)} at {at:g} s</title>'
                   f'<text x="{x(at) + 2:.1f}" y="{PAD_T + 9}" fill="{INK}">{esc(label.split(".")[-1])}</text></g>')
    legend_x, legend_y = PAD_L, 23
    for label, colour, get in series:
        points = " ".join(f"{x(h['t']):.1f},{y(v):.1f}" for h in history if (v := get(h)) is not None)
        if points:
            out.append(f'<polyline class="series" data-label="{esc(label)}" points="{points}" fill="none" '
                       f'stroke="{colour}" stroke-width="1.8"/>')
        if legend_x + 6 * len(label) > W - PAD_R:  # a second legend line
            legend_x, legend_y = PAD_L, legend_y + 11
        out.append(f'<text x="{legend_x}" y="{legend_y}" fill="{colour}">{esc(label)}</text>')
        legend_x += 6 * len(label) + 12
    out.append("</svg>")
    return "".join(out)


def endpoints_in(history: list[dict]) -> list[str]:
    """Every endpoint with a latency in the history, in the order they first answered."""
    return list(dict.fromkeys(e for h in history for e in h.get("latency", {})))


def history_svg(history: list[dict], events=(), duration: float | None = None) -> str:
    """Requests and failures per second beside the latency of each endpoint, over the run; events dashed."""
    duration = duration or max([h["t"] for h in history] + [1])
    throughput = [("ok+failed", BLUE, lambda h: h.get("rps")), ("failed", RED, lambda h: h.get("fps"))]
    latency = [(name, ENDPOINT_COLOURS[i % len(ENDPOINT_COLOURS)], lambda h, n=name: h.get("latency", {}).get(n))
               for i, name in enumerate(endpoints_in(history))]
    if not history:
        latency = []
    return ("<div style='display:flex;gap:12px;flex-wrap:wrap' class='load-chart'>"
            + _panel("requests per second", "requests/s", history, throughput, events, duration)
            + _panel("latency per endpoint (p50)", "ms", history, latency, events, duration)
            + "</div>")


def results_table(endpoints: list[dict], totals: dict) -> str:
    columns = [("method", "method"), ("name", "endpoint"), ("requests", "requests"), ("failures", "failures"),
               ("rps", "req/s"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms")]
    head = "".join(f"<th style='text-align:{'left' if i < 2 else 'right'}'>{label}</th>" for i, (_, label) in enumerate(columns))

    def row(r, bold=False):
        cells = []
        for i, (key, _) in enumerate(columns):
            value = r.get(key)
            text = "–" if value is None else html.escape(str(value))
            if key == "failures" and value:
                text = f"<span style='color:{RED}'>{text}</span>"
            cells.append(f"<td style='text-align:{'left' if i < 2 else 'right'}'>{'<b>' + text + '</b>' if bold else text}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    body = "".join(row(r) for r in endpoints) + row({**totals, "name": "all"}, bold=True)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
