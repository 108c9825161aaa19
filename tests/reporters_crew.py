"""A crew: a journal and the reporters of one group of their own, and what they say. Shared by the coordination
tests (tests/integration/test_coordination.py) and lab 08's graded tests (tests/grading/lab08_crew.py)."""
from __future__ import annotations

from types import SimpleNamespace


class Crew(SimpleNamespace):
    """A journal and three reporters of one group of their own."""

    def status(self, reporter) -> dict:
        return reporter.get("/status").json()

    def leaders(self, among=None) -> list:
        return [r for r in (among or self.reporters) if self.status(r)["leader"]]

    def batches(self) -> list[dict]:
        return self.journal.get("/batches", params={"limit": 1000}).json()["batches"]

    def summary(self) -> dict:
        return self.journal.get("/summary").json()
