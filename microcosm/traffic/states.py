"""Each instance's state, from whoever knows it, read by the monitor about once a second:

- the kernel's own processes: an instance whose process has died, or that was stopped and forgotten
  (`scale` down), is *down*; one frozen with `pause()` (SIGSTOP) is *paused*; one given a delay with
  `chaos(delay_ms=...)` is *slow* (the model also marks slow an instance answering far slower than its
  siblings, whoever slowed it);
- every balancer's public `/metrics`: a backend its health checks took out is *down*, one it took out after
  failed requests is *ejected*;
- the registry's listing (`GET /services`): an instance it listed and listed no more (its heartbeats
  stopped for longer than its TTL, or it left) is *expired*.

Consumers are asked too (`GET /_events`): how far behind each consumer group is (lag) and how many entries
it was handed and has not acknowledged (pending), which no hop can say.

Reads carry `X-Caller: microcosm-monitor`, so the registry's hop for them is not drawn as traffic.
"""
from __future__ import annotations

import requests

from .classify import MONITOR_CALLER

RANK = {"up": 0, "slow": 1, "paused": 2, "ejected": 3, "down": 4, "expired": 5}  # when sources disagree, the worst wins


class InstanceStates:
    def __init__(self, timeout: float = 0.3):
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["X-Caller"] = MONITOR_CALLER
        self.listed: set[str] = set()  # instances some registry has listed since watching began

    def _get(self, url: str) -> dict | None:
        try:
            answer = self.session.get(url, timeout=self.timeout)
            return answer.json() if answer.ok else None
        except (requests.RequestException, ValueError):
            return None

    def read(self, processes, known: set[str] = frozenset()) -> dict[str, str]:
        """instance -> state, for every instance some source knows something about; `known` are the
        instances of the kernel's processes seen so far (one no longer among them was stopped)."""
        states: dict[str, str] = {}

        def worse(node: str, state: str) -> None:
            if RANK[state] > RANK.get(states.get(node, "up"), 0):
                states[node] = state

        services = [p for p in processes if getattr(p, "kind", "") == "service"]
        for gone in set(known) - {p.name for p in services}:
            worse(gone, "down")  # stopped, and no longer among the kernel's processes
        for p in services:
            if not p.alive:
                worse(p.name, "down")
            elif getattr(p, "status", "") == "paused":
                worse(p.name, "paused")
            elif (getattr(p, "faults", None) or {}).get("delay_ms"):
                worse(p.name, "slow")
        for p in services:
            if not p.alive or p.service_name not in ("balancer", "registry"):
                continue
            answer = self._get(p.url + ("/metrics" if p.service_name == "balancer" else "/services"))
            if answer is None:
                continue
            if p.service_name == "balancer":
                for backend, info in (answer.get("backends") or {}).items():
                    if info.get("state") in ("down", "ejected"):
                        worse(backend, info["state"])
            else:
                now = {i for ids in (answer.get("services") or {}).values() for i in ids}
                for gone in self.listed - now:
                    worse(gone, "expired")
                self.listed |= now
        return states

    def groups(self, processes, consumers: set[str]) -> dict[str, dict]:
        """"stream/group" -> {"lag", "pending"}, as the running consumers among `consumers` (instance names)
        report their groups; one answer per group is enough (its consumers all see the same numbers)."""
        out: dict[str, dict] = {}
        for p in processes:
            if getattr(p, "kind", "") != "service" or p.name not in consumers or not p.alive:
                continue
            answer = self._get(p.url + "/_events")
            groups = (answer or {}).get("groups")
            if isinstance(groups, dict):
                out.update({k: v for k, v in groups.items() if k not in out and isinstance(v, dict)})
        return out
