"""The monitor's tables as plain HTML: latency percentiles per service, and one request hop by hop."""
from __future__ import annotations

import html

from ..model import TrafficModel
from ..caches import byte_count
from .boxes import ms, size

GREEN, RED, AMBER, INK = "#1a7f37", "#cf222e", "#bf8700", "#24292f"


def _table(headers: list[str], rows: list[list], right_from: int = 1) -> str:
    head = "".join(f'<th style="text-align:{"left" if i < right_from else "right"}">{html.escape(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td style="text-align:{"left" if i < right_from else "right"}">{v}</td>'
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def latency_table(model: TrafficModel) -> str:
    rows = [[html.escape(s), v["requests"], f'<span style="color:{RED if v["errors"] else INK}">{v["errors"]}</span>',
             ms(v["p50"]), ms(v["p95"]), ms(v["p99"])] for s, v in model.latency().items()]
    if not rows:
        return (f"<p><i>No requests in the last {model.window:g} s (the counts on the arrows run from when the "
                f"monitor opened).</i></p>")
    return (f"<div><b>Last {model.window:g} s</b></div>" +
            _table(["service", "requests", "failed (5xx, refused)", "p50", "p95", "p99"], rows))


def waterfall(model: TrafficModel, request_id: str) -> str:
    """One request hop by hop: who called whom, when, for how long, with what answer."""
    hops = model.trace(request_id)
    if not hops:
        return f"<p><i>No hops recorded for request {html.escape(request_id)}.</i></p>"
    start = min(h["ts"] for h in hops)
    end = max(h["ts"] + h["ms"] / 1000 for h in hops)
    span = max(end - start, 1e-6)
    rows = []
    for h in hops:
        left = (h["ts"] - start) / span * 100
        width = max(h["ms"] / 1000 / span * 100, 0.8)
        colour = RED if h["status"] >= 500 else (AMBER if h["status"] >= 400 else GREEN)
        bar = (f'<div style="position:relative;height:14px;width:320px;background:#f6f8fa">'
               f'<div style="position:absolute;left:{left:.1f}%;width:{width:.1f}%;height:14px;background:{colour}"></div></div>')
        who = "&nbsp;&nbsp;&nbsp;" * h["depth"] + f'{html.escape(h.get("caller_instance") or h.get("caller") or "")} → ' \
              f'{html.escape(h.get("instance") or h.get("callee") or "")}'
        what = f'{html.escape(h["method"])} {html.escape(h["path"])}'
        cache = f'{h["cache"]}, {size(byte_count(h.get("bytes")))}' if h.get("cache") else ""  # an edge's answer
        note = html.escape(h.get("error") or cache)
        rows.append([who, what, h["status"], f'{h["ms"]:.1f}', bar, note])
    return (f"<div><b>Request {html.escape(request_id)}</b></div>" +
            _table(["hop", "call", "status", "ms", "timeline", "note"], rows, right_from=2))
