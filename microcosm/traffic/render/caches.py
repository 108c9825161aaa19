"""How an edge cache is drawn (chapter 10): its rows say each edge's hit ratio, bytes saved and origin requests
per second; the calls into it carry their hit ratio in their label ("87% hit") and, when most were answered
from the store, a teal halo under the arrow, so traffic that stopped at the edge reads unlike calls that went
through (still solid with a filled arrowhead: it is a call all the same); a footnote says what the figures mean.
The figures come from the model (traffic/caches.py)."""
from __future__ import annotations

import html

from ..caches import ratio
from ..model import TrafficModel
from .boxes import Row, rate, size
from .tables import _table

CACHE, HALO = "#1b7c83", "#8ddbe0"  # teal: the text of cache figures, the halo of calls mostly served from a store
CACHE_FILL = "#e8f7f8"
GREY = "#6e7781"
MOSTLY = 0.5  # a call edge answered from the store more often than this gets the halo


def hit(value: float | None) -> str:
    """"87% hit"; "–% hit" is never shown: without verdicts there is no ratio to write."""
    return f"{value:.0%} hit" if value is not None else ""


def cache_row(node: str, info: dict, cache: dict) -> Row:
    """An edge's row: its name (and region, unless the name says it), its state, hit ratio over the window
    (since watching began when the window has none), rate, bytes saved and origin requests per second."""
    state = info.get("state", "up")
    region = cache.get("region") or ""
    name = node if not region or region in node else f"{node} · {region}"
    if cache["hit_ratio"] is not None:
        parts = [hit(cache["hit_ratio"])]
    else:  # nothing in the window: the ratio since watching began, said so
        parts = [f"{hit(cache['hit_ratio_all'])} overall"] if cache["hit_ratio_all"] is not None else []
    if info.get("rps"):
        parts.append(rate(info["rps"]))
    if cache["bytes_saved"]:
        parts.append(f"saved {size(cache['bytes_saved'])}")
    parts.append(f"origin {rate(cache['origin_rps'])}")
    if info.get("failed"):
        parts.append(f"{info['failed']} failed")
    return Row(node, name, state, "" if state == "up" else state, " · ".join(parts))


def label_piece(model: TrafficModel, caller: str, callee: str) -> list[tuple[str, str]]:
    """The "87% hit" piece of the label of the calls from service `caller` to cache service `callee`."""
    if model.kinds.get(callee) != "cache":
        return []
    ratio = model.edge_hit_ratio(caller, callee)
    return [(hit(ratio), CACHE)] if ratio is not None else []


def halo(model: TrafficModel, edge: dict, d: str, width: float) -> str:
    """A wide teal stroke under a call edge whose answers over the window came mostly from the store."""
    share = ratio(model.edge_counts(edge["from"], edge["to"]))
    if share is None or share <= MOSTLY:
        return ""
    return (f'<path class="mc-cache-halo" data-from="{html.escape(edge["from"])}" data-to="{html.escape(edge["to"])}" '
            f'data-hit="{share:.2f}" d="{d}" fill="none" stroke="{HALO}" stroke-width="{width + 6:.1f}" '
            f'stroke-linecap="round" stroke-opacity="0.8"/>')


def footnote(model: TrafficModel) -> list[list[tuple[str, str]]]:
    """Two lines under the picture: what the halo and the figures of an edge cache mean."""
    return [[("teal halo", CACHE), ("; calls answered mostly from an edge cache's store; hit: (hits + stale) / answers "
                                   f"with a cache verdict, over the last {model.span():.0f} s (overall: since watching "
                                   "began)", GREY)],
            [("saved: body bytes answered from the store since watching began (passed-through requests asked no "
              "cache); origin: the edge's requests to its origin per second", GREY)]]


def cache_table(model: TrafficModel) -> str:
    """Under the latency table, one row per edge: its verdicts since watching began and its figures ("" with
    no edge cache in the picture)."""
    caches = model.caches()
    if not caches:
        return ""
    share = lambda r: "–" if r is None else f"{r:.0%}"
    rows = [[html.escape(node), html.escape(c["region"] or "–"), share(c["hit_ratio"]), share(c["hit_ratio_all"]),
             c["hit"], c["stale"], c["miss"], c["revalidated"], c["pass"], size(c["bytes_saved"]),
             rate(c["origin_rps"]), c["origin_requests"]] for node, c in caches.items()]
    return (f'<div class="mc-caches"><div><b>Edge caches</b> (hit ratio over the last {model.span():.0f} s and '
            "overall; counts since watching began)</div>" +
            _table(["edge", "region", "hit ratio", "overall", "hits", "stale", "misses", "revalidated", "passed",
                    "bytes saved", "origin req/s", "origin requests"], rows, right_from=2) + "</div>")
