"""A backend's HTTP/1.1 answer, parsed strictly (RFC 9112): what the balancer (and the gateway) accept and refuse.

A proxy that is lenient with its backends forwards their mistakes, or worse, lets one answer be read as two
(response splitting) or lets a backend grow the proxy's memory without bound. So every rule here says no by
raising `ProtocolError`; upstream.py turns that into `Broken`, the balancer answers the client 502 and closes
the connection. What is checked:

- the status line: `HTTP/1.x`, a space, three ASCII digits from 100 to 599, an optional reason;
- every line ends with CRLF (a bare LF is refused) and is at most `MAX_LINE` bytes; a head is at most
  `MAX_HEAD` bytes and `MAX_FIELDS` lines;
- a header line is `token ":" value`: no whitespace before the colon, no obs-fold (a line that starts with
  a space continuing the previous one), no control characters in the value;
- the body's framing: Content-Length only ASCII digits, repeated values must agree, at most
  `MAX_CONTENT_LENGTH`; Transfer-Encoding only `chunked` (we decode nothing else), never together with
  Content-Length, never in HTTP/1.0; no body at all for HEAD, 1xx, 204 and 304;
- a chunked body: chunked.py, by the same rules.

Pure functions on bytes, no sockets: each one is given what has arrived so far and answers "complete",
"not yet" (None) or "broken" (ProtocolError), so the caller decides how long to wait and how much to hold.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_LINE = 8 * 1024  # one status, header or trailer line
MAX_HEAD = 64 * 1024  # all the lines of one head together (and all the trailers of one body)
MAX_FIELDS = 100  # header lines in one head (and trailer lines in one body)
MAX_INTERIM = 8  # 1xx answers before the real one
MAX_CONTENT_LENGTH = 1 << 40  # 1 TiB: no backend of ours sends more; a bigger figure is a broken one

_STATUS = re.compile(rb"HTTP/1\.(\d) ([1-5]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?")
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_FIELD_NAME = re.compile(_TOKEN)
_NOT_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control characters (HTAB is allowed)
_FIELD_LINES = re.compile(rb"(?:" + _TOKEN + rb":[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*")  # any number, each well-formed
_FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding", "connection"})
_FRAMING_LENGTHS = frozenset(map(len, _FRAMING_FIELDS))  # (a cheaper first look than lower-casing every name)


class ProtocolError(ValueError):
    """The backend's answer breaks HTTP/1.1."""


@dataclass
class Head:
    """A response's status line and header fields (names as sent, values without surrounding whitespace)."""
    minor: int  # HTTP/1.<minor>
    status: int
    headers: list[tuple[str, str]]
    # the values of the headers that decide the framing, by lower-case name (parse_head finds them as it splits)
    framing_fields: dict[str, list[str]] | None = field(default=None, repr=False)
    _length = ...  # (content_length's answer, once it has been found: the reader's wake and framing both ask)

    def __post_init__(self):
        if self.framing_fields is not None:
            return
        self.framing_fields = {}
        for name, value in self.headers:
            lower = name.lower()
            if lower in _FRAMING_FIELDS:
                self.framing_fields.setdefault(lower, []).append(value)

    def values(self, name: str) -> list[str]:
        """Every value of one of the framing headers (lower-case name), comma-separated lists split up."""
        found = self.framing_fields.get(name)
        if not found:
            return []
        return [item.strip() for value in found for item in value.split(",")]


def line_at(buf, pos: int, limit: int) -> tuple[bytes, int] | None:
    """The CRLF-ended line starting at buf[pos]: (the line without CRLF, where the next one starts).

    None if its end has not arrived yet; ProtocolError if it is longer than `limit` or ends with a bare LF."""
    end = buf.find(b"\n", pos, pos + limit + 2)
    if end < 0:
        if len(buf) - pos >= limit + 2:
            raise ProtocolError(f"a line longer than {limit} bytes")
        return None
    if end == pos or buf[end - 1] != 0x0D:
        raise ProtocolError("a line ended by a bare LF (HTTP/1.1 lines end with CRLF)")
    return bytes(buf[pos:end - 1]), end + 1


def parse_field(line: bytes) -> tuple[str, str]:
    """One header (or trailer) line: (name, value); ProtocolError unless it is `token ":" OWS value OWS`."""
    if line[:1] in (b" ", b"\t"):
        raise ProtocolError("a folded header line (obs-fold is refused)")
    name, colon, value = line.partition(b":")
    if not colon or not _FIELD_NAME.fullmatch(name):
        raise ProtocolError(f"a malformed header line {line[:60]!r}")
    value = value.strip(b" \t")
    if _NOT_IN_VALUE.search(value):
        raise ProtocolError(f"a control character in the value of {name.decode()}")
    return name.decode("ascii"), value.decode("latin-1")


def parse_head(buf) -> tuple[Head, int] | None:
    """The head at the start of buf: (Head, its length in bytes with the empty line), or None if incomplete."""
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        _check_unfinished(buf)
        return None
    block = bytes(buf[:end + 2])  # the status line and the header lines, each with its CRLF
    first = block.find(b"\r\n")
    if first > MAX_LINE:
        raise ProtocolError(f"a line longer than {MAX_LINE} bytes")
    status = _STATUS.fullmatch(block, 0, first)
    if status is None:
        raise ProtocolError(f"a malformed status line {block[:min(first, 60)]!r}")
    if not _FIELD_LINES.fullmatch(block, first + 2):
        _refuse_fields(block[first + 2:])
    if len(block) > MAX_LINE and max(map(len, block.split(b"\r\n"))) > MAX_LINE:  # a short head has no long line
        raise ProtocolError(f"a line longer than {MAX_LINE} bytes")
    framing_fields: dict[str, list[str]] = {}
    headers = split_fields(block[first + 2:-2].decode("latin-1"), framing_fields)  # all well-formed: split them
    if len(headers) > MAX_FIELDS:
        raise ProtocolError(f"more than {MAX_FIELDS} header lines")
    return Head(int(status[1]), int(status[2]), headers, framing_fields), end + 4


