"""What a running registry holds, for a cell to show: its list of a service right now, and its event log.

    from microcosm.registry_view import listing, events, event_table
    listing(registry)                        # catalog's instances: registered when, last heartbeat, expires in
    mark = time.time(); ...; event_table(events(registry, mark), mark)   # what happened since `mark`

`registry` is the notebook's handle on a registry process (`microcosm.launch("registry")`). The registry's
side is microcosm/services/registry.py; a caller that keeps a live copy of the list uses discovery.py.
"""
from __future__ import annotations

import time

from .show import HTMLTable, table


def listing(registry, service: str = "catalog") -> HTMLTable:
    """What the registry lists for `service` right now: each instance's id, URL and TTL, how long ago it
    registered and sent its last heartbeat, and how long it has left before it expires without another."""
    now = time.time()
    instances = registry.get(f"/services/{service}").json()["instances"]
    return table([(i["id"], i["url"], i["ttl"], f"{now - i['registered_at']:.1f} s ago",
                   f"{now - i['last_heartbeat']:.2f} s ago", f"{i['expires_in']:.2f} s") for i in instances],
                 ["instance", "url", "TTL (s)", "registered", "last heartbeat", "expires in"])


def events(registry, since: float = 0.0) -> list[dict]:
    """The registry's event log (registered, deregistered, expired), oldest first, from time `since` on.

    Each event: at, event, service, id, url, last_heartbeat, ttl (times are `time.time()` seconds)."""
    return [e for e in registry.get("/events").json()["events"] if e["at"] >= since]


def event_table(log: list[dict], t0: float) -> HTMLTable:
    """Events as a table, each one's time counted from `t0` (the moment a cell began, say)."""
    return table([(f"{e['at'] - t0:+.2f} s", e["event"], e["service"], e["id"], e["url"]) for e in log],
                 ["when", "event", "service", "instance", "url"])
