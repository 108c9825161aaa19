"""What the traffic monitor knows, kept apart from how it is drawn (so tests can check it).

Fed with hop records (see `hops.py`), it keeps a sliding window of recent hops (for rates and percentiles)
and running totals since it started watching (for counts that a short window would forget). It answers:
which instances exist, grouped by service; which calls go between them, with requests per second over the
window and counts per status class since the start; each instance's own rate, share, failures and state;
latency percentiles per service; and, for any recent request, its whole path as a tree of hops
(`traces.py`).

Control-plane traffic (registry heartbeats and watches, JWKS fetches: see `classify.py`; ZooKeeper sessions:
see `sessions.py`) is kept but left out of the answers unless `control=True`. Two kinds of node besides
services: a *stream* (hops with kind "publish" go into it, hops with kind "deliver" come out of it, from one of
its consumer groups, carrying that group's `lag`) and a *cache* (hops carrying a `cache` verdict: a CDN edge's hit
ratio, bytes saved and origin requests per second, see `caches.py`).

A consumer group is a node of its own, named `stream/group` (`group_node`): groups are usually named after the
service that consumes (group "inventory", instance "inventory"), and a node named like the instance would turn
each delivery into a call from the instance to itself. The deliveries a consumer instance gets count as its
work (its rate and its share of its service), like the calls it answers.
"""
from __future__ import annotations

import time
from collections import Counter, OrderedDict, defaultdict, deque

from .caches import Caches
from .classify import CLASSES, FAILED, is_control, is_own, status_class
from .sessions import ZOOKEEPER, Sessions
from .traces import Traces

CLIENT = "client"
STATES = ("up", "slow", "paused", "ejected", "down", "expired")


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def node_of(service: str, instance: str) -> str:
    return instance or service


def group_node(stream: str, group: str) -> str:
    """The node of a consumer group: `stream/group` (as the services' `GET /_events` names it too)."""
    return f"{stream}/{group}"