def split_fields(lines: str, framing_fields: dict | None = None) -> list[tuple[str, str]]:
    """(name, value) of each of the CRLF-separated header lines that _FIELD_LINES passed (value without the
    whitespace around it); the values of the framing headers also go into `framing_fields`, by lower-case name.
    Plain str methods: a regex with a lazy value group cost twice as much."""
    fields = []
    if lines:
        for line in lines.split("\r\n"):
            name, _, value = line.partition(":")
            value = value.strip(" \t")
            fields.append((name, value))
            if framing_fields is not None and len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING_FIELDS:
                framing_fields.setdefault(name.lower(), []).append(value)
    return fields


def _check_unfinished(buf) -> None:
    """Refuse a head that has not ended yet but is already broken, rather than wait for the rest of it."""
    if len(buf) >= MAX_HEAD:
        raise ProtocolError(f"a head longer than {MAX_HEAD} bytes")
    lines = buf.count(b"\r\n")
    if buf.count(b"\n") != lines:
        raise ProtocolError("a line ended by a bare LF (HTTP/1.1 lines end with CRLF)")
    if lines > MAX_FIELDS + 1:
        raise ProtocolError(f"more than {MAX_FIELDS} header lines")
    if len(buf) - buf.rfind(b"\r\n") - 2 > MAX_LINE:  # the line that is still arriving
        raise ProtocolError(f"a line longer than {MAX_LINE} bytes")
    first = buf.find(b"\r\n")
    if first < 0:
        return
    if _STATUS.fullmatch(buf, 0, first) is None:
        raise ProtocolError(f"a malformed status line {bytes(buf[:min(first, 60)])!r}")
    good = _FIELD_LINES.match(buf, first + 2).end()  # the header lines that have fully arrived and are fine
    if buf.find(b"\r\n", good) >= 0:
        _refuse_fields(bytes(buf[good:]))


def _refuse_fields(block: bytes) -> None:
    """Say what is wrong with the first broken header line in block."""
    for line in block.split(b"\r\n"):
        parse_field(line)
    raise ProtocolError("a malformed header line")


def content_length(head: Head) -> int | None:
    """The Content-Length (None if there is none): ASCII digits only, every copy the same, not absurdly big."""
    if head._length is not ...:
        return head._length
    head._length = _content_length(head)
    return head._length


def _content_length(head: Head) -> int | None:
    found = head.framing_fields.get("content-length")
    if not found:
        return None
    if len(found) == 1 and found[0].isascii() and found[0].isdigit() and len(found[0]) <= 16:  # the usual one
        length = int(found[0])
        if length > MAX_CONTENT_LENGTH:
            raise ProtocolError(f"a Content-Length of {length} bytes")
        return length
    values = head.values("content-length")
    if not all(v.isascii() and v.isdigit() and len(v) <= 16 for v in values):  # "²".isdigit() is true, too
        raise ProtocolError(f"a malformed Content-Length {', '.join(values)[:60]!r}")
    lengths = {int(v) for v in values}
    if len(lengths) > 1:
        raise ProtocolError(f"Content-Length values that disagree ({', '.join(values)[:60]})")
    length = lengths.pop()
    if length > MAX_CONTENT_LENGTH:
        raise ProtocolError(f"a Content-Length of {length} bytes")
    return length


def is_chunked(head: Head) -> bool:
    """Whether the body is chunked: Transfer-Encoding must be exactly `chunked` if it is there at all."""
    if "transfer-encoding" not in head.framing_fields:
        return False
    codings = [c.lower() for c in head.values("transfer-encoding")]
    if not codings:
        return False
    if codings != ["chunked"]:
        raise ProtocolError(f"Transfer-Encoding {', '.join(codings)[:60]!r} (only a plain 'chunked' is decoded)")
    if head.minor == 0:
        raise ProtocolError("Transfer-Encoding in an HTTP/1.0 answer")
    return True


def keep_alive(head: Head) -> bool:
    """Whether the connection may carry another request after this answer."""
    if "connection" not in head.framing_fields:
        return head.minor >= 1
    tokens = {t.lower() for t in head.values("connection")}
    return "close" not in tokens and (head.minor >= 1 or "keep-alive" in tokens)


def framing(head: Head, method: str) -> tuple[str, int]:
    """How the body ends: ("none", 0), ("length", n), ("chunked", 0) or ("close", 0) (at the end of the stream).

    Repeated Content-Length values that agree are replaced by one header, so no one downstream sees a list."""
    length, chunked = content_length(head), is_chunked(head)  # checked even where no body follows
    if chunked and length is not None:
        raise ProtocolError("both Transfer-Encoding and Content-Length (a request smuggling pattern)")
    if length is not None and head.framing_fields["content-length"] != [str(length)]:
        head.headers = [(k, v) for k, v in head.headers if k.lower() != "content-length"]
        head.headers.append(("Content-Length", str(length)))
    if method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return "none", 0
    if chunked:
        return "chunked", 0
    if length is not None:
        return "length", length
    return "close", 0
