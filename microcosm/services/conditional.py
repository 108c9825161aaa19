"""Conditional requests (RFC 9110 §13): how an origin lets a cache keep a copy and ask "is mine still good?".

Any Flask service can use it. A read route decorated with `@cacheable(max_age)` answers every 200 with

- `Cache-Control: public, max-age=N`: any cache (a browser, a CDN edge) may keep it N seconds;
- a strong `ETag`, a hash of the exact bytes sent: the same bytes, the same tag; a write that changes the
  representation changes the tag;
- a 304 Not Modified with no body when the request's `If-None-Match` names that tag (or is `*`): the client's
  copy is current, so only the headers travel (ETag, Cache-Control and Date stay on the 304, RFC 9110 §15.4.5,
  so a cache can refresh the copy it holds).

`not_modified(etag, last_modified)` is the decision itself, for a route that builds its own answer (the static
origin, web.py, also honours `If-Modified-Since` against a file's modification time).

If-None-Match compares weakly (`W/"x"` matches `"x"`, RFC 9110 §13.1.2), and a header that is not the grammar
(`*` or a list of quoted tags) matches nothing: the client gets the full 200, which is always a correct answer.
"""
from __future__ import annotations

import functools
import hashlib
import re
import time
from email.utils import formatdate

from flask import Response, current_app, request
from werkzeug.http import parse_date

_SEPARATORS = re.compile(r"[ \t,]*")  # optional white space and empty list elements (RFC 9110 §5.6.1)
_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*')  # entity-tag (RFC 9110 §8.8.3), then OWS


def strong_etag(data: bytes) -> str:
    """A strong entity tag for these exact bytes: '"' + 32 hex digits of their SHA-256 + '"'."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def entity_tags(header: str) -> list[str] | None:
    """If-None-Match's value read by its grammar: `*` -> ['*']; `"a", W/"b"` -> ['"a"', '"b"'] (the weakness
    mark dropped, as weak comparison ignores it); anything else (an unquoted tag, `*` in a list) -> None."""
    if header.strip(" \t") == "*":
        return ["*"]
    tags, at = [], 0
    while True:
        at = _SEPARATORS.match(header, at).end()
        if at == len(header):
            return tags
        tag = _TAG.match(header, at)
        if tag is None:
            return None
        tags.append(tag.group(2))
        at = tag.end()
        if at < len(header) and header[at] != ",":
            return None


def none_match(header: str | None, etag: str) -> bool:
    """Does `If-None-Match: header` name this representation (RFC 9110 §13.1.2, weak comparison)?"""
    tags = entity_tags(header) if header is not None else None
    return bool(tags) and ("*" in tags or etag.removeprefix("W/") in tags)


def http_date(header: str | None) -> float | None:
    """An HTTP-date as a POSIX time, or None when it is not one (a recipient ignores an invalid date)."""
    try:
        parsed = parse_date(header)
        return parsed.timestamp() if parsed is not None else None
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def not_modified(etag: str, last_modified: float | None = None) -> bool:
    """Should this GET or HEAD be a 304 (RFC 9110 §13.2.2)? If-None-Match decides when it is sent (and
    If-Modified-Since is then ignored); else If-Modified-Since, when the representation was last modified no
    later than the date given. A date that is not a date, or is later than now, is ignored (§13.1.3)."""
    if request.method not in ("GET", "HEAD"):
        return False
    given = request.headers.get("If-None-Match")
    if given is not None:
        return none_match(given, etag)
    since = http_date(request.headers.get("If-Modified-Since"))
    if since is None or last_modified is None or since > time.time():
        return False
    return int(last_modified) <= since  # HTTP dates have whole seconds


def last_modified_header(mtime: float) -> str:
    """A modification time as an HTTP-date: 'Sun, 29 Nov 2026 06:15:06 GMT'."""
    return formatdate(int(mtime), usegmt=True)


def validated(response: Response, cache_control: str) -> Response:
    """A 200 gets its ETag and Cache-Control, and becomes a 304 without a body when the client holds it."""
    if response.status_code != 200 or response.direct_passthrough or response.is_streamed:
        return response
    etag = strong_etag(response.get_data())
    response.headers["ETag"], response.headers["Cache-Control"] = etag, cache_control
    if not_modified(etag):
        response.status_code = 304
        response.set_data(b"")  # werkzeug then sends no Content-Type or Content-Length on the 304
    return response


def cacheable(max_age: int):
    """Decorate a read route: public for `max_age` seconds, a strong ETag, 304 when the client holds it."""
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError(f"max_age: a whole number of seconds, 0 or more (got {max_age!r})")
    cache_control = f"public, max-age={max_age}"

    def decorate(view):
        @functools.wraps(view)
        def read(*args, **kwargs):
            return validated(current_app.make_response(view(*args, **kwargs)), cache_control)

        return read

    return decorate


__all__ = ["cacheable", "entity_tags", "http_date", "last_modified_header", "none_match", "not_modified",
           "strong_etag", "validated"]