class TrafficModel(Traces, Sessions, Caches):
    def __init__(self, window: float = 10.0, keep_requests: int = 2000, control: bool = False):
        self.window, self.control = window, control
        self.recent: deque = deque()  # hops inside the window, oldest first
        self.requests: OrderedDict = OrderedDict()  # request id -> its hops, the newest requests last
        self.keep_requests = keep_requests
        self.services: dict[str, set] = defaultdict(set)  # service -> instances ever seen or declared
        self.service_of: dict[str, str] = {}  # node (instance, or a service without instances) -> service
        self.kinds: dict[str, str] = {CLIENT: "client"}  # service -> client | service | stream | cache
        self.edge_totals: dict = defaultdict(Counter)  # (from node, to node) -> status class -> count
        self.edge_kind: dict = {}  # (from node, to node) -> call | control | publish | deliver
        self.instance_totals: dict = defaultdict(Counter)  # node -> status class -> count (as the callee)
        self.lag: dict = {}  # (stream, group) -> entries not yet delivered, as last reported
        self.pending: dict = {}  # (stream, group) -> entries delivered and not yet acknowledged (set_groups)
        self.group_of: dict[str, tuple[str, str]] = {}  # group node -> (stream, group)
        self.declared: set[str] = set()  # services known to run (launched by this kernel)
        self.launched: set[str] = set()  # and their instances
        self.states: dict[str, str] = {}  # instance -> state reported by whoever knows (see states.py)
        self._init_sessions()  # ZooKeeper sessions, as their holders report them (sessions.py)
        self._init_caches()  # edge caches' verdicts, bytes saved, regions (caches.py)
        self.total = 0
        self._window_cache: tuple = (None, {})
        self.started = time.time()
        self.now = self.started

    # --- feeding -----------------------------------------------------------------------------------
    def declare(self, service: str, instance: str) -> None:
        """An instance known to be running, even before it has seen any traffic."""
        self.services[service].add(instance)
        self.service_of[instance] = service
        self.kinds.setdefault(service, "service")
        self.declared.add(service)
        self.launched.add(instance)

    def _node(self, service: str, instance: str, kind: str) -> str:
        node = node_of(service, instance)
        self.service_of[node] = service
        self.kinds.setdefault(service, kind)
        if node != service or kind != "stream":  # a stream's rows are its consumer groups, not itself
            self.services[service].add(node)
        else:
            self.services.setdefault(service, set())
        return node

    def add(self, hops: list[dict], now: float | None = None) -> None:
        for hop in hops:
            if is_own(hop):
                continue
            if hop.get("kind") == "session":
                self.add_session(hop)
                continue
            self.total += 1
            self.started = min(self.started, hop.get("ts") or self.started)
            kind = hop.get("kind") or ("control" if is_control(hop) else "call")
            caller = hop.get("caller") or CLIENT
            callee = hop.get("callee") or "?"
            if kind == "deliver":
                group = hop.get("caller_instance") or "?"
                a = self._node(caller, group_node(caller, group), "stream")
                self.group_of[a] = (caller, group)
            else:
                a = self._node(caller, hop.get("caller_instance", ""), "service")
            b = self._node(callee, "" if kind == "publish" else hop.get("instance", ""),
                           "stream" if kind == "publish" else "service")
            if kind == "deliver" and hop.get("lag") not in (None, ""):
                self.lag[self.group_of[a]] = int(float(hop["lag"]))
            hop["class"], hop["edge"] = status_class(hop), (a, b)
            self.edge_totals[(a, b)][hop["class"]] += 1
            self.edge_kind[(a, b)] = kind
            if hop.get("cache"):
                self.add_cache(hop, hop["edge"])
            self.instance_totals[b][hop["class"]] += 1
            self.recent.append(hop)
            rid = hop.get("request_id") or hop.get("hop")
            self.requests.setdefault(rid, []).append(hop)
            self.requests.move_to_end(rid)
            while len(self.requests) > self.keep_requests:
                self.requests.popitem(last=False)
        self.expire(now)

    def expire(self, now: float | None = None) -> None:
        self.now = now or time.time()
        cutoff = self.now - self.window
        self.age_sessions(self.now)
        self.age_caches(cutoff)
        while self.recent and self.recent[0]["ts"] < cutoff:
            self.recent.popleft()

    def set_states(self, states: dict[str, str]) -> None:
        """Instance states as the balancers, the registry and the processes report them."""
        self.states = dict(states)

    def set_groups(self, groups: dict[str, dict]) -> None:
        """Consumer groups as the consumers' `GET /_events` report them ("stream/group" -> lag, pending):
        fresher than the lag a delivery carried, and the only word on entries handed out and not acknowledged."""
        for node, info in groups.items():
            stream, _, group = node.rpartition("/")
            if stream and isinstance(info, dict):
                if isinstance(info.get("pending"), int):
                    self.pending[(stream, group)] = info["pending"]
                if isinstance(info.get("lag"), int):
                    self.lag[(stream, group)] = info["lag"]

    # --- what is shown -----------------------------------------------------------------------------
    def span(self) -> float:
        """Seconds the rates are averaged over: the window, or less when watching began less than a window ago."""
        return max(0.5, min(self.window, self.now - self.started))

    def _shown(self, key) -> bool:
        return self.control or self.edge_kind.get(key) != "control"

    def nodes(self) -> dict[str, list[str]]:
        """service -> its instances (the client first; a stream: its consumer groups, by name); a service seen
        only through control traffic is left out while control traffic is hidden, unless it is running (declared)."""
        seen = {self.service_of.get(n, n) for key in self.edge_totals if self._shown(key) for n in key}
        sessions = self.sessions()  # (none while control-plane traffic is hidden)
        seen |= {info["service"] for info in sessions.values()} | ({ZOOKEEPER} if sessions else set())
        keep = seen | (self.declared - {CLIENT})
        order = sorted(keep, key=lambda s: (s != CLIENT, s))
        name = lambda node: self.group_of[node][1] if node in self.group_of else node
        out = {s: sorted(name(n) for n in self.services[s]) for s in order if s != ZOOKEEPER}
        if sessions:  # ZooKeeper's rows are the sessions
            out[ZOOKEEPER] = [info["node"] for info in sessions.values()]
        return out

    def hidden_control(self) -> int:
        """Control-plane hops left out of the picture (since watching began)."""
        return 0 if self.control else self.session_hops + sum(
            sum(c.values()) for key, c in self.edge_totals.items() if self.edge_kind.get(key) == "control")

    def _window_stats(self) -> dict:
        """One pass over the window's hops, shared by edges(), instances() and latency(): per edge, its
        status classes and its durations (kept until the window changes)."""
        key = (self.total, len(self.recent))
        if self._window_cache[0] != key:
            per_edge: dict = defaultdict(lambda: (Counter(), []))
            for hop in self.recent:
                classes, ms = per_edge[hop["edge"]]
                classes[hop["class"]] += 1
                ms.append(hop["ms"])
            self._window_cache = (key, dict(per_edge))
        return self._window_cache[1]

    def edges(self) -> list[dict]:
        """Calls between nodes: requests per second over the window, counts per status class since watching
        began (`classes`; `errors`: 5xx and refused) and over the window (`now`)."""
        window = self._window_stats()
        none = (Counter(), [])
        span = self.span()
        out = []
        for key, classes in sorted(self.edge_totals.items()):
            if not self._shown(key):
                continue
            now, ms = window.get(key, none)
            out.append({"from": key[0], "to": key[1], "kind": self.edge_kind[key], "count": sum(classes.values()),
                        "errors": sum(classes[c] for c in FAILED), "rps": round(len(ms) / span, 2),
                        "classes": {c: classes[c] for c in CLASSES if classes[c]},
                        "now": {c: now[c] for c in CLASSES if now[c]}})
        return out + self.session_edges()

    def classes_between(self, caller: str, callee: str) -> dict[str, int]:
        """Status class -> count of the calls from any instance of service `caller` to any of `callee`
        since watching began (control-plane calls included: asking is asking for them)."""
        out = Counter()
        for (a, b), classes in self.edge_totals.items():
            if self.service_of.get(a, a) == caller and self.service_of.get(b, b) == callee:
                out.update(classes)
        return {c: out[c] for c in CLASSES if out[c]}

    def instances(self) -> dict[str, dict]:
        """Per instance: its state, its rate and share of its service's requests over the window, its
        failures (5xx and refused) since watching began, and its p50 in ms over the window."""
        recent, ms = Counter(), defaultdict(list)
        for edge, (_, values) in self._window_stats().items():
            if self._shown(edge):
                recent[edge[1]] += len(values)
                ms[edge[1]] += values
        per_service = Counter()
        for node, n in recent.items():
            per_service[self.service_of.get(node, node)] += n
        span, out = self.span(), {}
        for service, instances in self.services.items():
            if self.kinds.get(service) == "stream":
                continue  # its rows are consumer groups: see groups()
            for node in instances:
                values = sorted(ms.get(node, []))
                share = recent[node] / per_service[service] if per_service[service] else None
                out[node] = {"service": service, "rps": round(recent[node] / span, 2), "share": share,
                             "failed": sum(self.instance_totals[node][c] for c in FAILED),
                             "p50": percentile(values, 50), "state": self.states.get(node, "up")}
        self._mark_slow(out)
        return out

    @staticmethod
    def _mark_slow(out: dict) -> None:
        """An instance answering at 3 times its siblings' median p50 (and 50 ms or more) is slow."""
        by_service = defaultdict(list)
        for node, info in out.items():
            if info["p50"] is not None:
                by_service[info["service"]].append(info["p50"])
        for node, info in out.items():
            siblings = sorted(by_service[info["service"]])
            if info["state"] == "up" and info["p50"] is not None and len(siblings) > 1:
                median = siblings[len(siblings) // 2 - (len(siblings) % 2 == 0)]
                if info["p50"] >= max(50.0, 3 * median):
                    info["state"] = "slow"

    def latency(self) -> dict[str, dict]:
        """Per service, over the window: requests, errors, p50/p95/p99 in ms (as the callee saw them)."""
        by_service: dict = defaultdict(list)
        errors: dict = defaultdict(int)
        for edge, (classes, values) in self._window_stats().items():
            if not self._shown(edge):
                continue
            service = self.service_of.get(edge[1], edge[1])
            by_service[service] += values
            errors[service] += sum(classes[c] for c in FAILED)
        out = {}
        for service, values in sorted(by_service.items()):
            values.sort()
            out[service] = {"requests": len(values), "errors": errors[service],
                            "p50": percentile(values, 50), "p95": percentile(values, 95),
                            "p99": percentile(values, 99)}
        return out

    def lags(self, stream: str) -> dict[str, int]:
        """Consumer group -> entries of `stream` it has not yet been delivered."""
        return {group: lag for (s, group), lag in self.lag.items() if s == stream}

    def consumers(self) -> set[str]:
        """Instances that events have been delivered to (they can say how far behind their groups are)."""
        return {b for (a, b), kind in self.edge_kind.items() if kind == "deliver"}

    def groups(self, stream: str) -> dict[str, dict]:
        """Consumer group of `stream` -> its node, lag, pending (None where nobody said) and deliveries per
        second over the window."""
        window, span = self._window_stats(), self.span()
        out = {}
        for node in sorted(n for n in self.services.get(stream, ()) if n in self.group_of):
            key = self.group_of[node]
            delivered = sum(len(ms) for edge, (_, ms) in window.items() if edge[0] == node)
            out[key[1]] = {"node": node, "lag": self.lag.get(key), "pending": self.pending.get(key),
                           "rps": round(delivered / span, 2)}
        return out
