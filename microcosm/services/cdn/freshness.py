"""How long a stored answer stays fresh, how old it is, and what to do with it (RFC 9111 §4.2).

This is the module lab 10 asks you to write. The edge calls three methods of a `Freshness` object:

    lifetime(stored)                 -> seconds the answer is fresh for, counted from when the origin made it
    age(stored, now)                 -> seconds since the origin made it (what the edge sends as `Age`)
    decide(stored, request_cc, now)  -> "serve" (fresh: answer from the store), "revalidate" (ask the origin
                                        whether it changed), or "fetch" (nothing stored: get it)

`stored` (storage.Stored) has .status, .headers (read them with .get("Date")), .cc (its Cache-Control
directives: {"max-age": "60", "public": None}), .request_time and .response_time (the edge's clock, Unix
seconds, when it asked the origin and when the answer came). `request_cc` is the client's Cache-Control.
Load your own at launch: `launch("cdn", origin=..., freshness="my_freshness.py:MyFreshness")`.

The edge does the rest: what may be stored (storable.py), the conditional request and the 304
(validation.py), serving stale answers when RFC 5861 allows it (stale.py).
"""
from __future__ import annotations

from .fields import age_value, delta, http_date, revalidation_required

# RFC 9110 §15.1: statuses whose answers may be given a heuristic lifetime
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
HEURISTIC_FRACTION = 0.1  # RFC 9111 §4.2.2: "typically ... some fraction" (10%) of the time since Last-Modified
HEURISTIC_MAX = 24 * 3600  # and never more than a day here
DECISIONS = ("serve", "revalidate", "fetch")


class Freshness:
    """The standard's answer, for a shared cache."""

    def lifetime(self, stored) -> float:
        """RFC 9111 §4.2.1, first match wins: s-maxage (shared caches only), max-age, Expires minus Date, then
        the heuristic from Last-Modified; else 0 (stale at once). An invalid value means stale (0)."""
        for name in ("s-maxage", "max-age"):
            seconds = delta(stored.cc, name, invalid=0)
            if seconds is not None:
                return float(seconds)
        date = self.date(stored)
        expires = stored.get("Expires")
        if expires is not None:
            when = http_date(expires)
            return max(0.0, when - date) if when is not None else 0.0  # "Expires: 0" is already expired
        last_modified = http_date(stored.get("Last-Modified"))
        if last_modified is not None and (stored.status in HEURISTICALLY_CACHEABLE or "public" in stored.cc):
            return min(max(0.0, date - last_modified) * HEURISTIC_FRACTION, HEURISTIC_MAX)
        return 0.0

    def age(self, stored, now: float) -> float:
        """RFC 9111 §4.2.3: the larger of the age the clocks show (Date) and the age the caches before us
        said (Age) plus the time the answer took to come, plus the time it has been stored here."""
        apparent_age = max(0.0, stored.response_time - self.date(stored))
        response_delay = stored.response_time - stored.request_time
        corrected_age_value = age_value(stored.get("Age")) + response_delay
        corrected_initial_age = max(apparent_age, corrected_age_value)
        resident_time = now - stored.response_time
        return corrected_initial_age + resident_time

    def decide(self, stored, request_cc: dict, now: float) -> str:
        """Serve from the store, revalidate with the origin, or fetch (RFC 9111 §4, §4.2.4, §5.2.1)."""
        if stored is None:
            return "fetch"
        if "no-cache" in stored.cc or "no-cache" in request_cc:
            return "revalidate"
        age, lifetime = self.age(stored, now), self.lifetime(stored)
        max_age = delta(request_cc, "max-age", invalid=0)
        if max_age is not None and age > max_age:
            return "revalidate"  # the client wants nothing older than this
        min_fresh = delta(request_cc, "min-fresh", invalid=0)
        if min_fresh is not None and lifetime - age < min_fresh:
            return "revalidate"  # the client wants it to stay fresh this much longer
        if age < lifetime:
            return "serve"
        if "max-stale" in request_cc and not revalidation_required(stored.cc):
            if request_cc["max-stale"] is None or age - lifetime <= delta(request_cc, "max-stale"):
                return "serve"  # the client accepts it this stale (max-stale with no value: any staleness)
        return "revalidate"

    @staticmethod
    def date(stored) -> float:
        """When the origin made the answer: its Date, or (none, or not a date) when the answer arrived."""
        date = http_date(stored.get("Date"))
        return date if date is not None else stored.response_time
