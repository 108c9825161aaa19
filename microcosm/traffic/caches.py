"""Edge caches as the monitor sees them (chapter 10): per edge, its hit ratio, the bytes it saved its origin
and its requests to the origin per second.

Every answer of a CDN edge is a hop client -> cdn carrying `cache` (its verdict: hit, miss, stale, revalidated,
or pass for what it passed through uncached), `bytes` (body bytes sent to the client) and `region`; each request
the edge makes to its origin is a hop cdn -> origin, recorded by the origin with the edge as its caller
(hops.py, services/cdn/app.py). From them, per edge (an instance of the cache service, one row of its box):

    hit ratio      (hits + stale) / answers with a cache verdict: a passed-through request (a POST, a request
                   with Authorization or a Range) never asked the cache, so it counts neither way. The same
                   figure as the edge's own GET /metrics, over the window (and since watching began)
    bytes saved    body bytes answered from the store (hits and stale) since watching began: bytes the
                   origin did not send (as the edge's `bytes_from_store`)
    origin req/s   the edge's calls to its origin (misses, revalidations, passes) over the window

A hop carrying `cache="hit"` or `"miss"` from any other service (a cache in front of anything) counts the same
way. Per hop the cost is a few counter updates, and only for hops with a verdict: the window's figures are
kept as running counts (added when a hop comes, taken off when it leaves the window), not found by a scan.
"""
from __future__ import annotations

from collections import Counter, defaultdict, deque

VERDICTS = ("hit", "miss", "stale", "revalidated", "pass")
FROM_STORE = ("hit", "stale")  # answered from the store: hits in the ratio, their bytes saved
LOOKUPS = ("hit", "miss", "stale", "revalidated")  # answers with a cache verdict (a pass asked no cache)


def _bytes(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        try:
            return max(0, int(float(value)))
        except (TypeError, ValueError, OverflowError):
            return 0


def ratio(counts: Counter) -> float | None:
    """(hits + stale) / answers with a cache verdict; None when there was none."""
    lookups = sum(counts[v] for v in LOOKUPS)
    return sum(counts[v] for v in FROM_STORE) / lookups if lookups else None


class Caches:
    """Mixed into TrafficModel: `add()` hands it every hop carrying a cache verdict (`add_cache`), `expire()`
    the window's cutoff (`age_caches`)."""

    kinds: dict
    service_of: dict
    edge_totals: dict

    def _init_caches(self) -> None:
        self.cache_totals: dict = defaultdict(Counter)  # (caller node, edge node) -> verdict -> count, since start
        self.cache_now: dict = defaultdict(Counter)  # the same over the window (running counts)
        self.cache_recent: deque = deque()  # (ts, edge key, verdict) of the window's hops with a verdict
        self.bytes_saved: dict = defaultdict(int)  # edge node -> body bytes answered from its store
        self.regions: dict[str, str] = {}  # edge node -> its region, as its hops say

    def add_cache(self, hop: dict, key: tuple) -> None:
        verdict = hop["cache"]
        if verdict not in VERDICTS:
            return
        self.kinds[hop.get("callee") or "?"] = "cache"
        self.cache_totals[key][verdict] += 1
        self.cache_now[key][verdict] += 1
        self.cache_recent.append((hop["ts"], key, verdict))
        if verdict in FROM_STORE:
            self.bytes_saved[key[1]] += _bytes(hop.get("bytes"))
        if hop.get("region"):
            self.regions[key[1]] = hop["region"]

    def age_caches(self, cutoff: float) -> None:
        recent = self.cache_recent
        while recent and recent[0][0] < cutoff:
            _, key, verdict = recent.popleft()
            self.cache_now[key][verdict] -= 1

    # --- what is shown -----------------------------------------------------------------------------
    def _sum(self, table: dict, test) -> Counter:
        out = Counter()
        for key, counts in table.items():
            if test(key):
                out.update(counts)
        return out

    def hit_ratio(self, service: str, window: bool = True) -> float | None:
        """Of all the service's instances: over the window (or since watching began), None without verdicts."""
        of = lambda key: self.service_of.get(key[1], key[1]) == service
        return ratio(self._sum(self.cache_now if window else self.cache_totals, of))

    def edge_hit_ratio(self, caller: str, callee: str) -> float | None:
        """Of the calls from service `caller` to cache service `callee`, over the window."""
        between = lambda key: (self.service_of.get(key[0], key[0]), self.service_of.get(key[1], key[1])) == (caller, callee)
        return ratio(self._sum(self.cache_now, between))

    def caches(self) -> dict[str, dict]:
        """Edge node -> its service and region; hit ratio over the window (`hit_ratio`, None without verdicts)
        and since watching began (`hit_ratio_all`); each verdict's count since then; bytes saved since then;
        origin requests per second over the window and since watching began."""
        window, span = self._window_stats(), self.span()
        out = {}
        for service, kind in list(self.kinds.items()):
            if kind != "cache":
                continue
            for node in sorted(self.services.get(service, ())):
                now = self._sum(self.cache_now, lambda key: key[1] == node)
                total = self._sum(self.cache_totals, lambda key: key[1] == node)
                origin_now = sum(len(ms) for edge, (_, ms) in window.items() if edge[0] == node)
                out[node] = {"service": service, "region": self.regions.get(node, ""),
                             "hit_ratio": ratio(now), "hit_ratio_all": ratio(total),
                             **{v: total[v] for v in VERDICTS}, "bytes_saved": self.bytes_saved.get(node, 0),
                             "origin_rps": round(origin_now / span, 2),
                             "origin_requests": sum(sum(c.values()) for (a, _), c in self.edge_totals.items()
                                                    if a == node)}
        return out
