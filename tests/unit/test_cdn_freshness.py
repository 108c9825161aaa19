"""The edge's freshness arithmetic (microcosm/services/cdn/freshness.py, RFC 9111 §4.2), on a fixed clock:
the lifetime's sources and their precedence, the age of §4.2.3 term by term, and serve/revalidate/fetch."""
from __future__ import annotations

import pytest
from werkzeug.http import http_date

from microcosm.services.cdn.fields import age_value, cache_control, delta
from microcosm.services.cdn.freshness import Freshness
from microcosm.services.cdn.plugin import Checked, PluginFailed
from microcosm.services.cdn.storage import Stored, Store

T = 1_800_000_000.0  # the edge's clock when the answer arrived (response_time)
F = Freshness()


def stored(*headers, status=200, request_time=T, response_time=T, date=0):
    """An answer stored at T; `date` seconds relative to T for its Date (None: no Date)."""
    h = list(headers) + ([("Date", http_date(T + date))] if date is not None else [])
    return Stored(status, h, b"body", request_time, response_time)


@pytest.mark.parametrize("headers, status, lifetime", [
    ([("Cache-Control", "max-age=60")], 200, 60),
    ([("Cache-Control", "max-age=60, s-maxage=5")], 200, 5),  # s-maxage first, for a shared cache
    ([("Cache-Control", "s-maxage=0, max-age=60")], 200, 0),
    ([("Cache-Control", "max-age=60"), ("Expires", http_date(T + 600))], 200, 60),  # max-age beats Expires
    ([("Expires", http_date(T + 600))], 200, 600),  # Expires minus Date
    ([("Expires", http_date(T - 600))], 200, 0),
    ([("Expires", "0")], 200, 0),  # an invalid date is in the past
    ([("Cache-Control", "max-age=ten")], 200, 0),  # invalid freshness information: stale
    ([("Cache-Control", "max-age=60, max-age=5")], 200, 60),  # the first occurrence
    ([("Cache-Control", "max-age=99999999999999")], 200, 2**31),  # §1.2.2
    ([("Cache-Control", 'max-age="30"')], 200, 30),
    ([("Last-Modified", http_date(T - 10_000))], 200, 1000),  # heuristic: 10% of Date - Last-Modified
    ([("Last-Modified", http_date(T - 10**7))], 200, 86400),  # ... at most a day
    ([("Last-Modified", http_date(T - 10_000))], 302, 0),  # 302 is not heuristically cacheable
    ([("Last-Modified", http_date(T - 10_000)), ("Cache-Control", "public")], 302, 1000),  # unless public
    ([("Last-Modified", http_date(T - 10_000))], 404, 1000),
    ([], 200, 0),
])
def test_lifetime(headers, status, lifetime):
    assert F.lifetime(stored(*headers, status=status)) == lifetime


def test_lifetime_from_expires_uses_the_arrival_time_without_a_date():
    s = stored(("Expires", http_date(T + 100)), date=None)
    assert F.lifetime(s) == 100


@pytest.mark.parametrize("case, kwargs, headers, now, age", [
    ("just arrived", {}, [], T, 0),
    ("resident time", {}, [], T + 30, 30),
    ("apparent age from Date", {"date": -50}, [], T + 10, 60),
    ("Date in the future is 0", {"date": +50}, [], T, 0),
    ("upstream Age", {}, [("Age", "100")], T + 1, 101),
    ("the response delay is added to Age", {"request_time": T - 3}, [("Age", "100")], T, 103),
    ("the larger of apparent and corrected", {"date": -500, "request_time": T - 3}, [("Age", "100")], T, 500),
    ("the first of a list", {}, [("Age", "7, 9")], T, 7),
    ("invalid Age is ignored", {}, [("Age", "-5")], T, 0),
])
def test_current_age(case, kwargs, headers, now, age):
    assert F.age(stored(*headers, **kwargs), now) == pytest.approx(age), case


@pytest.mark.parametrize("cc, request_cc, now, decision", [
    ("max-age=60", "", T + 10, "serve"),
    ("max-age=60", "", T + 60, "revalidate"),  # fresh only while age < lifetime
    ("max-age=60, no-cache", "", T + 1, "revalidate"),
    ("max-age=60", "no-cache", T + 1, "revalidate"),
    ("max-age=60", "max-age=5", T + 10, "revalidate"),
    ("max-age=60", "max-age=50", T + 10, "serve"),
    ("max-age=60", "min-fresh=55", T + 10, "revalidate"),
    ("max-age=60", "max-stale=30", T + 80, "serve"),
    ("max-age=60", "max-stale=10", T + 80, "revalidate"),
    ("max-age=60", "max-stale", T + 10_000, "serve"),
    ("max-age=60, must-revalidate", "max-stale", T + 80, "revalidate"),
    ("s-maxage=60", "max-stale", T + 80, "revalidate"),  # s-maxage implies proxy-revalidate
    ("max-age=60", "max-age=junk", T + 1, "revalidate"),
])
def test_decide(cc, request_cc, now, decision):
    s = stored(("Cache-Control", cc))
    assert F.decide(s, cache_control([request_cc]), now) == decision


def test_nothing_stored_is_a_fetch():
    assert F.decide(None, {}, T) == "fetch"


@pytest.mark.parametrize("value, parsed", [
    ("max-age=60, public", {"max-age": "60", "public": None}),
    ('no-cache="Set-Cookie, X-A", private', {"no-cache": "Set-Cookie, X-A", "private": None}),
    ("MAX-AGE=5", {"max-age": "5"}),
    (",,, =, max-age", {"max-age": None}),
    ('"=,=",="', {}),  # no token names: nothing
    ("max-age=60, x\x00y, ünïcode", {"max-age": "60"}),
])
def test_cache_control_parsing(value, parsed):
    assert cache_control([value]) == parsed


def test_delta_and_age_values():
    assert delta({"max-age": None}, "max-age") == 0 and delta({}, "max-age") is None
    assert delta({"x": "-1"}, "x", invalid=None) is None
    assert (age_value(None), age_value("12"), age_value("1e3"), age_value("9" * 40)) == (0, 12, 0, 2**31)


def test_a_plug_in_returning_nonsense_is_named():
    class Maybe(Freshness):
        def decide(self, stored, request_cc, now):
            return "maybe"

    class Text(Freshness):
        def lifetime(self, stored):
            return "60"

    with pytest.raises(PluginFailed, match="Maybe.decide returned 'maybe'"):
        Checked(Maybe()).decide(stored(), {}, T)
    with pytest.raises(PluginFailed, match="Text.lifetime returned '60', not a number"):
        Checked(Text()).lifetime(stored())
    with pytest.raises(PluginFailed, match="'fetch' when nothing is stored"):
        Checked(Maybe()).decide(None, {}, T)


def test_the_store_evicts_the_least_recently_used_within_its_bytes():
    from multidict import CIMultiDict

    one = stored()
    one.key = "a"  # a key counts too
    store = Store(max_bytes=3 * one.size)
    for key in ("a", "b", "c"):
        s = stored()
        s.key = key
        assert store.put(s, CIMultiDict())
    assert store.get("a", CIMultiDict()) is not None  # a used: b is now the least recently used
    d = stored()
    d.key = "d"
    store.put(d, CIMultiDict())
    assert [k for k, _ in store.entries] == ["c", "a", "d"] and store.bytes <= store.max_bytes
    assert store.evictions == 1 and store.purge("") == 3 and store.bytes == 0
