"""What the traffic monitor knows, kept apart from how it is drawn (so tests can check it).

Fed with hop records (see `hops.py`), it keeps a sliding window and answers: which instances exist, grouped
by service; which calls go between them, with requests per second and errors; latency percentiles per
service; and, for any recent request, its whole path as a tree of hops.
"""
from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque

CLIENT = "client"


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def node_of(service: str, instance: str) -> str:
    return instance or service


class TrafficModel:
    def __init__(self, window: float = 10.0, keep_requests: int = 2000):
        self.window = window
        self.recent: deque = deque()  # hops inside the window, oldest first
        self.requests: OrderedDict = OrderedDict()  # request id -> its hops, the newest requests last
        self.keep_requests = keep_requests
        self.services: dict[str, set] = defaultdict(set)  # service -> instances ever seen or declared
        self.total = 0

    # --- feeding -----------------------------------------------------------------------------------
    def declare(self, service: str, instance: str) -> None:
        """An instance known to be running, even before it has seen any traffic."""
        self.services[service].add(instance)

    def add(self, hops: list[dict], now: float | None = None) -> None:
        for hop in hops:
            self.total += 1
            self.recent.append(hop)
            caller_service, callee_service = hop.get("caller") or CLIENT, hop.get("callee") or "?"
            self.services[caller_service].add(node_of(caller_service, hop.get("caller_instance", "")))
            self.services[callee_service].add(node_of(callee_service, hop.get("instance", "")))
            rid = hop.get("request_id") or hop.get("hop")
            self.requests.setdefault(rid, []).append(hop)
            self.requests.move_to_end(rid)
            while len(self.requests) > self.keep_requests:
                self.requests.popitem(last=False)
        self.expire(now)

    def expire(self, now: float | None = None) -> None:
        cutoff = (now or time.time()) - self.window
        while self.recent and self.recent[0]["ts"] < cutoff:
            self.recent.popleft()

    # --- answers -----------------------------------------------------------------------------------
    def nodes(self) -> dict[str, list[str]]:
        """service -> its instances (the client first)."""
        order = sorted(self.services, key=lambda s: (s != CLIENT, s))
        return {s: sorted(self.services[s]) for s in order}

    def edges(self) -> list[dict]:
        """Calls between instances in the window: count, errors (5xx or unreachable), requests per second."""
        counts: dict = defaultdict(lambda: {"count": 0, "errors": 0})
        for hop in self.recent:
            key = (node_of(hop.get("caller") or CLIENT, hop.get("caller_instance", "")),
                   node_of(hop.get("callee", "?"), hop.get("instance", "")))
            counts[key]["count"] += 1
            counts[key]["errors"] += hop["status"] >= 500
        return [{"from": a, "to": b, **c, "rps": round(c["count"] / self.window, 2)}
                for (a, b), c in sorted(counts.items())]

    def latency(self) -> dict[str, dict]:
        """Per service, over the window: requests, errors, p50/p95/p99 in ms (as the callee saw them)."""
        by_service: dict = defaultdict(list)
        errors: dict = defaultdict(int)
        for hop in self.recent:
            by_service[hop.get("callee", "?")].append(hop["ms"])
            errors[hop.get("callee", "?")] += hop["status"] >= 500
        out = {}
        for service, values in sorted(by_service.items()):
            values.sort()
            out[service] = {"requests": len(values), "errors": errors[service],
                            "p50": percentile(values, 50), "p95": percentile(values, 95),
                            "p99": percentile(values, 99)}
        return out

    def trace(self, request_id: str) -> list[dict]:
        """The hops of one request, depth-first from the edge, each with its `depth` in the call tree."""
        hops = self.requests.get(request_id, [])
        ids = {h["hop"] for h in hops}
        children = defaultdict(list)
        for h in sorted(hops, key=lambda h: h["ts"]):
            children[h.get("parent") if h.get("parent") in ids else None].append(h)
        ordered = []

        def walk(parent, depth):
            for h in children.get(parent, []):
                ordered.append({**h, "depth": depth})
                walk(h["hop"], depth + 1)

        walk(None, 0)
        return ordered

    def slowest(self, n: int = 10) -> list[str]:
        """Ids of the slowest recent requests, judged by their first (outermost) hop."""
        def outer_ms(rid):
            hops = self.requests[rid]
            ids = {h["hop"] for h in hops}
            roots = [h for h in hops if h.get("parent") not in ids] or hops
            return max(h["ms"] for h in roots)

        return sorted(self.requests, key=outer_ms, reverse=True)[:n]

    def latest(self, n: int = 10) -> list[str]:
        return list(self.requests)[-n:][::-1]
