"""Lab 10's set-up: a scripted origin, and an edge in front of it loading one task's part of the learner's code,
the rest being the edge's own, so each task is graded on its own.

    parts = parts_file(lab_dir / "freshness.py", folder)
    edge = LabEdge(launch, freshness=f"{parts}:YourLifetimeAndAge")     # Task 1: the edge's decide
    edge = LabEdge(launch, storable=f"{lab_dir}/storable.py:refusal")   # Task 3: the edge's freshness
    answers, seen = edge.row("s-maxage", [("Cache-Control", "max-age=0, s-maxage=60")], asks=2)

The origin and edge are the edge tests' (tests/integration/cdn_helpers.py's Cdn, microcosm/services/scripted_origin.py):
a test scripts the answer of a path (headers, with times as {now-100}; status; ETag; a delay) and reads what the
origin was asked at its /_count (requests, conditional requests, 304s sent): counted where the load lands, not
by the learner's code.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from microcosm.services.loader import load_object

Cdn = load_object(f"{Path(__file__).resolve().parents[1] / 'integration' / 'cdn_helpers.py'}:Cdn")

PARTS = '''"""The learner's freshness.py, one task's methods; the edge's own for the rest (lab10_edge.py wrote it)."""
from microcosm.services.cdn.freshness import Freshness as Edge
from microcosm.services.loader import load_object

Learner = load_object({learner!r})
EDGE = Edge()


class YourLifetimeAndAge(Learner):
    """Task 1: your lifetime and age; the edge's decide, which reads them through self."""

    def decide(self, stored, request_cc, now):
        return Edge.decide(self, stored, request_cc, now)


class YourDecide(Learner):
    """Task 2: your decide; the edge's lifetime and age, which your decide reads through self."""

    def lifetime(self, stored):
        return EDGE.lifetime(stored)

    def age(self, stored, now):
        return EDGE.age(stored, now)
'''


def parts_file(learner: Path, folder: Path) -> Path:
    """The file of the two mixed classes above, for `learner` (the learner's freshness.py)."""
    path = folder / "lab10_parts.py"
    path.write_text(PARTS.format(learner=f"{learner}:Freshness"))
    return path


class LabEdge(Cdn):
    """A scripted origin, and an edge in front of it with the plug-ins given (freshness=..., storable=...);
    `script(path, headers, **script)` and `count(path)` as in the edge tests."""

    def __init__(self, launch, **plug_ins):
        super().__init__(launch, traffic=False, **plug_ins)

    def ask(self, path: str, headers: dict | None = None) -> requests.Response:
        """One GET through the edge; a 500 (the edge's report of an exception or a bad value from the learner's
        code) fails the test with the edge's message."""
        answer = requests.get(self.edge.url + path, headers=headers or {}, timeout=15)
        if answer.status_code == 500:
            try:
                message = answer.json()["message"]
            except (ValueError, KeyError, TypeError):
                return answer  # not the edge's report: the origin's own 500, passed on
            if "NotImplementedError" in message:
                pytest.fail(f"not written yet: {message}")
            pytest.fail(f"GET {path}: the edge answered 500: {message}")
        return answer

    def row(self, name: str, headers=(), asks=2, **script) -> tuple[list[requests.Response], dict]:
        """Script /lab10/<name> (a path of its own), GET it `asks` times (an int) or once per request-headers
        dict in `asks`, and return the answers and what the origin was asked."""
        path = f"/lab10/{name}"
        self.script(path, headers, body=f"body of {name}", **script)
        asks = [{}] * asks if isinstance(asks, int) else asks
        return [self.ask(path, h) for h in asks], self.count(path)


def cache(answers) -> list[str]:
    """The X-Cache of each answer: MISS (from the origin), HIT (from the store), REVALIDATED (a 304 said it
    had not changed)."""
    return [a.headers.get("X-Cache") for a in answers]


def ages(answers) -> list[int]:
    return [int(a.headers["Age"]) for a in answers]


def expect(name: str, answers, seen: dict, xcache: list[str], origin: int, why: str) -> None:
    """The answers carry `xcache` and the origin saw `origin` requests, else a failure saying `why`."""
    got = cache(answers)
    reasons = [a.headers.get("X-Cache-Reason") for a in answers]
    assert got == xcache and seen["requests"] == origin, (
        f"{name}: X-Cache {got}, the origin asked {seen['requests']} times; expected {xcache} and {origin} "
        f"({why}); the answers' Age: {ages(answers)}" + (f", X-Cache-Reason: {reasons}" if any(reasons) else ""))


class Timed:
    """`with Timed() as run:` ... `run.seconds`: how long the requests in it took, the slack of an Age bound."""

    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = time.monotonic() - self.start

    def within(self, low: float) -> range:
        """The Age values possible for an answer `low` seconds old when the run began: from `low` up to `low` +
        the run's time, + 1 for the whole seconds of Date and Age."""
        return range(int(low), int(low + self.seconds) + 2)
