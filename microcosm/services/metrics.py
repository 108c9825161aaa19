"""`GET /metrics`'s figures: request counts, errors, statuses and latency percentiles by route, in memory.

Every service keeps one `Metrics` (the app factory in base.py records each request into it). Memory stays
bounded whatever clients send: a route is the rule that matched ("GET /products/<int:product_id>"), not the
path, latencies are a window of the last 1000, and a method outside the HTTP standard counts as "OTHER".
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})


def method_label(method: str) -> str:
    """The method as metrics and hop records name it: any method not in the HTTP standard is "OTHER", so a
    client inventing methods cannot add a new entry (and memory) per request."""
    return method if method in KNOWN_METHODS else "OTHER"


class Metrics:
    """Request counts and latencies by route ("METHOD /route"), kept in this process."""

    def __init__(self, window: int = 1000):
        self.lock = threading.Lock()
        self.started = time.time()
        self.routes: dict = defaultdict(lambda: {"count": 0, "errors": 0, "statuses": defaultdict(int),
                                                 "latencies": deque(maxlen=window)})

    def record(self, route: str, status: int, ms: float) -> None:
        method, _, rest = route.partition(" ")
        route = f"{method_label(method)} {rest}"
        with self.lock:
            r = self.routes[route]
            r["count"] += 1
            r["errors"] += status >= 500
            r["statuses"][str(status)] += 1
            r["latencies"].append(ms)

    def snapshot(self) -> dict:
        with self.lock:
            routes = {}
            for route, r in sorted(self.routes.items()):
                lat = sorted(r["latencies"])
                routes[route] = {
                    "count": r["count"], "errors": r["errors"], "statuses": dict(r["statuses"]),
                    "latency_ms": {"p50": percentile(lat, 50), "p95": percentile(lat, 95),
                                   "p99": percentile(lat, 99), "max": round(lat[-1], 3) if lat else None},
                }
            return {"uptime_s": round(time.time() - self.started, 3), "routes": routes}


def percentile(sorted_values: list, p: float):
    """The p-th percentile (nearest rank) of already sorted values, rounded to microseconds; None if empty."""
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return round(sorted_values[i], 3)
