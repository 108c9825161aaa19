"""One request's path through the system, from the hops the model keeps per request id (`requests`: request id
-> its hops, the newest requests last): its hops as a call tree, and which requests to look at first."""
from __future__ import annotations

from collections import defaultdict


class Traces:
    requests: dict  # set by the model that mixes this in

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
