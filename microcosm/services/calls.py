"""Calling another service: one HTTP request that carries this request's identity to the next hop.

Every call sends the headers below, so the callee can record its hop as a child of ours and a request's path
through the system becomes a tree you can draw. A callee that is dead or stuck records nothing, so the caller
records that hop itself, as an error (`record_failed_call`).
"""
from __future__ import annotations

import re
import os
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, g, has_request_context

from ..traffic.hops import new_hop_id
from .errors import UpstreamError

if TYPE_CHECKING:
    import requests

REQUEST_ID = "X-Request-ID"  # the request's id, the same on every hop it makes
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(given: str | None) -> str:
    """The caller's request id if it is a sensible one (up to 128 letters, digits, '.', '_', ':', '-'), else a
    new one: a client's 6 KB or control-character "id" is not copied into every hop, log line and answer."""
    if given and _GOOD_ID.fullmatch(given):
        return given
    return os.urandom(16).hex()  # a new one: 32 random hex digits
CALLER = "X-Caller"  # the calling service
CALLER_INSTANCE = "X-Caller-Instance"  # and which instance of it
PARENT_HOP = "X-Parent-Hop"  # the caller's hop id: a request's hops form a tree
DEFAULT_TIMEOUT = 2.0  # seconds; a service's config can set its own `upstream_timeout`

_sessions = threading.local()  # one connection pool per server thread: a requests.Session is not thread-safe


def _session() -> "requests.Session":
    if not hasattr(_sessions, "s"):
        import requests  # here, not at the top: a service that never calls another never loads requests

        _sessions.s = requests.Session()
    return _sessions.s


def call(method: str, url: str, *, upstream: str = "upstream", timeout: float | None = None,
         **kwargs) -> "requests.Response":
    """One HTTP call to another service, with a timeout and this request's id.

    A refused connection raises UpstreamError (503), a timeout UpstreamError (504): both become JSON errors
    if not caught. Any HTTP answer, 4xx and 5xx included, is returned for the caller to judge.
    """
    import requests

    if timeout is None:
        timeout = current_app.config.get("UPSTREAM_TIMEOUT", DEFAULT_TIMEOUT) if has_request_context() else DEFAULT_TIMEOUT
    headers = dict(kwargs.pop("headers", None) or {})
    if has_request_context():
        headers.setdefault(REQUEST_ID, g.get("request_id", ""))
        headers.setdefault(CALLER, current_app.name)
        headers.setdefault(CALLER_INSTANCE, current_app.config["INSTANCE"])
        headers.setdefault(PARENT_HOP, g.get("hop", ""))
    started = time.perf_counter()
    try:
        return _session().request(method, url, headers=headers, timeout=(min(timeout, 1.0), timeout), **kwargs)
    except requests.Timeout:
        error = UpstreamError(upstream, f"{upstream} did not answer within {timeout:g} s", 504)
    except requests.ConnectionError:
        error = UpstreamError(upstream, f"{upstream} is unreachable (connection refused or reset)", 503)
    record_failed_call(method, url, upstream, error, started)
    raise error


def record_failed_call(method: str, url: str, upstream: str, error: UpstreamError, started: float) -> None:
    """The callee could not record this hop (it is dead or stuck), so the caller records it as an error.

    `started` is the `time.perf_counter()` taken just before the call. Does nothing outside a request or in
    a service that does not record hops.
    """
    if not has_request_context() or current_app.extensions.get("hops") is None:
        return
    path = urlsplit(url).path or "/"
    current_app.extensions["hops"].record(
        request_id=g.get("request_id", ""), hop=new_hop_id(), parent=g.get("hop", ""),
        caller=current_app.name, caller_instance=current_app.config["INSTANCE"], callee=upstream, instance="",
        method=method, path=path, status=error.code, ms=round((time.perf_counter() - started) * 1000, 3),
        error=error.description)
