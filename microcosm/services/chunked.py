"""A backend's chunked body (RFC 9112 section 7.1), read strictly by the rules of http1.py: each size line is 1 to
16 hex digits plus well-formed extensions, at most `MAX_CHUNK_LINE` bytes; CRLF after each chunk's data; trailers
checked like header lines and bounded like a head, then dropped (the balancer and the gateway forward none).

Like http1.py, pure functions on bytes: `Chunked.step` is given what has arrived and answers how much of it it
used, None until more arrives, or ProtocolError."""
from __future__ import annotations

import re

from .http1 import _TOKEN, MAX_FIELDS, MAX_HEAD, MAX_LINE, ProtocolError, line_at, parse_field

MAX_CHUNK_LINE = 1024  # a chunk-size line with its extensions
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXTENSION = rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(?:" + _EXTENSION + rb")*")


def chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (1 to 16 hex digits, then optional `;name=value` extensions)."""
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise ProtocolError(f"a malformed chunk-size line {line[:40]!r}")
    digits = match[1]
    if len(digits) > 16:
        raise ProtocolError("a chunk size of more than 16 hex digits")
    return int(digits, 16)


class Chunked:
    """Where a chunked body is: a size line, `left` bytes of data, the CRLF after them, trailers, or done."""

    def __init__(self):
        self.state, self.left, self.trailers, self.trailer_bytes = "size", 0, 0, 0

    def step(self, buf, pos: int = 0) -> tuple[int, bool] | None:
        """Parse what starts at buf[pos]: (bytes used, whether they are body data), or None until more arrive."""
        if self.state == "data":
            used = min(self.left, len(buf) - pos)
            if used == 0:
                return None
            self.left -= used
            if self.left == 0:
                self.state = "crlf"
            return used, True
        if self.state == "crlf":
            if len(buf) - pos < 2:
                return None
            if buf[pos:pos + 2] != b"\r\n":
                raise ProtocolError("chunk data not followed by CRLF")
            self.state = "size"
            return 2, False
        if self.state == "size":
            found = line_at(buf, pos, MAX_CHUNK_LINE)
            if found is None:
                return None
            self.left = chunk_size(found[0])
            self.state = "data" if self.left else "trailer"
            return found[1] - pos, False
        if self.state == "trailer":
            return self._trailer(buf, pos)
        return None  # done: nothing more belongs to this body

    def _trailer(self, buf, pos: int) -> tuple[int, bool] | None:
        found = line_at(buf, pos, MAX_LINE)
        if found is None:
            return None
        line, end = found
        if not line:
            self.state = "done"
        else:
            parse_field(line)  # checked, then dropped: the balancer does not forward trailers
            self.trailers += 1
            self.trailer_bytes += end - pos
            if self.trailers > MAX_FIELDS or self.trailer_bytes > MAX_HEAD:
                raise ProtocolError(f"more than {MAX_FIELDS} trailer lines or {MAX_HEAD} bytes of them")
        return end - pos, False


def chunked_length(buf) -> int | None:
    """If buf holds a whole chunked body: its decoded length; None if part of it has not arrived yet."""
    body, pos, total = Chunked(), 0, 0
    while body.state != "done":
        step = body.step(buf, pos)
        if step is None:
            return None
        used, data = step
        pos += used
        total += used if data else 0
    return total
