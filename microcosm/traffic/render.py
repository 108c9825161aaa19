"""Pictures of the traffic model as plain SVG and HTML: they work in JupyterLab, Notebook 7, Binder, nbconvert
and on GitHub, with or without a widget frontend."""
from __future__ import annotations

import html
from collections import defaultdict

from .model import CLIENT, TrafficModel

# left to right, the order a request crosses the components; anything else goes after the gateway
TIERS = {CLIENT: 0, "cdn": 1, "balancer": 2, "gateway": 3, "identity": 4, "registry": 6, "redis": 7}
BOX_W, BOX_H, INSTANCE_H, GAP_X, GAP_Y = 140, 34, 26, 110, 24
GREEN, RED, GREY, INK = "#1a7f37", "#cf222e", "#8c959f", "#24292f"


def _layers(model: TrafficModel) -> dict[str, int]:
    """Each service's column: callers to the left of callees (longest path from the client)."""
    services = list(model.nodes())
    calls = defaultdict(set)
    instance_service = {i: s for s, instances in model.nodes().items() for i in instances}
    for e in model.edges():
        a, b = instance_service.get(e["from"], e["from"]), instance_service.get(e["to"], e["to"])
        if a != b:
            calls[a].add(b)
    layer = {s: TIERS.get(s, 4 if s != CLIENT else 0) for s in services}
    for _ in range(len(services)):
        changed = False
        for a, targets in calls.items():
            for b in targets:
                if layer.get(b, 0) <= layer.get(a, 0) and b != CLIENT and layer.get(a, 0) < 12:
                    layer[b] = layer[a] + 1
                    changed = True
        if not changed:
            break
    used = sorted(set(layer.values()))
    return {s: used.index(v) for s, v in layer.items()}


def _service_of(nodes: dict[str, list[str]], instance: str) -> str:
    return next((service for service, instances in nodes.items() if instance in instances), instance)


def topology_svg(model: TrafficModel, title: str = "") -> str:
    """Services as boxes holding their instances, calls as arrows labelled with req/s and errors."""
    nodes = model.nodes()
    if not nodes:
        return "<p><i>No services yet: launch one and send it a request.</i></p>"
    layers = _layers(model)
    columns = defaultdict(list)
    for service in nodes:
        columns[layers[service]].append(service)
    pos, boxes = {}, []
    height = 0
    skips = any(abs(layers.get(_service_of(nodes, e["to"]), 0) - layers.get(_service_of(nodes, e["from"]), 0)) > 1
                for e in model.edges())
    top = 62 if skips else 30  # room above the boxes for calls that skip a column
    for col, services in sorted(columns.items()):
        y = top
        x = 20 + col * (BOX_W + GAP_X)
        for service in services:
            instances = nodes[service]
            h = BOX_H + INSTANCE_H * len(instances)
            boxes.append((service, x, y, h, instances))
            for i, inst in enumerate(instances):
                pos[inst] = (x, y + BOX_H + INSTANCE_H * i + INSTANCE_H / 2 - 4)
            y += h + GAP_Y
        height = max(height, y)
    width = 40 + (max(columns) + 1) * (BOX_W + GAP_X) - GAP_X
    lat = model.latency()
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 10}" '
             f'viewBox="0 0 {width} {height + 10}" font-family="sans-serif" font-size="12" class="microcosm-topology">',
             '<defs><marker id="mc-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
             f'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{INK}"/>'
             '</marker></defs>']
    if title:
        parts.append(f'<text x="20" y="18" font-weight="bold" fill="{INK}">{html.escape(title)}</text>')
    for service, x, y, h, instances in boxes:
        stats = lat.get(service)
        colour = RED if stats and stats["errors"] else (GREEN if stats else GREY)
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="8" fill="#f6f8fa" '
                     f'stroke="{colour}" stroke-width="2"><title>{html.escape(service)}</title></rect>')
        label = html.escape(service)
        if stats:
            label += f'  <tspan fill="{GREY}">p50 {stats["p50"]:.0f} ms</tspan>'
        parts.append(f'<text x="{x + 10}" y="{y + 21}" font-weight="bold" fill="{INK}">{label}</text>')
        for i, inst in enumerate(instances):
            iy = y + BOX_H + INSTANCE_H * i
            parts.append(f'<rect x="{x + 8}" y="{iy}" width="{BOX_W - 16}" height="{INSTANCE_H - 6}" rx="4" '
                         f'fill="white" stroke="{GREY}"/><text x="{x + 16}" y="{iy + 14}" fill="{INK}">'
                         f'{html.escape(inst)}</text>')
    for e in model.edges():
        if e["from"] not in pos or e["to"] not in pos or e["from"] == e["to"]:
            continue
        (x1, y1), (x2, y2) = pos[e["from"]], pos[e["to"]]
        x1 += BOX_W - 8
        x2 += 8
        colour = RED if e["errors"] else INK
        width_px = 1 + min(4, e["rps"] / 5)
        if x2 - x1 > GAP_X + 20:  # it skips a column: arc over the boxes in between
            cy = top - 70
            path = f"M {x1} {y1} C {x1 + 70} {cy}, {x2 - 70} {cy}, {x2} {y2}"
            lx, ly = (x1 + x2) / 2, 0.125 * (y1 + y2) + 0.75 * cy - 4
        else:
            path = f"M {x1} {y1} L {x2} {y2}"
            lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 - 6
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width_px:.1f}" '
                     f'marker-end="url(#mc-arrow)"><title>{html.escape(e["from"])} → {html.escape(e["to"])}</title></path>')
        label = f'{e["rps"]:g}/s' + (f' · {e["errors"]} failed' if e["errors"] else "")
        parts.append(f'<text x="{lx}" y="{ly}" text-anchor="middle" font-size="11" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list], right_from: int = 1) -> str:
    head = "".join(f'<th style="text-align:{"left" if i < right_from else "right"}">{html.escape(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td style="text-align:{"left" if i < right_from else "right"}">{v}</td>'
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ms(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def latency_table(model: TrafficModel) -> str:
    rows = [[html.escape(s), v["requests"], f'<span style="color:{RED if v["errors"] else INK}">{v["errors"]}</span>',
             _ms(v["p50"]), _ms(v["p95"]), _ms(v["p99"])] for s, v in model.latency().items()]
    if not rows:
        return "<p><i>No requests in the last window.</i></p>"
    return (f"<div><b>Last {model.window:g} s</b></div>" +
            _table(["service", "requests", "errors (5xx)", "p50 ms", "p95 ms", "p99 ms"], rows))


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
        colour = RED if h["status"] >= 500 else ("#bf8700" if h["status"] >= 400 else GREEN)
        bar = (f'<div style="position:relative;height:14px;width:320px;background:#f6f8fa">'
               f'<div style="position:absolute;left:{left:.1f}%;width:{width:.1f}%;height:14px;background:{colour}"></div></div>')
        who = "&nbsp;&nbsp;&nbsp;" * h["depth"] + f'{html.escape(h.get("caller_instance") or h.get("caller") or "")} → ' \
              f'{html.escape(h.get("instance") or h.get("callee") or "")}'
        what = f'{html.escape(h["method"])} {html.escape(h["path"])}'
        note = html.escape(h.get("error") or "")
        rows.append([who, what, h["status"], f'{h["ms"]:.1f}', bar, note])
    return (f"<div><b>Request {html.escape(request_id)}</b></div>" +
            _table(["hop", "call", "status", "ms", "timeline", "note"], rows, right_from=2))
