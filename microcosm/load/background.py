"""Steady requests from a background thread while a cell does something else (scales, kills, restarts).

    from microcosm.load.background import keep_asking
    with keep_asking(lb, "/products/1") as answers:     # one request after another, until the block ends
        microcosm.scale("catalog", 3)
    failed = sum(a.status != 200 for a in answers)

A Locust run (runner.py) is the tool for load with many users and percentiles; this is one caller, in this
kernel, for "did anything fail while I did X, and when did the new instance answer first".
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import NamedTuple

import requests


class Answer(NamedTuple):
    at: float            # time.time() when the answer came
    status: int          # its status code; 0 when there was no answer (refused, reset, timed out)
    backend: str | None  # who served it, from the balancer's X-Backend header (None without one)


@contextmanager
def keep_asking(service, path: str = "/", pause: float = 0.01):
    """GET `path` on `service` (a `microcosm.Service`) from a background thread, one request after another
    with `pause` seconds between, while the with-block runs. Yields the list the answers are appended to;
    when the block ends, the thread stops after the request it is sending and the list is complete."""
    answers: list[Answer] = []
    stop = threading.Event()

    def ask():
        while not stop.is_set():
            try:
                answer = service.get(path)
                answers.append(Answer(time.time(), answer.status_code, answer.headers.get("X-Backend")))
            except requests.RequestException:
                answers.append(Answer(time.time(), 0, None))
            stop.wait(pause)

    thread = threading.Thread(target=ask, daemon=True, name="keep-asking")
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join()
