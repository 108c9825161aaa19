"""Edge caches as the monitor sees them (chapter 10): per edge, its hit ratio, the bytes it saved its origin
and its requests to the origin per second.

Every answer of a CDN edge is a hop client -> cdn carrying `cache` (its verdict: hit, miss, stale, revalidated,
or pass for what it passed through uncached), `bytes` (body bytes sent to the client) and `region`; each request
the edge makes to its origin is a hop cdn -> origin, recorded by the origin with the edge as its caller
(hops.py, services/cdn/app.py). From them, per edge (an instance of the cache service, one row of its box):

    hit ratio      (hits + stale) / answers with a cache verdict: a passed-through request (a POST, a Range
                   request) never asked the cache, so it counts neither way. The same
                   figure as the edge's own GET /metrics, over the window (and since watching began)
    bytes saved    body bytes answered from the store (hits and stale) since watching began: bytes the
                   origin did not send (as the edge's `bytes_from_store`)
    origin req/s   the edge's calls to its origin (misses, revalidations, passes) over the window

A hop carrying `cache="hit"` or `"miss"` from any other service (a cache in front of anything) counts the same
way. Per hop the cost is a few list increments, and only for hops with a verdict: the window's figures are
kept as running counts (added when a hop comes, taken off when it leaves the window), not found by a scan
(bench/monitor_cache_hops.py measures it against plain calls).
"""
from __future__ import annotations

from collections import Counter, deque

VERDICTS = ("hit", "stale", "miss", "revalidated", "pass")
FROM_STORE = ("hit", "stale")  # answered from the store: hits in the ratio, their bytes saved (VERDICTS' first two)
INDEX = {verdict: i for i, verdict in enumerate(VERDICTS)}
N = len(VERDICTS)
LOOKUPS = ("hit", "miss", "stale", "revalidated")  # answers with a cache verdict (a pass asked no cache)


def byte_count(value) -> int:
    """A hop's `bytes` as a count: "812" -> 812; "12.0" -> 12; anything else (or negative) -> 0."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        try:
            n = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return 0
    return n if n > 0 else 0


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
        # (caller node, edge node) -> one list of counts: per verdict (in VERDICTS' order) since watching began,
        # then per verdict over the window. Lists, not Counters: a Counter of Counters cost 6 times as much a hop
        self.cache_counts: dict[tuple, list[int]] = {}
        self.cache_recent: deque = deque()  # (ts, its edge's counts, the window slot) of the window's verdicts
        self.bytes_saved: dict = {}  # edge node -> body bytes answered from its store
        self.regions: dict[str, str] = {}  # edge node -> its region, as its first hop says

    def add_cache(self, hop: dict, key: tuple) -> None:
        i = INDEX.get(hop["cache"])
        if i is None:
            return
        counts = self.cache_counts.get(key)
        if counts is None:  # a new edge: what kind of node it is, and where
            counts = self.cache_counts[key] = [0] * (2 * N)
            self.kinds[hop.get("callee") or "?"] = "cache"
            if hop.get("region"):
                self.regions[key[1]] = hop["region"]
        counts[i] += 1
        counts[N + i] += 1
        self.cache_recent.append((hop["ts"], counts, N + i))
        if i < 2:  # from the store
            sent = byte_count(hop.get("bytes"))
            if sent:
                self.bytes_saved[key[1]] = self.bytes_saved.get(key[1], 0) + sent

    def age_caches(self, cutoff: float) -> None:
        recent = self.cache_recent
        while recent and recent[0][0] < cutoff:
            _, counts, slot = recent.popleft()
            counts[slot] -= 1

    # --- what is shown -----------------------------------------------------------------------------
    def _sum(self, test, window: bool = True) -> Counter:
        """Verdict -> count over the window (or since watching began), of the edges whose key `test` accepts."""
        out, offset = Counter(), N if window else 0
        for key, counts in self.cache_counts.items():
            if test(key):
                for i, verdict in enumerate(VERDICTS):
                    out[verdict] += counts[offset + i]
        return out

    def edge_counts(self, caller: str, callee: str) -> Counter:
        """Verdict -> count over the window, of the calls from node `caller` to node `callee`."""
        return self._sum(lambda key: key == (caller, callee))

    def hit_ratio(self, service: str, window: bool = True) -> float | None:
        """Of all the service's instances: over the window (or since watching began), None without verdicts."""
        return ratio(self._sum(lambda key: self.service_of.get(key[1], key[1]) == service, window))

    def edge_hit_ratio(self, caller: str, callee: str) -> float | None:
        """Of the calls from service `caller` to cache service `callee`, over the window."""
        service = lambda node: self.service_of.get(node, node)
        return ratio(self._sum(lambda key: (service(key[0]), service(key[1])) == (caller, callee)))

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
                now = self._sum(lambda key: key[1] == node)
                total = self._sum(lambda key: key[1] == node, window=False)
                origin_now = sum(len(ms) for edge, (_, ms) in window.items() if edge[0] == node)
                out[node] = {"service": service, "region": self.regions.get(node, ""),
                             "hit_ratio": ratio(now), "hit_ratio_all": ratio(total),
                             **{v: total[v] for v in VERDICTS}, "bytes_saved": self.bytes_saved.get(node, 0),
                             "origin_rps": round(origin_now / span, 2),
                             "origin_requests": sum(sum(c.values()) for (a, _), c in self.edge_totals.items()
                                                    if a == node)}
        return out
