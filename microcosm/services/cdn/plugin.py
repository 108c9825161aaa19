"""The plug points: the edge's `Freshness` (freshness.py), or yours, loaded once at launch; and, optionally, your
own rule of what may be stored (storable.py's `refusal`).

    launch("cdn", origin=..., freshness="my_freshness.py:MyFreshness")   # a class (made with no arguments)
    launch("cdn", origin=..., freshness="my_freshness.py:fresh")         # or an object with the three methods
    launch("cdn", origin=..., storable="my_rules.py:refusal")            # refusal(method, request_headers,
                                                                          #   request_cc, status, headers, cc)

Like the balancer's `strategy=`, the code comes from a launch option the notebook gives (services/loader.py:
a .py file only), never from a request. It must have `lifetime(stored)`, `age(stored, now)` and
`decide(stored, request_cc, now)` (freshness.py says what each means); a subclass of `Freshness` that
overrides only some of them is fine. A launch with an object lacking one of them fails at once, saying which.

While the edge runs, every call is checked: a method that raises, or returns something that is not a
number (lifetime, age) or one of "serve", "revalidate", "fetch" (decide), is your code's bug. The client then
gets a 500 whose message says which method did what, like the balancer's for a broken strategy, and the
edge goes on serving the next request. A storable rule must return None (store it) or a short text (why not).
"""
from __future__ import annotations

import math

from ..loader import load_object
from .freshness import DECISIONS, Freshness
from .storable import refusal

METHODS = ("lifetime", "age", "decide")


class PluginFailed(Exception):
    """The loaded code raised, or returned something the edge cannot use."""


def load_freshness(spec: str | None):
    """None -> the built-in Freshness; 'file.py:Name' -> that class (instantiated) or object."""
    if spec is None:
        return Freshness()
    found = load_object(spec)
    fresh = found() if isinstance(found, type) else found
    missing = [m for m in METHODS if not callable(getattr(fresh, m, None))]
    if missing:
        raise ValueError(f"{spec} has no method {', '.join(missing)}: a freshness plug-in needs "
                         f"lifetime(stored), age(stored, now) and decide(stored, request_cc, now)")
    return fresh


class Checked:
    """The plug-in, each call checked (the built-in one passes every check, at the cost of a few ns)."""

    def __init__(self, fresh):
        self.fresh = fresh
        self.name = type(fresh).__name__

    def _number(self, method: str, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise PluginFailed(f"{self.name}.{method} returned {value!r:.60}, not a number of seconds")
        return max(0.0, float(value))

    def lifetime(self, stored) -> float:
        try:
            value = self.fresh.lifetime(stored)
        except Exception as exc:
            raise PluginFailed(f"{self.name}.lifetime raised {type(exc).__name__}: {exc}") from exc
        return self._number("lifetime", value)

    def age(self, stored, now: float) -> float:
        try:
            value = self.fresh.age(stored, now)
        except Exception as exc:
            raise PluginFailed(f"{self.name}.age raised {type(exc).__name__}: {exc}") from exc
        return self._number("age", value)

    def decide(self, stored, request_cc: dict, now: float) -> str:
        try:
            value = self.fresh.decide(stored, request_cc, now)
        except Exception as exc:
            raise PluginFailed(f"{self.name}.decide raised {type(exc).__name__}: {exc}") from exc
        if value not in DECISIONS or (value != "fetch" and stored is None):
            raise PluginFailed(f"{self.name}.decide returned {value!r:.60}: expected one of {', '.join(DECISIONS)}"
                               + (" ('fetch' when nothing is stored)" if stored is None else ""))
        return value


def load_storable(spec: str | None):
    """None -> storable.refusal; 'file.py:name' -> that function, each answer checked."""
    if spec is None:
        return refusal
    rule = load_object(spec)
    if not callable(rule):
        raise ValueError(f"{spec} is not a function: a storable rule is refusal(method, request_headers, "
                         "request_cc, status, headers, cc) -> None or the reason not to store")
    name = getattr(rule, "__name__", type(rule).__name__)

    def checked(*args):
        try:
            reason = rule(*args)
        except Exception as exc:
            raise PluginFailed(f"{name} raised {type(exc).__name__}: {exc}") from exc
        if reason is not None and not isinstance(reason, str):
            raise PluginFailed(f"{name} returned {reason!r:.60}: expected None (store it) or why not (a str)")
        return reason

    checked.__name__ = name
    return checked
