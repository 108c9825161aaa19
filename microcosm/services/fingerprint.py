"""Fingerprinted asset names: a file also served under a name holding a hash of its bytes (`shop.3f2a9c1d0b.js`).

A name that changes whenever the content changes can be cached forever (`Cache-Control: public,
max-age=31536000, immutable`): a new version is a new name, so no cache ever holds a stale copy under it. Only
the page that names the assets (index.html, `no-cache`: asked for again every time) must be current, and it is
rewritten as it is served to point at the current names. This is what build tools (webpack, Vite, Rails'
asset pipeline) do at build time; the web origin (web.py) does it as it serves, with no build step.
"""
from __future__ import annotations

import hashlib
import posixpath
import re

HASH_DIGITS = 10
IMMUTABLE = "public, max-age=31536000, immutable"  # a year: the longest max-age caches are asked to honour
_NAME = re.compile(rf"^(?P<stem>.*[^/])\.(?P<hash>[0-9a-f]{{{HASH_DIGITS}}})(?P<ext>\.[A-Za-z0-9]+)$")
_REFERENCE = re.compile(r"""(\b(?:src|href)\s*=\s*)(["'])([^"'<>\s]+)\2""", re.IGNORECASE)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_DIGITS]


def fingerprinted_name(name: str, data: bytes) -> str:
    """'css/shop.css', its bytes -> 'css/shop.<10 hex digits of their SHA-256>.css'."""
    stem, ext = posixpath.splitext(name)
    return f"{stem}.{content_hash(data)}{ext}"


def plain_name(name: str) -> tuple[str, str] | None:
    """'css/shop.3f2a9c1d0b.css' -> ('css/shop.css', '3f2a9c1d0b'); a name without a fingerprint -> None."""
    found = _NAME.match(name)
    return (found["stem"] + found["ext"], found["hash"]) if found else None


def rewrite_references(html: bytes, page: str, current: dict[str, str]) -> bytes:
    """The page `page` (a name like 'index.html') with every `src="..."`/`href="..."` that names a file in
    `current` (plain name -> fingerprinted name) pointing at the fingerprinted name instead. References with
    a scheme, a host, a query or a fragment are left alone; a relative one stays relative."""
    folder = posixpath.dirname(page)

    def swap(found: re.Match) -> str:
        prefix, quote, ref = found.groups()
        if ":" in ref or ref.startswith("//") or "?" in ref or "#" in ref:
            return found.group(0)
        name = ref[1:] if ref.startswith("/") else posixpath.normpath(posixpath.join(folder, ref))
        if name not in current:
            return found.group(0)
        new_ref = ref[: len(ref) - len(posixpath.basename(ref))] + posixpath.basename(current[name])
        return f"{prefix}{quote}{new_ref}{quote}"

    return _REFERENCE.sub(swap, html.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


__all__ = ["HASH_DIGITS", "IMMUTABLE", "content_hash", "fingerprinted_name", "plain_name", "rewrite_references"]
