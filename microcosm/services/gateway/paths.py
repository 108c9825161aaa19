"""A public path to exactly one upstream path: what the gateway checks is what it forwards.

The trap: the gateway checks the path one way and the next program reads it another. waitress decodes
`%2e%2e` to `..` and `%2F` to `/` before the app sees the path, and an HTTP client removes dot segments when
it builds a URL, so `/api/carts/alice/%2e%2e/bob` passes a check that the first segment is `alice` and then
reaches `/carts/bob` upstream. The cure is to read the path exactly as the client sent it, refuse every
segment that could mean more than one thing, and build the upstream path from the decoded segments, each
encoded again:

    segments(raw_path(request.environ))            # "/api/carts/ada/items/1" -> ["api", "carts", "ada", "items", "1"]
    upstream_path("/carts", ["ada", "items", "1"])  # "/carts/ada/items/1"

Refused (`UnsafePath`, a 400): an empty segment (`//`, a trailing `/`), `.` and `..` however encoded, a
segment that decodes to something with `/`, `\\`, `;`, a control character or another percent-escape
(double encoding), a malformed escape (`%zz`, a lone `%`), bytes that are not UTF-8.
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote_to_bytes

ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")  # GET http://host:port/path HTTP/1.1
# what may stay as it is in a query string (RFC 3986 query chars, and existing %XX escapes); every other byte
# (a space, a control character, a byte over 127, a lone %) is percent-encoded before it goes upstream
QUERY_UNSAFE = re.compile(rb"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")  # a segment of these alone means itself (unless it is . or ..)


class UnsafePath(ValueError):
    """A path the gateway will not forward; the message says what is wrong with it."""


def raw_path(environ: dict) -> str:
    """The request's path exactly as the client sent it, still percent-encoded, without the query string.

    waitress keeps the request line's target in REQUEST_URI, gunicorn in RAW_URI. A server that keeps only
    the decoded PATH_INFO (Flask's test client) has lost the difference between `/` and `%2F`: its path is
    encoded again, so decoded slashes count as separators (and dot segments are still refused)."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri is None:
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
        return quote(path, safe="/", encoding="latin-1")
    if not uri.startswith("/"):
        found = ABSOLUTE_FORM.match(uri)
        if not found:
            raise UnsafePath("the request target must be a path starting with '/'")
        uri = uri[found.end():] or "/"
    return uri.split("?", 1)[0].split("#", 1)[0]


def segments(raw: str) -> list[str]:
    """The decoded segments of a raw path: "/api/carts/ada" -> ["api", "carts", "ada"]; "/" -> [].
    Raises UnsafePath for a path that could mean more than one thing."""
    if not raw.startswith("/"):
        raise UnsafePath("the path must start with '/'")
    if raw == "/":
        return []
    return [segment(part, i + 1) for i, part in enumerate(raw[1:].split("/"))]


def segment(raw: str, position: int = 1) -> str:
    """One raw path segment, decoded, or UnsafePath saying why it cannot be forwarded as it is."""
    if UNRESERVED.fullmatch(raw) and raw != "." and raw != "..":  # most segments: nothing to decode or refuse
        return raw
    where = f"path segment {position}"
    if raw == "":
        raise UnsafePath(f"{where} is empty ('//' or a trailing '/'): name every segment")
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    if BAD_ESCAPE.search(raw):
        raise UnsafePath(f"{where} ({shown!r}) has a '%' that is not a percent-escape (%XX)")
    try:
        text = unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
    except UnicodeError:
        raise UnsafePath(f"{where} ({shown!r}) is not UTF-8 once decoded") from None
    if text in (".", ".."):
        raise UnsafePath(f"{where} ({shown!r}) is a dot segment ({text!r}): it would walk the path")
    if "/" in text or "\\" in text:
        raise UnsafePath(f"{where} ({shown!r}) holds an encoded '/' or a '\\': a segment cannot hold a separator")
    if ";" in text:
        raise UnsafePath(f"{where} ({shown!r}) holds ';' (path parameters are not accepted)")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise UnsafePath(f"{where} ({shown!r}) holds a control character")
    if ESCAPE.search(text):
        raise UnsafePath(f"{where} ({shown!r}) is encoded twice (it still holds a percent-escape once decoded)")
    return text


def upstream_path(base: str, parts: list[str]) -> str:
    """The upstream path: the route's own path and each decoded segment encoded again, so each segment stays
    exactly one segment there ("/carts", ["ada", "a b"]) -> "/carts/ada/a%20b"."""
    return (base.rstrip("/") + "".join("/" + quote(part, safe="") for part in parts)) or "/"


def upstream_query(raw: bytes) -> str:
    """The query string as the client sent it, with every byte that may not appear as it is in a request line
    percent-encoded, so it can add nothing to the request line or the headers (no space, CR, LF, tab, NUL)."""
    return QUERY_UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii")
