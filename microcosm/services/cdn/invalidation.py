"""Invalidation (RFC 9111 §4.4): a write through the edge removes what it made out of date.

When a request with an unsafe method (anything but GET, HEAD, OPTIONS, TRACE, so an unknown method counts
as unsafe too) gets a non-error answer (2xx or 3xx), the edge drops every stored variant of the request's
target, and of the URIs in the answer's `Location` and `Content-Location` fields when they are on the same
origin. Same origin here: a relative reference, or an absolute `http` URI whose host and port are the edge's
(the `Host` the client used) or the origin's (an origin that writes its own address into `Location`). Any
other host is not ours to invalidate: a response must not be able to evict another site's entries.
"""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _same_origin_key(reference: str, base_path: str, hosts: set[str]) -> str | None:
    """The store key (path and query) `reference` names, if it is on one of `hosts`; else None."""
    if len(reference) > 2048:
        return None
    try:
        absolute = urlsplit(urljoin(f"http://{next(iter(hosts))}{base_path}", reference.strip()))
    except ValueError:
        return None
    if absolute.scheme != "http" or absolute.netloc.lower() not in hosts:
        return None
    return (absolute.path or "/") + (f"?{absolute.query}" if absolute.query else "")


def invalidated_keys(method: str, status: int, key: str, response_headers, hosts: set[str]) -> list[str]:
    """The store keys an answer to `method key` invalidates (none for a safe method or an error)."""
    if method in SAFE or not 200 <= status < 400:
        return []
    keys = [key]
    for name in ("Location", "Content-Location"):
        value = response_headers.get(name)
        if value:
            other = _same_origin_key(value, key, {h.lower() for h in hosts if h})
            if other is not None and other not in keys:
                keys.append(other)
    return keys
