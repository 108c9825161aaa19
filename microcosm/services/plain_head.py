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
FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?)[ \t]*")
NOT_HERE = frozenset({"content-length", "transfer-encoding", "upgrade", "expect", "te"})
MAX_OWN_HEAD = 8190  # a longer head is aiohttp's to read (and to refuse)


def read_plain_head(head: bytes) -> tuple[str, str, CIMultiDict] | None:
    """(method, target, fields) of a plain GET/HEAD request head, or None for anything else."""
    lines = head[:-4].split(b"\r\n")
    first = REQUEST_LINE.fullmatch(lines[0])
    if first is None or len(lines) > 101:
        return None
    fields, hosts = [], 0
    for line in lines[1:]:
        field = FIELD.fullmatch(line)
        if field is None:
            return None
        name, value = field.group(1).decode("ascii"), field.group(2).decode("ascii")
        lower = name.lower()
        if lower in NOT_HERE or lower == "connection" and value.lower() != "keep-alive":
            return None
        hosts += lower == "host"
        fields.append((name, value))
    if hosts != 1:
        return None
    return first.group(1).decode("ascii"), first.group(2).decode("ascii"), CIMultiDict(fields)
