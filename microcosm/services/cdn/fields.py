"""Reading the header fields a cache decides by: Cache-Control directives, HTTP dates, Age (RFC 9111 §5).

Whatever a peer sends, these never raise: a directive with a bad value, a date that is not a date, an Age
that is not a number are each read the way RFC 9111 asks a cache to read them (said at each function).
"""
from __future__ import annotations

import functools
import re

from ..conditional import http_date as _http_date

MAX_DELTA = 2**31  # RFC 9111 §1.2.2: a delta-seconds too big to hold is taken as 2^31
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # RFC 9110 §5.6.2 (names are lowered first)
MAX_DIRECTIVES = 64  # directives read from one message: a header of 4,000 commas is not 4,000 entries


def _split(value: str):
    """A comma-separated list, commas inside "quoted strings" kept (no-cache="Set-Cookie, X-Foo")."""
    part, quoted, escaped = [], False, False
    for ch in value:
        if escaped:
            part.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
            part.append(ch)
        elif ch == "," and not quoted:
            yield "".join(part)
            part = []
        else:
            part.append(ch)
    yield "".join(part)


def cache_control(values) -> dict[str, str | None]:
    """Every Cache-Control line of a message as {directive: argument or None}, names in lower case.

    A directive given twice keeps its first value (RFC 9111 §4.2.1: "either the first occurrence should be
    used or the response should be considered stale"); quotes around an argument are removed."""
    directives: dict[str, str | None] = {}
    for value in values:
        for part in _split(value):
            name, eq, arg = part.partition("=")
            name = name.strip().lower()
            if not TOKEN.fullmatch(name) or name in directives:  # not a directive name: ignored
                continue
            if len(directives) >= MAX_DIRECTIVES:
                return directives
            arg = arg.strip()
            if len(arg) >= 2 and arg[0] == arg[-1] == '"':
                arg = arg[1:-1]
            directives[name] = arg if eq else None
    return directives


def delta(directives: dict, name: str, invalid=0) -> int | None:
    """A delta-seconds directive (max-age=60) as an int; None when absent; `invalid` when its value is not a
    non-negative integer (RFC 9111 §4.2.1 encourages taking invalid freshness information as stale, so 0 by
    default); at most 2^31."""
    if name not in directives:
        return None
    value = directives[name]
    if value is None or not value.isascii() or not value.isdigit():
        return invalid
    return min(int(value), MAX_DELTA) if len(value) < 12 else MAX_DELTA


@functools.lru_cache(maxsize=4096)  # a stored answer's Date is read on every hit: parse each string once
def http_date(value: str | None) -> float | None:
    """An HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) as a Unix time; None if it is
    not one (RFC 9111 §4.2: an invalid date is treated as a time in the past, which each caller says)."""
    return _http_date(value) if value and len(value) <= 64 else None  # the origins' reading (conditional.py)


def age_value(value: str | None) -> int:
    """The Age field (RFC 9111 §5.1): the first member of a list; anything but a non-negative integer is
    ignored (0)."""
    if not value:
        return 0
    first = value.split(",", 1)[0].strip()
    if not first.isascii() or not first.isdigit():
        return 0
    return min(int(first), MAX_DELTA) if len(first) < 12 else MAX_DELTA


def revalidation_required(directives: dict) -> bool:
    """Once stale, may this response be served only after the origin validated it? must-revalidate,
    proxy-revalidate, and s-maxage (which "incorporates the semantics of proxy-revalidate", §5.2.2.10) say so
    to a shared cache: no stale-while-revalidate, no stale-if-error, no max-stale for it."""
    return "must-revalidate" in directives or "proxy-revalidate" in directives or "s-maxage" in directives


def field_names(value: str) -> list[str]:
    """The names in a Vary or Connection field, lower case, blanks dropped."""
    return [name.strip().lower() for name in value.split(",") if name.strip()]
