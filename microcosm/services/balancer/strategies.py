"""How the balancer picks a backend for a request: its strategies.

A strategy is anything with `pick(backends, request) -> backend` (or a plain function of those two
arguments). For every request the balancer calls it with

- `backends`: the backends that may take this request now (up, not ejected, not already tried for it), never
  empty, each with .id .url .weight .in_flight .served .metadata (see backends.py);
- `request`: a `RequestInfo`, with .method .path .query .headers .client;

and sends the request to the backend it returns, which must be one of `backends` itself. The balancer makes
one object of a strategy class when it loads it, so the object may remember things between calls (round
robin's counter). `pick` runs inside the balancer's event loop for every request: it must be quick, with no
network and no sleeping.

Built in: round robin and weighted round robin follow a fixed plan; least connections and power of two
choices look at how busy the backends are; consistent hashing sends the same key to the same backend. Load
your own with `strategy="my_strategy.py:LeastLoaded"` at launch, or `PUT /_balancer/strategy`.
"""
from __future__ import annotations

import bisect
import hashlib
import inspect
import itertools
import random


class RequestInfo:
    """What a strategy may look at."""

    __slots__ = ("method", "path", "query", "headers", "client")

    def __init__(self, method, path, query, headers, client):
        self.method, self.path, self.query, self.headers, self.client = method, path, query, headers, client


class RoundRobin:
    """Each backend in turn."""

    def __init__(self):
        self.counter = itertools.count()

    def pick(self, backends, request):
        return backends[next(self.counter) % len(backends)]


class WeightedRoundRobin:
    """In turn, but a backend of weight 3 gets three turns for every one of weight 1 (nginx's smooth
    variant: the turns are interleaved, a, a, b, a rather than a, a, a, b)."""

    def __init__(self):
        self.current: dict[str, float] = {}

    def pick(self, backends, request):
        total = 0.0
        for b in backends:
            self.current[b.id] = self.current.get(b.id, 0.0) + b.weight
            total += b.weight
        best = max(backends, key=lambda b: self.current[b.id])
        self.current[best.id] -= total
        return best


class LeastConnections:
    """The backend with the fewest requests in flight (ties broken at random)."""

    def pick(self, backends, request):
        fewest = min(b.in_flight for b in backends)
        return random.choice([b for b in backends if b.in_flight == fewest])


class PowerOfTwo:
    """Two backends at random; the less busy of the two. Nearly as good as least connections, and it needs
    no global view (so it also works when many balancers each see only their own traffic)."""

    def pick(self, backends, request):
        if len(backends) == 1:
            return backends[0]
        a, b = random.sample(backends, 2)
        return a if a.in_flight <= b.in_flight else b


class ConsistentHash:
    """The same key always goes to the same backend (sticky), and adding or removing a backend moves only
    about 1/N of the keys. `key` says where the key is: "header:X-User", "query:user", "path:2" (the second
    path segment) or "client" (the caller's address). Requests without the key are hashed by client address."""

    def __init__(self, key: str = "header:X-User", replicas: int = 100):
        if not isinstance(key, str) or len(key) > 100:
            raise ValueError("key must be a short string such as 'header:X-User'")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 1000:
            raise ValueError(f"replicas must be a whole number from 1 to 1000, got {replicas!r}")
        kind, _, name = key.partition(":")
        if kind not in ("header", "query", "path", "client") or (kind != "client" and not name):
            raise ValueError(f"key must be 'header:NAME', 'query:NAME', 'path:N' or 'client', got {key!r}")
        if kind == "path" and not name.isdigit():
            raise ValueError(f"'path:N' needs a segment number, got {key!r}")
        self.key, self.kind, self.name, self.replicas = key, kind, name, replicas
        self.rings: dict[tuple, tuple[list, list]] = {}

    @staticmethod
    def hash(text: str) -> int:
        return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big")

    def key_of(self, request) -> str:
        if self.kind == "header":
            value = request.headers.get(self.name)
        elif self.kind == "query":
            value = request.query.get(self.name)
        elif self.kind == "path":
            parts = [p for p in request.path.split("/") if p]
            value = parts[int(self.name) - 1] if 0 < int(self.name) <= len(parts) else None
        else:
            value = None
        return value if value is not None else request.client

    def ring(self, backends):
        ids = tuple(sorted(b.id for b in backends))
        if ids not in self.rings:  # each backend owns `replicas` points on a circle of hashes
            points = sorted((self.hash(f"{i}#{r}"), i) for i in ids for r in range(self.replicas))
            self.rings = {ids: ([h for h, _ in points], [i for _, i in points])}  # keep only the latest
        return self.rings[ids]

    def pick(self, backends, request):
        hashes, owners = self.ring(backends)
        at = bisect.bisect(hashes, self.hash(self.key_of(request))) % len(hashes)  # first point clockwise
        by_id = {b.id: b for b in backends}
        return by_id[owners[at]]


STRATEGIES = {"round_robin": RoundRobin, "weighted_round_robin": WeightedRoundRobin,
              "least_connections": LeastConnections, "power_of_two": PowerOfTwo, "p2c": PowerOfTwo,
              "consistent_hash": ConsistentHash}


# --- loading a strategy by name: a built-in one, or yours from a file --------------------------------
class _FunctionStrategy:
    def __init__(self, function):
        self.function = function

    def pick(self, backends, request):
        return self.function(backends, request)


MAX_OPTIONS = 16


def check_options(options) -> dict:
    """A strategy's options: a small JSON object of plain values (numbers, short strings, true/false)."""
    if not isinstance(options, dict) or len(options) > MAX_OPTIONS:
        raise ValueError(f"options must be an object of at most {MAX_OPTIONS} settings")
    for key, value in options.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > 64:
            raise ValueError(f"option names must be Python identifiers, got {key!r:.80}")
        if not (value is None or isinstance(value, (bool, int, float)) or isinstance(value, str) and len(value) <= 200):
            raise ValueError(f"option {key!r} must be a number, true/false or a string of at most 200 characters")
    return options


def make_strategy(spec: str, **options):
    """A built-in strategy by name, or your own from a file, 'file.py:Name' (a class, an object or a function).

    Only a .py file: never an importable name such as 'subprocess:Popen', whose class would be built with
    the options. The admin route that switches strategies needs the launch secret as well."""
    if not isinstance(spec, str) or not spec or len(spec) > 500:
        raise ValueError("strategy must be a name such as 'round_robin' or 'file.py:ClassOrFunction'")
    options = check_options(options)
    if spec in STRATEGIES:
        return STRATEGIES[spec](**options)
    if ":" not in spec:
        raise ValueError(f"unknown strategy {spec!r} (built in: {', '.join(STRATEGIES)}; "
                         "or your own as 'file.py:ClassOrFunction')")
    from ..loader import load_object

    found = load_object(spec)
    if inspect.isclass(found):
        found = found(**options)
    if hasattr(found, "pick"):
        return found
    if callable(found):
        return _FunctionStrategy(found)
    raise ValueError(f"{spec} is neither a class with pick(backends, request) nor such a function")


def strategy_name(strategy) -> str:
    """'round_robin' for a built-in strategy, 'module:Name' for anyone else's."""
    for name, cls in STRATEGIES.items():
        if type(strategy) is cls:
            return name
    target = strategy.function if isinstance(strategy, _FunctionStrategy) else type(strategy)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"
