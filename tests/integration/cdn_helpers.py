"""What the edge cache's tests (test_cdn_*) share: a scripted origin with an edge in front, and a row runner.

`Cdn.script(path, ...)` tells the origin how to answer `path` (microcosm/services/scripted_origin.py);
`Cdn.count(path)` is what the origin saw. A row is one RFC behaviour: a script, the requests made through the
edge in order, and what must follow (X-Cache of each answer, origin requests).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

ORIGIN = "scripted_origin"  # a built-in service: chapter 10 uses it too


class Cdn:
    def __init__(self, launch, tag: str | None = None, traffic: bool = False, **edge_options):
        self.tag = tag or uuid.uuid4().hex[:6]
        self.origin = launch(ORIGIN, f"cdn-origin-{self.tag}", traffic=traffic)
        self.edge = launch("cdn", f"cdn-{self.tag}", origin=self.origin.url, traffic=traffic, **edge_options)

    def script(self, path: str, headers=(), **script) -> None:
        answer = self.origin.put("/_script", json={"path": path, "headers": [list(h) for h in headers], **script})
        assert answer.status_code == 200, answer.text

    def count(self, path: str) -> dict:
        return self.origin.get("/_count", params={"path": path}).json()

    def get(self, path: str, method: str = "GET", **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.request(method, self.edge.url + path, **kwargs)


@dataclass
class Row:
    """One behaviour: the origin's script for a fresh path, then requests [(method, headers)] through the edge."""
    id: str
    headers: list = field(default_factory=list)  # the origin's answer headers (values may use {now-50})
    requests: list = field(default_factory=lambda: [("GET", {}), ("GET", {})])
    cache: list = field(default_factory=list)  # X-Cache of each answer, in order
    origin: int | None = None  # requests the origin got
    script: dict = field(default_factory=dict)  # more of the script: status, etag, not_modified_headers ...
    edge_error: bool = False  # the edge itself answers 5xx here (only-if-cached and nothing stored: 504)

    def run(self, cdn: Cdn) -> tuple[list[requests.Response], dict]:
        path = f"/row/{self.id}"
        cdn.script(path, self.headers, body=f"body of {self.id}", **self.script)
        answers = [cdn.get(path, method, headers=headers) for method, headers in self.requests]
        return answers, cdn.count(path)


def check_row(row: Row, cdn: Cdn):
    answers, seen = row.run(cdn)
    got = [a.headers.get("X-Cache") for a in answers]
    assert got == row.cache, f"{row.id}: X-Cache {got}, expected {row.cache} " \
                             f"(reasons: {[a.headers.get('X-Cache-Reason') for a in answers]})"
    if row.origin is not None:
        assert seen["requests"] == row.origin, f"{row.id}: the origin got {seen['requests']} requests"
    for a in answers:
        assert a.status_code < 500 or row.script.get("status", 200) >= 500 or row.edge_error, a.text
        assert a.headers.get("Age", "").isdigit(), f"{row.id}: no Age on an answer"
    return answers, seen
