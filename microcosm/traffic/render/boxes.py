"""What a service box says, and how big it must be to say it: its header (name, and p50, hit ratio or
"stream") and one row per instance (name, state, share, rate, failures) or, for a stream, per consumer group
(its lag, its pending entries, its deliveries per second), or, for ZooKeeper, per session (its id, its state,
what it holds), or, for an edge cache, per edge (its hit ratio, bytes saved, origin requests: caches.py); with
control-plane traffic shown, an instance holding a session also says whether it leads (and its fencing token) and
how many sessions it lost. Sizes come from the text, so nothing is cut or spills out."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..model import CLIENT, TrafficModel
from ..sessions import ZOOKEEPER
from .labels import text_width

HEADER_H, ROW_H, ROW_GAP, PAD = 26, 22, 4, 8
MIN_W = 110
STATE_STYLE = {  # fill, stroke, dash, text colour
    "up": ("#ffffff", "#8c959f", "", "#24292f"),
    "slow": ("#fff8c5", "#bf8700", "", "#7d4e00"),
    "ejected": ("#fff1e5", "#bc4c00", "4 2", "#953800"),
    "down": ("#ffebe9", "#cf222e", "", "#a40e26"),
    "expired": ("#f6f8fa", "#8c959f", "2 2", "#6e7781"),
    "paused": ("#ddf4ff", "#0969da", "4 2", "#0550ae"),
    # a ZooKeeper session's row (sessions.py)
    "connected": ("#ffffff", "#8c959f", "", "#24292f"),
    "suspended": ("#fff8c5", "#bf8700", "", "#7d4e00"),
    "silent": ("#fff1e5", "#bc4c00", "4 2", "#953800"),
}
QUIET = ("up", "connected")  # states that need no word: the others are written after the name
LEADER = "#8250df"


def ms(value: float | None) -> str:
    """A latency for people: "<1 ms" rather than a "0 ms" that reads as no time at all."""
    if value is None:
        return "–"
    if value < 1:
        return "<1 ms"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def rate(value: float) -> str:
    if value == 0:
        return "0/s"
    return f"{value:.1f}/s" if value < 100 else f"{value:.0f}/s"


def size(n: int) -> str:
    """Bytes for people: 512 B, 12.3 kB, 4.5 MB, 1.2 GB (powers of 1000, as network figures are)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n} B"


@dataclass
class Row:
    node: str
    name: str
    state: str = "up"
    badge: str = ""  # the state, written out when it is not "up" (or "leader")
    stats: str = ""
    badge_colour: str = ""  # default: the state's


@dataclass
class Box:
    service: str
    kind: str  # client | service | stream | cache
    title: str
    note: str = ""  # grey, after the title: p50, hit ratio, "stream"
    rows: list[Row] = field(default_factory=list)
    busy: bool = False
    failing: bool = False

    @property
    def width(self) -> float:
        head = text_width(self.title, 12, bold=True) + (text_width(self.note, 11) + 10 if self.note else 0)
        rows = [text_width(r.name, 11, bold=r.state not in QUIET)
                + (text_width(r.badge, 10, bold=True) + 12 if r.badge else 0)
                + (text_width(r.stats, 10) + 12 if r.stats else 0) for r in self.rows]
        return max(MIN_W, head + 2 * PAD + 4, *(w + 2 * PAD + 12 for w in rows)) if rows else max(MIN_W, head + 2 * PAD + 4)

    @property
    def height(self) -> float:
        return HEADER_H + (len(self.rows) * (ROW_H + ROW_GAP) + PAD - ROW_GAP if self.rows else 0)

    def port_y(self, node: str) -> float:
        """Where an edge to or from `node` meets the box, from its top: the row's middle, or the header's."""
        for i, row in enumerate(self.rows):
            if row.node == node:
                return HEADER_H + i * (ROW_H + ROW_GAP) + ROW_H / 2
        return HEADER_H / 2


def boxes(model: TrafficModel) -> dict[str, Box]:
    """Every service's box as the model sees it now."""
    latency, instances = model.latency(), model.instances()
    out = {}
    for service, nodes in model.nodes().items():
        kind = model.kinds.get(service, "service")
        stats = latency.get(service)
        box = Box(service, kind, service, busy=bool(stats), failing=bool(stats and stats["errors"]))
        if kind == "stream":
            box.note = "stream"
            box.rows = [_group_row(group, info) for group, info in model.groups(service).items()]
            out[service] = box
            continue
        if service == ZOOKEEPER and kind == "zookeeper":
            sessions = model.sessions()
            live = sum(info["state"] == "connected" for info in sessions.values())
            box.note = f"{live} session{'s' * (live != 1)}"
            box.rows = [_session_row(info) for info in sessions.values()]
            out[service] = box
            continue
        if kind == "cache":
            from .caches import cache_row  # (it builds on this module's Row)

            ratio = model.hit_ratio(service)
            box.note = f"hit {ratio:.0%}" if ratio is not None else (f"p50 {ms(stats['p50'])}" if stats else "")
            caches = model.caches()
            box.rows = [cache_row(node, instances.get(node, {}), caches[node]) if node in caches else
                        _row(node, instances.get(node, {}), len(nodes) > 1) for node in nodes]
            out[service] = box
            continue
        if stats:
            box.note = f"p50 {ms(stats['p50'])}"
        if kind != "client" and service != CLIENT:
            box.rows = [_row(node, instances.get(node, {}), len(nodes) > 1, model.session_of(node))
                        for node in nodes]
        out[service] = box
    return out


def _row(node: str, info: dict, several: bool, session: dict | None = None) -> Row:
    state = info.get("state", "up")
    parts = []
    if several and info.get("share") is not None:
        parts.append(f"{info['share']:.0%}")
    if info.get("rps"):
        parts.append(rate(info["rps"]))
    if info.get("failed"):
        parts.append(f"{info['failed']} failed")
    row = Row(node, node, state, "" if state == "up" else state, " · ".join(parts))
    if session:  # its ZooKeeper session's holdings (only while control-plane traffic is shown)
        leads = session["token"] is not None and session["state"] == "connected"
        if leads and state == "up":
            row.badge, row.badge_colour = "leader", LEADER
        extra = ([f"token {session['token']}"] if leads else []) + \
                ([f"{session['lost']} session{'s' * (session['lost'] != 1)} lost"] if session["lost"] else [])
        row.stats = " · ".join(extra + parts)
    return row


def _session_row(info: dict) -> Row:
    """A ZooKeeper session: its id, its state unless connected, and what it holds."""
    state = info["state"]
    return Row(info["node"], info["name"], state, "" if state in QUIET else state, info["holds"])


def _group_row(group: str, info: dict) -> Row:
    """A consumer group: entries not yet handed out (lag), handed out and not acknowledged (pending), rate."""
    parts = [f"lag {'?' if info['lag'] is None else info['lag']}"]
    if info.get("pending") is not None:
        parts.append(f"pending {info['pending']}")
    if info.get("rps"):
        parts.append(rate(info["rps"]))
    return Row(info["node"], group, stats=" · ".join(parts))
