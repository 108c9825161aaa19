"""Requests to an HTTP cache, each answer read as the cache gave it: status, X-Cache, Age, time taken, body.

    from microcosm.load.through_cache import ask, herd, hit_ratio
    answers = ask(edge.url, ["/products/1", "/products/2"] * 10)       # one after another, on one connection
    answers = ask(edge.url, paths, headers=[{"Accept-Language": "de"}, ...])   # each request its own headers
    answers = herd(edge.url + "/products/4", 100)                      # 100 at once, released together
    hit_ratio(answers)                                                 # (HIT + STALE) / answers

Chapter 10 measures the edge (services/cdn) with these. `herd` starts one thread per request and holds them
at a barrier until all are ready, so the requests leave together, the way a thundering herd arrives after a
purge or a popular page's expiry. A request that got no answer (refused, reset, timed out) is an `Answer`
with status 0 and cache "" rather than an exception, so a run against a dead origin counts its failures.
"""
from __future__ import annotations

import threading
import time
from typing import NamedTuple

import requests


class Answer(NamedTuple):
    status: int  # 0: no answer at all
    cache: str   # X-Cache: HIT, MISS, STALE, REVALIDATED ("" without one)
    age: int     # Age in seconds (0 without one)
    ms: float    # from sending the request to the whole answer read
    body: bytes


def _one(session: requests.Session, url: str, headers: dict | None, timeout: float) -> Answer:
    started = time.perf_counter()
    try:
        answer = session.get(url, headers=headers, timeout=timeout)
    except requests.RequestException:
        return Answer(0, "", 0, (time.perf_counter() - started) * 1000, b"")
    age = answer.headers.get("Age", "0")
    return Answer(answer.status_code, answer.headers.get("X-Cache", ""), int(age) if age.isdigit() else 0,
                  (time.perf_counter() - started) * 1000, answer.content)


def ask(base_url: str, paths, headers=None, timeout: float = 10.0) -> list[Answer]:
    """GET each of `paths` from `base_url`, one after another on one kept-alive connection. `headers` is one
    dict for every request, or a list with one dict per path."""
    paths = list(paths)
    per_request = headers if isinstance(headers, list) else [headers] * len(paths)
    if len(per_request) != len(paths):
        raise ValueError(f"{len(per_request)} header sets for {len(paths)} paths: give one per path, or one dict")
    with requests.Session() as session:
        return [_one(session, base_url + path, h, timeout) for path, h in zip(paths, per_request)]


def herd(url: str, count: int = 100, headers: dict | None = None, timeout: float = 10.0) -> list[Answer]:
    """GET `url` `count` times at once: a thread each, all released together. Answers in no particular order."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 500:
        raise ValueError(f"count: a whole number of requests from 1 to 500, got {count!r}")
    ready = threading.Barrier(count)
    answers: list[Answer] = []
    lock = threading.Lock()

    def run():
        with requests.Session() as session:
            try:
                ready.wait(timeout)
            except threading.BrokenBarrierError:
                pass  # a slow thread start: go anyway
            answer = _one(session, url, headers, timeout)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run, daemon=True, name=f"herd-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def hit_ratio(answers) -> float:
    """The share of answers the cache gave from its store (HIT or STALE), as the edge's /metrics counts it."""
    answers = list(answers)
    return sum(a.cache in ("HIT", "STALE") for a in answers) / len(answers) if answers else 0.0


__all__ = ["Answer", "ask", "herd", "hit_ratio"]
