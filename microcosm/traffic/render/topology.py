"""The topology as one SVG: service boxes placed by the layered layout (layout.py), instances inside their
box with their state and their own numbers (boxes.py), calls as curves with arrowheads, and one label per
caller and callee service giving the rate over the window and the count of each status class, placed
where it overlaps nothing (labels.py). Asynchronous edges (an event published into a stream, delivered from
one of its consumer groups) are dashed with an open arrowhead, so they never read as calls; a footnote says so.
Calls into an edge cache say their hit ratio, and those answered mostly from its store have a halo (caches.py).
A ZooKeeper session (control-plane traffic, drawn when asked for) is a dotted arrow from its holder's row to the
session's row in ZooKeeper's box, coloured by the session's state, without a label (the rows say it all).
Services with no traffic shown sit in a row below."""
from __future__ import annotations

import html
from collections import defaultdict

from ..model import CLIENT, TrafficModel
from .boxes import HEADER_H, PAD, QUIET, ROW_GAP, ROW_H, STATE_STYLE, Box, boxes, rate
from .caches import CACHE_FILL, footnote as cache_footnote, halo, label_piece
from .labels import Placer, Rect, cubic, text_width
from .layout import layout

GREEN, RED, AMBER, PURPLE, GREY, INK = "#1a7f37", "#cf222e", "#9a6700", "#8250df", "#6e7781", "#24292f"
CLASS_COLOUR = {"2xx": GREEN, "3xx": GREY, "4xx": AMBER, "429": PURPLE, "5xx": RED, "refused": RED}
LABEL_SIZE, LABEL_H = 11, 14
ASYNC = ("publish", "deliver")  # kinds of edge that go through a stream
SESSION_COLOUR = {"connected": GREEN, "suspended": AMBER, "silent": GREY, "expired": GREY}
MARKER_COLOURS = (INK, GREY, RED, PURPLE, GREEN, AMBER)
MARGIN, TOP = 12, 30


def edge_label(group: list[dict]) -> list[tuple[str, str]]:
    """The label of the calls from one service to another: their rate, then each status class with a count
    (pieces of text with their colours)."""
    classes = defaultdict(int)
    for e in group:
        for c, n in e["classes"].items():
            classes[c] += n
    pieces = [(rate(sum(e["rps"] for e in group)), INK)]
    for c in ("2xx", "3xx", "4xx", "429", "5xx", "refused"):
        if classes.get(c):
            pieces.append((f"{c} {classes[c]}", CLASS_COLOUR[c]))
    return pieces


def _curve(points: list[tuple[float, float]], up: bool = False) -> tuple[str, list[tuple[float, float]]]:
    """A smooth path through points that come in pairs (leave a box, cross a column's lane, ...): cubic
    curves with horizontal ends between pairs, straight lines along lanes; `up`: the last curve arrives
    going up (into a box's bottom). Returns the SVG path and a polyline of it."""
    d, poly = f"M {points[0][0]:.1f} {points[0][1]:.1f}", [points[0]]
    for i, (p, q) in enumerate(zip(points, points[1:])):
        if i % 2 == 0:  # a jump between columns
            dx = (q[0] - p[0]) / 2
            c1, c2 = (p[0] + dx, p[1]), (q[0] - dx, q[1])
            if up and i == len(points) - 2:
                c2 = (q[0], q[1] + max(30.0, abs(p[1] - q[1]) / 2))
            d += f" C {c1[0]:.1f} {c1[1]:.1f}, {c2[0]:.1f} {c2[1]:.1f}, {q[0]:.1f} {q[1]:.1f}"
            poly += cubic(p, c1, c2, q)[1:]
        else:  # along a lane through a column
            d += f" L {q[0]:.1f} {q[1]:.1f}"
            poly.append(q)
    return d, poly


