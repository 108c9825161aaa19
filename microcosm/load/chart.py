"""Charts and tables of a load run, as plain SVG and HTML (live in a widget, static in a saved notebook)."""
from __future__ import annotations

import html

W, H, PAD_L, PAD_B, PAD_T = 300, 150, 44, 22, 22
BLUE, RED, ORANGE, PURPLE, GREY, INK = "#0969da", "#cf222e", "#bf8700", "#8250df", "#8c959f", "#24292f"


def _panel(title, history, series, events, x_max):
    """One small line chart: `series` is [(key, label, colour)] over history's 't'."""
    values = [h[k] for h in history for k, _, _ in series if h.get(k) is not None]
    y_max = max(values + [1]) * 1.15
    x = lambda t: PAD_L + (W - PAD_L - 8) * t / max(x_max, 1e-9)
    y = lambda v: PAD_T + (H - PAD_T - PAD_B) * (1 - v / y_max)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="10">',
           f'<text x="{PAD_L}" y="12" font-weight="bold" fill="{INK}">{html.escape(title)}</text>',
           f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - 8}" y2="{H - PAD_B}" stroke="{GREY}"/>',
           f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="{GREY}"/>',
           f'<text x="{PAD_L - 4}" y="{PAD_T + 4}" text-anchor="end" fill="{GREY}">{y_max:.0f}</text>',
           f'<text x="{PAD_L - 4}" y="{H - PAD_B}" text-anchor="end" fill="{GREY}">0</text>',
           f'<text x="{W - 8}" y="{H - 6}" text-anchor="end" fill="{GREY}">{x_max:.0f} s</text>']
    for at, label in events:
        out.append(f'<line x1="{x(at):.1f}" y1="{PAD_T}" x2="{x(at):.1f}" y2="{H - PAD_B}" stroke="{GREY}" '
                   f'stroke-dasharray="3,3"><title>{html.escape(label)} at {at:g} s</title></line>'
                   f'<text x="{x(at) + 2:.1f}" y="{PAD_T + 8}" fill="{GREY}">{html.escape(label.split(".")[-1])}</text>')
    legend_x = PAD_L + 80
    for key, label, colour in series:
        points = " ".join(f"{x(h['t']):.1f},{y(h[key]):.1f}" for h in history if h.get(key) is not None)
        if points:
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        out.append(f'<text x="{legend_x}" y="12" fill="{colour}">{html.escape(label)}</text>')
        legend_x += 7 * len(label) + 10
    out.append("</svg>")
    return "".join(out)


def history_svg(history: list[dict], events=()) -> str:
    """Throughput and failures beside latency, over the run; events as dashed lines."""
    if not history:
        return "<p><i>Waiting for the first figures…</i></p>"
    x_max = max(h["t"] for h in history)
    return ("<div style='display:flex;gap:12px;flex-wrap:wrap'>"
            + _panel("requests/s", history, [("rps", "ok+failed", BLUE), ("fps", "failed", RED)], events, x_max)
            + _panel("latency (ms)", history, [("p50_ms", "p50", PURPLE), ("p95_ms", "p95", ORANGE)], events, x_max)
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
