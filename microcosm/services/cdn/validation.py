"""Validation (RFC 9111 §4.3): asking the origin whether a stored answer is still good, and answering a
client's own conditional request from the store.

- `conditional_headers(stored)`: what the edge adds to its request to the origin, `If-None-Match` with the
  stored `ETag` and `If-Modified-Since` with the stored `Last-Modified` (§4.3.1).
- `same_representation(stored, headers)`: may a 304 update this stored answer? Not when it carries a strong
  ETag that differs from the stored one (§4.3.4): it validated something else.
- `freshen(stored, headers, request_time, response_time)`: a 304 from the origin updates the stored headers
  (each field it carries replaces the stored field of that name, except Content-Length) and restarts the
  answer's clock (§3.2, §4.3.4); its body is kept.
- `not_modified(request_headers, stored)`: does the client's `If-None-Match` (weak comparison: W/"a" matches
  "a"; `*` matches anything) or, without it, `If-Modified-Since` say it already holds this answer? Then the
  edge answers 304 itself (RFC 9110 §13.1.2, §13.1.3, §13.2.2).
"""
from __future__ import annotations

import time

from ..conditional import none_match
from .fields import http_date

NOT_UPDATED = frozenset({"content-length"})  # §3.2: never taken from a 304
IN_304 = frozenset({"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"})


def conditional_headers(stored) -> list[tuple[str, str]]:
    headers = []
    etag = stored.get("ETag")
    if etag:
        headers.append(("If-None-Match", etag))
    last_modified = stored.get("Last-Modified")
    if last_modified:
        headers.append(("If-Modified-Since", last_modified))
    return headers


def has_validator(stored) -> bool:
    return stored.get("ETag") is not None or stored.get("Last-Modified") is not None


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def same_representation(stored, headers) -> bool:
    """False when the 304 names a strong ETag that is not the stored answer's."""
    new = headers.get("ETag")
    if new is None or new.startswith("W/"):
        return True
    old = stored.get("ETag")
    return old is None or _opaque(old) == _opaque(new)


def freshen(stored, headers, request_time: float, response_time: float) -> None:
    """Update a stored answer from a 304's headers (a multidict of what the origin sent, hop-by-hop removed)."""
    replaced = {k.lower() for k in headers.keys()} - NOT_UPDATED
    kept = [(k, v) for k, v in stored.headers if k.lower() not in replaced]
    stored.headers = kept + [(k, v) for k, v in headers.items() if k.lower() in replaced]
    stored.request_time, stored.response_time = request_time, response_time
    stored.__post_init__()  # its Cache-Control directives again, from the new headers


def not_modified(request_headers, stored) -> bool:
    """Does the client's conditional GET/HEAD match the stored answer (so a 304 is the right answer)?"""
    if stored.status != 200:
        return False
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:  # the origins' own comparison (services/conditional.py), on the stored ETag
        return none_match(if_none_match, stored.get("ETag") or '"\x00"')  # no ETag: only * matches
    since = http_date(request_headers.get("If-Modified-Since"))
    last_modified = http_date(stored.get("Last-Modified"))
    if since is None or since > time.time():  # RFC 9110 §13.1.3: a date in the future is ignored
        return False
    return last_modified is not None and last_modified <= since


def headers_for_304(stored) -> list[tuple[str, str]]:
    """The stored fields a 304 carries (RFC 9110 §15.4.5)."""
    return [(k, v) for k, v in stored.headers if k.lower() in IN_304]
