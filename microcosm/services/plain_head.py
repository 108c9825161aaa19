"""The plainest request head, read strictly: what the fast paths (cdn/fastpath.py, balancer/fastpath.py) answer
themselves, before aiohttp's parser sees a byte.

`read_plain_head(head)` takes a request head ending in CRLF CRLF and gives (method, target, fields) for a GET or
HEAD over HTTP/1.1 with exactly one Host, printable-ASCII field lines and no body; anything else (another method,
HTTP/1.0, a body, Upgrade, Expect, TE, `Connection` other than keep-alive, obs-fold, a byte outside printable
ASCII, more than 100 fields) gives None. None is never an error: aiohttp's parser then reads the same bytes, and
answers a malformed request as it always does.
"""
from __future__ import annotations

import re

from multidict import CIMultiDict

REQUEST_LINE = re.compile(rb"(GET|HEAD) (/[\x21-\x7e]*) HTTP/1\.1")
# every field line at once: a token, a colon, printable ASCII, spaces and tabs (the value's surrounding ones are
# stripped after), CRLF. (One pass over the block: a regex per line, matching the value's shape, cost twice as much.)
FIELD_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e]*\r\n)*")
NOT_HERE = frozenset({"content-length", "transfer-encoding", "upgrade", "expect", "te"})
MAX_OWN_HEAD = 8190  # a longer head is aiohttp's to read (and to refuse)
MAX_FIELDS = 100


def read_plain_head(head: bytes) -> tuple[str, str, CIMultiDict] | None:
    """(method, target, fields) of a plain GET/HEAD request head, or None for anything else."""
    first = head.find(b"\r\n")
    request_line = REQUEST_LINE.fullmatch(head, 0, first)
    if request_line is None or not FIELD_LINES.fullmatch(head, first + 2, len(head) - 2):
        return None
    lines = head[first + 2:-4].decode("ascii").split("\r\n")
    if len(lines) > MAX_FIELDS:
        return None
    fields, hosts = [], 0
    for line in lines:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        lower = name.lower()
        if lower in NOT_HERE or lower == "connection" and value.lower() != "keep-alive":
            return None
        hosts += lower == "host"
        fields.append((name, value))
    if hosts != 1:
        return None
    return request_line.group(1).decode("ascii"), request_line.group(2).decode("ascii"), CIMultiDict(fields)
