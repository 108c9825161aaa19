"""The instances behind the balancer, and what it knows about each of them.

A `Backend` is one instance of the balanced service: its URL, its pool of idle keep-alive connections
(upstream.py), its weight, and the counts a strategy or a status page reads: `in_flight` (requests sent to
it and not answered yet), `served`, `failures`. Two flags say whether it may take traffic: `healthy`, set
by the active checks, and `ejected_until`, set by passive ejection after failed requests (both in health.py).

`parse_backends` builds them from a launch option, an admin request or the registry's list, and refuses
anything that is not a plain `http://host:port` with a sane weight.
"""
from __future__ import annotations

import time
from collections import deque
from urllib.parse import urlsplit

from ...discovery import instance_url, is_weight
from .pool import Pool


class Backend:
    """One instance behind the balancer, with what the balancer knows about it."""

    def __init__(self, url: str, id: str | None = None, weight: float = 1.0, metadata: dict | None = None):
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self.netloc = parts.netloc
        self.id = id or parts.netloc
        self.pool = Pool(parts.hostname, parts.port)  # idle keep-alive connections to it
        self.metadata = dict(metadata or {})
        self.weight = float(weight)
        self.healthy = True  # active checks; a new backend is trusted until a check says otherwise
        self.check_streak = 0  # consecutive check results that disagree with `healthy`
        self.failures_in_a_row = 0  # passive: failed requests in a row
        self.ejected_until = 0.0
        self.in_flight = self.served = self.failures = 0
        self.errors: deque = deque(maxlen=10)

    @property
    def state(self) -> str:
        if not self.healthy:
            return "down"
        return "ejected" if time.monotonic() < self.ejected_until else "up"

    def as_dict(self) -> dict:
        left = self.ejected_until - time.monotonic()
        return {"id": self.id, "url": self.url, "state": self.state, "weight": self.weight,
                "in_flight": self.in_flight, "served": self.served, "failures": self.failures,
                "failures_in_a_row": self.failures_in_a_row,
                "ejected_for_s": round(left, 1) if left > 0 else 0, "metadata": self.metadata,
                "recent_errors": list(self.errors)}

    def __repr__(self):
        return f"<Backend {self.id} {self.url} {self.state} in_flight={self.in_flight}>"


def parse_backends(items, weights: dict | None = None) -> list[Backend]:
    """Backends from a list of URLs or of {"url", "id"?, "weight"?, "metadata"?} (registry instances fit)."""
    if not isinstance(items, list):
        raise ValueError("backends must be a list of URLs or of objects with a 'url'")
    weights = weights or {}
    out, seen = [], set()
    for item in items:
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ValueError(f"each backend must be a URL or an object with a 'url', got {item!r}")
        try:
            url = instance_url(item["url"])
        except ValueError:
            raise ValueError(f"backend url must look like http://host:port, got {item['url']!r:.80}") from None
        parts = urlsplit(url)
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"metadata of {url} must be an object")
        backend_id = item.get("id") or parts.netloc
        weight = item.get("weight", metadata.get("weight", weights.get(backend_id, weights.get(url, 1))))
        if not is_weight(weight):
            raise ValueError(f"weight of {url} must be a number above 0 and at most 1000, got {weight!r}")
        if url in seen:
            raise ValueError(f"backend {url} is listed twice")
        seen.add(url)
        out.append(Backend(url, str(backend_id), weight, metadata))
    return out