def _text(pieces: list[tuple[str, str]], x: float, y: float, css: str, size: float = LABEL_SIZE,
          anchor: str = "start", weight: str = "normal", title: str = "", sep: str = " · ") -> str:
    spans = sep.join(f'<tspan fill="{colour}">{html.escape(text)}</tspan>' for text, colour in pieces)
    tip = f"<title>{html.escape(title)}</title>" if title else ""
    return (f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{INK}">{tip}{spans}</text>')


def _pieces_width(pieces, size=LABEL_SIZE, sep=" · ") -> float:
    return text_width(sep.join(t for t, _ in pieces), size)


def _draw_box(box: Box, x: float, y: float) -> list[str]:
    stroke = RED if box.failing else (GREEN if box.busy else "#8c959f")
    fill = {"stream": "#ddf4ff", "cache": CACHE_FILL, "zookeeper": "#eef9f0"}.get(box.kind, "#f6f8fa")
    w, h = box.width, box.height
    out = [f'<g class="mc-service" data-service="{html.escape(box.service)}" data-kind="{box.kind}">',
           f'<rect class="mc-box" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" fill="{fill}" '
           f'stroke="{stroke}" stroke-width="2"{" stroke-dasharray=&quot;6 3&quot;" if box.kind == "stream" else ""}>'
           f'<title>{html.escape(box.service)}</title></rect>',
           _text([(box.title, INK)], x + PAD, y + 17, "mc-text mc-title", 12, weight="bold")]
    if box.note:
        out.append(_text([(box.note, GREY)], x + w - PAD, y + 17, "mc-text mc-note", 11, anchor="end"))
    for i, row in enumerate(box.rows):
        ry = y + HEADER_H + i * (ROW_H + ROW_GAP)
        fill, line, dash, colour = STATE_STYLE.get(row.state, STATE_STYLE["up"])
        weight = "normal" if row.state in QUIET else "bold"
        out.append(f'<g class="mc-row" data-node="{html.escape(row.node)}" data-state="{row.state}">'
                   f'<rect class="mc-instance" x="{x + PAD:.1f}" y="{ry:.1f}" width="{w - 2 * PAD:.1f}" '
                   f'height="{ROW_H}" rx="4" fill="{fill}" stroke="{line}"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        name_x = x + PAD + 6
        out.append(_text([(row.name, colour)], name_x, ry + 15, "mc-text mc-name", 11, weight=weight))
        if row.badge:
            out.append(_text([(row.badge, row.badge_colour or colour)],
                             name_x + text_width(row.name, 11, bold=weight == "bold") + 6, ry + 15,
                             "mc-text mc-state", 10, weight="bold"))
        if row.stats:
            out.append(_text([(row.stats, GREY if row.state in QUIET else colour)], x + w - PAD - 6, ry + 15,
                             "mc-text mc-stats", 10, anchor="end"))
        out.append("</g>")
    out.append("</g>")
    return out


def topology_svg(model: TrafficModel, title: str = "") -> str:
    """Services as boxes holding their instances, calls as arrows labelled with their rate and status classes."""
    all_boxes = boxes(model)
    if not all_boxes:
        return "<p><i>No services yet: launch one and send it a request.</i></p>"
    service_of = lambda node: model.service_of.get(node, node)
    edges = [e for e in model.edges() if e["from"] != e["to"] and service_of(e["from"]) in all_boxes
             and service_of(e["to"]) in all_boxes and service_of(e["from"]) != service_of(e["to"])]
    groups = defaultdict(list)  # (caller service, callee service) -> its edges: one label for them (each
    for e in edges:             # instance's own numbers are in its row; a session's, in its rows)
        if e["kind"] != "session":
            groups[(service_of(e["from"]), service_of(e["to"]))].append(e)
    labels = {key: edge_label(group) + label_piece(model, *key) for key, group in groups.items()}
    links = [(service_of(e["from"]), service_of(e["to"])) for e in edges]
    # the room between two columns: enough for the widest label that leaves the left one
    widest, leaving, entering, callees = defaultdict(float), defaultdict(int), defaultdict(int), defaultdict(set)
    for (a, b), pieces in labels.items():
        widest[a] = max(widest[a], _pieces_width(pieces))
        leaving[a] += 1
        entering[b] += 1
        callees[a].add(b)
    placed = layout({s: (b.width, b.height) for s, b in all_boxes.items()}, links, first=CLIENT, top=TOP)
    column_gap = {}
    for s, p in placed.boxes.items():
        crowd = max(leaving[s], max((entering[t] for t in callees[s]), default=0))
        column_gap[p.layer] = max(column_gap.get(p.layer, 0), min(360, widest[s] + 50 + 12 * crowd))
    placed = layout({s: (b.width, b.height) for s, b in all_boxes.items()}, links, first=CLIENT, top=TOP,
                    gaps={i: max(110, g) for i, g in column_gap.items()})
    pos = {s: (MARGIN + p.x, p.y) for s, p in placed.boxes.items()}
    # the services without traffic shown: a row of their own below
    idle = [s for s in all_boxes if s not in pos]
    x, y = MARGIN, (placed.height + 44) if pos else TOP
    caption_y = y - 8 if idle and pos else None
    for s in idle:
        if x > MARGIN and x + all_boxes[s].width > max(placed.width + MARGIN, 640):
            x, y = MARGIN, y + max(all_boxes[t].height for t in idle) + 16
        pos[s] = (x, y)
        x += all_boxes[s].width + 16
    placer = Placer(Rect(0, TOP - 8, 10_000, 10_000))
    parts = []
    if caption_y is not None:
        placer.block(Rect(MARGIN, caption_y - 11, text_width("running, no traffic shown:", LABEL_SIZE), LABEL_H))
        parts.append(_text([("running, no traffic shown:", GREY)], MARGIN, caption_y, "mc-label mc-caption"))
    for s, (bx, by) in pos.items():
        placer.block(Rect(bx, by, all_boxes[s].width, all_boxes[s].height))
    paths, ends_below = {}, defaultdict(int)
    for e in edges:
        a, b = service_of(e["from"]), service_of(e["to"])
        (ax, ay), (bx, by) = pos[a], pos[b]
        backwards = (a, b) in placed.reversed  # against the flow (it closed a cycle): from the caller's left
        start = (ax if backwards else ax + all_boxes[a].width, ay + all_boxes[a].port_y(e["from"]))
        end = (bx, by + all_boxes[b].port_y(e["to"]))
        if backwards:  # side up into the callee's bottom, clear of the arrows that leave its right side
            end = (bx + all_boxes[b].width - 18 - 14 * ends_below[b], by + all_boxes[b].height)
            ends_below[b] += 1
        points = [start]
        for left, right, lane_y in placed.routes.get((a, b), []):
            points += [(MARGIN + right, lane_y), (MARGIN + left, lane_y)] if backwards else \
                      [(MARGIN + left, lane_y), (MARGIN + right, lane_y)]
        d, poly = _curve(points + [end], up=backwards)
        paths[(e["from"], e["to"])] = poly
        placer.block_line(poly)
        now = e["now"]  # the colour says how the calls go now; the label's counts, since watching began
        colour = RED if now.get("5xx") or now.get("refused") else (PURPLE if now.get("429") else
                                                                    (INK if e["rps"] else GREY))
        dash, marker = (' stroke-dasharray="6 4"', "mc-event") if e["kind"] in ASYNC else ("", "mc-arrow")
        tip = " · ".join(t for t, _ in edge_label([e]))
        if e["kind"] == "session":
            colour, dash = SESSION_COLOUR.get(e["state"], GREY), ' stroke-dasharray="2 3"'
            tip = f'session {e["to"].partition("/")[2]}, {e["state"]}'
        width = 1.2 + min(3.0, e["rps"] / 10)
        if e["kind"] == "call" and model.kinds.get(b) == "cache":
            parts.append(halo(model, e, d, width))
        parts.append(f'<path class="mc-edge" data-from="{html.escape(e["from"])}" data-to="{html.escape(e["to"])}" '
                     f'data-kind="{e["kind"]}" d="{d}" fill="none" stroke="{colour}" stroke-width="{width:.1f}"{dash} '
                     f'marker-end="url(#{marker}-{colour[1:]})"><title>{html.escape(e["from"])} → {html.escape(e["to"])}: '
                     f'{html.escape(tip)}</title></path>')
    footnotes = []
    for key in sorted(groups, key=lambda k: -sum(e["count"] for e in groups[k])):
        pieces = labels[key]
        w, h = _pieces_width(pieces), LABEL_H
        spots = [spot for e in groups[key] for spot in placer.along(paths[(e["from"], e["to"])], w, h)]
        spot = placer.place(spots)
        who = f"{key[0]} → {key[1]}"
        if spot is None:
            footnotes.append((who, pieces))
            continue
        parts.append(f'<rect class="mc-label-bg" x="{spot.x - 2:.1f}" y="{spot.y - 1:.1f}" width="{spot.w + 4:.1f}" '
                     f'height="{spot.h + 2:.1f}" rx="3" fill="white" fill-opacity="0.85"/>')
        parts.append(_text(pieces, spot.x, spot.y + h - 3, "mc-label mc-edge-label", title=who))
    for s, (bx, by) in pos.items():
        parts += _draw_box(all_boxes[s], bx, by)
    bottom = max((by + all_boxes[s].height for s, (bx, by) in pos.items()), default=TOP)
    right = max([bx + all_boxes[s].width for s, (bx, by) in pos.items()] + [r.x + r.w for r in placer.rects])
    notes = [[(f"{who}: ", INK)] + [(t + (" · " if i < len(pieces) - 1 else ""), c) for i, (t, c) in enumerate(pieces)]
             for who, pieces in footnotes]
    hidden = model.hidden_control()
    notes.append([("rates over the last ", GREY), (f"{model.span():.0f} s", INK), ("; counts since watching began", GREY)]
                 + ([(f"; {hidden} control-plane hops hidden (heartbeats, watches, JWKS"
                      + (", ZooKeeper sessions)" if model.session_hops else ")"), GREY)] if hidden else []))
    if any(e["kind"] in ASYNC for e in edges):
        notes.append([("dashed arrows: events through a stream (nobody waits for them); a group's lag: entries not "
                       "yet read, pending: read and not yet acknowledged", GREY)])
    if any(all_boxes[service_of(e["to"])].kind == "cache" for e in edges):
        notes += cache_footnote(model)
    if any(e["kind"] == "session" for e in edges):
        notes.append([("dotted arrows: each instance's ZooKeeper session; silent: its holder said nothing for longer "
                       "than the session timeout; expired: ZooKeeper ended it, and what it held with it", GREY)])
    y = bottom + 22
    for note in notes:
        parts.append(_text(note, MARGIN, y, "mc-label mc-footnote", sep=""))
        right = max(right, MARGIN + _pieces_width(note, sep=""))
        y += 18
    width, height = right + MARGIN, y
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" '
            f'font-size="12" class="microcosm-topology">'
            '<defs>' + "".join(
                f'<marker id="mc-arrow-{c[1:]}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
                f'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" '
                f'fill="{c}"/></marker>' for c in MARKER_COLOURS) + "".join(
                f'<marker id="mc-event-{c[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
                f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M 1 1 L 9 5 L 1 9" '
                f'fill="none" stroke="{c}" stroke-width="1.6"/></marker>' for c in MARKER_COLOURS) + '</defs>')
    if title:
        head += _text([(title, INK)], MARGIN, 18, "mc-label mc-heading", 12, weight="bold")
    return head + "".join(parts) + "</svg>"
