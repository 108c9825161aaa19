"""The edge's store: stored answers in memory, bounded in bytes, the least recently used evicted first.

A stored answer is found by its *key* (the request target, path and query, of a GET: a HEAD is answered from
the stored GET) and by its *variant*: the values of the request headers its `Vary` field names (RFC 9111
§4.1). Two requests for /price with `Accept-Language: fr` and `de` are two entries; a request whose
`Accept-Language` matches neither is a miss. An answer with `Vary: *` would match no request, so it is never
stored (storable.py). One key keeps one `Vary` list: storing an answer that varies on other headers replaces
the key's old variants, so a lookup never has to guess which list applies.

Each entry counts its body, its header bytes and a fixed overhead against `max_bytes`; storing past the
bound evicts from the least recently used end until it fits.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .fields import cache_control, field_names

OVERHEAD = 256  # bytes counted per entry beyond its body and headers (the objects holding them)


@dataclass
class Stored:
    """One stored answer, with what the freshness calculation needs (freshness.py):

    status, headers (list of (name, value), hop-by-hop fields removed), body, the Cache-Control directives of
    its headers (`cc`), and the edge's clock when it sent the request and when the answer arrived
    (`request_time`, `response_time`: Unix seconds, RFC 9111 §4.2.3)."""
    status: int
    headers: list
    body: bytes
    request_time: float
    response_time: float
    key: str = ""
    variant: tuple = ()
    cc: dict = field(default_factory=dict)
    counted: int = 0  # the bytes the store counts for it (its size when stored or last updated)
    wire: bytes | None = None  # its status line and headers as sent (fastpath.py), made when first needed

    def __post_init__(self):  # again whenever its headers change (validation.freshen)
        self.first = {}  # lower-case name -> its first value (read on every hit: Date, Age, Expires ...)
        for k, v in self.headers:
            self.first.setdefault(k.lower(), v)
        self.cc = cache_control(self.get_all("Cache-Control"))
        self.wire = None

    def get(self, name: str, default=None):
        """The first value of header `name` (case-insensitive), or `default`."""
        return self.first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def vary(self) -> list[str]:
        names: list[str] = []
        for value in self.get_all("Vary"):
            names += field_names(value)
        return sorted(set(names))

    @property
    def size(self) -> int:
        """What it costs the store: body, headers, its key (held twice: entries and variants) and variant."""
        return (len(self.body) + sum(len(k) + len(v) + 4 for k, v in self.headers) + 2 * len(self.key)
                + sum(len(v or "") for v in self.variant) + OVERHEAD)


def variant_of(vary: list[str], request_headers) -> tuple:
    """The request's values of the headers named in Vary, normalised (RFC 9111 §4.1: lines combined, blanks
    around commas dropped); a header the request lacks is None, which only a request also lacking it matches."""
    values = []
    for name in vary:
        lines = request_headers.getall(name, None) if hasattr(request_headers, "getall") else None
        if lines is None:
            values.append(None)
        else:
            values.append(",".join(",".join(p.strip() for p in line.split(",")) for line in lines))
    return tuple(values)


class Store:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple, Stored] = OrderedDict()  # (key, variant) -> Stored, oldest use first
        self.vary: dict[str, list[str]] = {}  # key -> the header names its variants differ by
        self.variants: dict[str, set] = {}  # key -> its variants now stored
        self.bytes = 0
        self.evictions = 0

    def get(self, key: str, request_headers) -> Stored | None:
        """The stored answer for this request (and marks it as just used), or None."""
        vary = self.vary.get(key)
        if vary is None:
            return None
        stored = self.entries.get((key, variant_of(vary, request_headers)))
        if stored is not None:
            self.entries.move_to_end((key, stored.variant))
        return stored

    def put(self, stored: Stored, request_headers) -> bool:
        """Store an answer (replacing the same variant); False if it is bigger than the whole store."""
        vary = stored.vary
        stored.variant = variant_of(vary, request_headers)
        if stored.size > self.max_bytes:
            return False
        if self.vary.get(stored.key, vary) != vary:
            self.invalidate(stored.key)  # the key's variants now differ by other headers: start again
        self._remove((stored.key, stored.variant))
        self.vary[stored.key] = vary
        self.variants.setdefault(stored.key, set()).add(stored.variant)
        self.entries[(stored.key, stored.variant)] = stored
        stored.counted = stored.size
        self.bytes += stored.counted
        self._evict()
        return True

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self.entries:
            self._remove(next(iter(self.entries)))
            self.evictions += 1

    def resized(self, stored: Stored) -> None:
        """An entry's headers changed (a 304 updated them): count its new size, evicting if need be."""
        if self.entries.get((stored.key, stored.variant)) is stored:
            self.bytes += stored.size - stored.counted
            stored.counted = stored.size
            self._evict()

    def _remove(self, entry: tuple) -> None:
        stored = self.entries.pop(entry, None)
        if stored is None:
            return
        self.bytes -= stored.counted
        key, variant = entry
        variants = self.variants.get(key)
        if variants is not None:
            variants.discard(variant)
            if not variants:
                del self.variants[key]
                self.vary.pop(key, None)

    def invalidate(self, key: str) -> int:
        """Remove every variant stored for `key`; how many there were."""
        variants = list(self.variants.get(key, ()))
        for variant in variants:
            self._remove((key, variant))
        return len(variants)

    def purge(self, prefix: str = "") -> int:
        """Remove every key starting with `prefix` ("" is everything); how many entries went."""
        keys = [key for key in self.variants if key.startswith(prefix)]
        return sum(self.invalidate(key) for key in keys)

    def stats(self) -> dict:
        return {"entries": len(self.entries), "bytes": self.bytes, "max_bytes": self.max_bytes,
                "evictions": self.evictions}
