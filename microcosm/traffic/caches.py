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
way. Per hop the cost is a few plain-dict updates, and only for hops with a verdict: the window's figures are
kept as running counts (added when a hop comes, taken off when it leaves the window), not found by a scan
(bench/monitor_cache_hops.py measures it against plain calls).
"""
from __future__ import annotations

from collections import Counter, deque

VERDICTS = ("hit", "miss", "stale", "revalidated", "pass")
FROM_STORE = ("hit", "stale")  # answered from the store: hits in the ratio, their bytes saved
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
        # plain dicts keyed by ((caller node, edge node), verdict): a Counter of Counters costs 6 times as much
        self.cache_totals: dict = {}  # -> count since watching began
        self.cache_now: dict = {}  # -> count over the window (running: see age_caches)
        self.cache_recent: deque = deque()  # (ts, ((caller node, edge node), verdict)) of the window's verdicts
        self.bytes_saved: dict = {}  # edge node -> body bytes answered from its store
        self.regions: dict[str, str] = {}  # edge node -> its region, as its first hop with each verdict says

    def add_cache(self, hop: dict, key: tuple) -> None:
        verdict = hop["cache"]
        if verdict not in VERDICTS:
            return
        counted = (key, verdict)
        n = self.cache_totals.get(counted, 0) + 1
        self.cache_totals[counted] = n
        if n == 1:  # a new edge (or verdict): what kind of node it is, and where
            self.kinds[hop.get("callee") or "?"] = "cache"
            if hop.get("region"):
                self.regions[key[1]] = hop["region"]
        self.cache_now[counted] = self.cache_now.get(counted, 0) + 1
        self.cache_recent.append((hop["ts"], counted))
        if verdict in FROM_STORE:
            sent = byte_count(hop.get("bytes"))
            if sent:
                self.bytes_saved[key[1]] = self.bytes_saved.get(key[1], 0) + sent

    def age_caches(self, cutoff: float) -> None:
        recent, now = self.cache_recent, self.cache_now
        while recent and recent[0][0] < cutoff:
            counted = recent.popleft()[1]
            now[counted] -= 1

    # --- what is shown -----------------------------------------------------------------------------
    @staticmethod
    def _sum(table: dict, test) -> Counter:
        """Verdict -> count, over the edge keys `test` accepts."""
        out = Counter()
        for (key, verdict), n in table.items():
            if test(key):
                out[verdict] += n
        return out

    def edge_counts(self, caller: str, callee: str) -> Counter:
        """Verdict -> count over the window, of the calls from node `caller` to node `callee`."""
        return self._sum(self.cache_now, lambda key: key == (caller, callee))

    def hit_ratio(self, service: str, window: bool = True) -> float | None:
        """Of all the service's instances: over the window (or since watching began), None without verdicts."""
        of = lambda key: self.service_of.get(key[1], key[1]) == service
        return ratio(self._sum(self.cache_now if window else self.cache_totals, of))

    def edge_hit_ratio(self, caller: str, callee: str) -> float | None:
        """Of the calls from service `caller` to cache service `callee`, over the window."""
        service = lambda node: self.service_of.get(node, node)
        return ratio(self._sum(self.cache_now, lambda key: (service(key[0]), service(key[1])) == (caller, callee)))

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
