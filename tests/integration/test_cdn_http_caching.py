"""The edge is a shared HTTP cache by RFC 9111: one row per behaviour, each on a fresh path of a scripted origin.

Each row: the origin's headers, the requests made through the edge, the X-Cache each answer must carry and
how many requests the origin must have seen. Times are given relative to now ({now-100} is a Date 100 s ago),
so no row sleeps.
"""
import time

import pytest
from werkzeug.http import http_date

from cdn_helpers import Cdn, Row, check_row

AUTH = {"Authorization": "Bearer someone"}
TWICE = [("GET", {}), ("GET", {})]

STORABLE = [  # RFC 9111 §3, §3.5: what a shared cache stores
    Row("max-age", [("Cache-Control", "max-age=60")], cache=["MISS", "HIT"], origin=1),
    Row("no-store", [("Cache-Control", "no-store, max-age=60")], cache=["MISS", "MISS"], origin=2),
    Row("private", [("Cache-Control", "private, max-age=60")], cache=["MISS", "MISS"], origin=2),
    Row("private-qualified", [("Cache-Control", 'private="Set-Cookie", max-age=60')], cache=["MISS", "MISS"], origin=2),
    Row("authorization", [("Cache-Control", "max-age=60")], [("GET", AUTH), ("GET", AUTH)], ["MISS", "MISS"], 2),
    Row("authorization-public", [("Cache-Control", "public, max-age=60")], [("GET", AUTH), ("GET", AUTH)],
        ["MISS", "HIT"], 1),
    Row("authorization-s-maxage", [("Cache-Control", "s-maxage=60")], [("GET", AUTH), ("GET", AUTH)],
        ["MISS", "HIT"], 1),
    Row("status-500", [("Cache-Control", "max-age=60")], cache=["MISS", "MISS"], origin=2, script={"status": 500}),
    Row("status-302-no-freshness", [("Last-Modified", "{now-86400}")], cache=["MISS", "MISS"], origin=2,
        script={"status": 302}),
    Row("status-302-max-age", [("Cache-Control", "max-age=60")], cache=["MISS", "HIT"], origin=1,
        script={"status": 302}),
    Row("status-404-heuristic", [("Last-Modified", "{now-864000}")], cache=["MISS", "HIT"], origin=1,
        script={"status": 404}),
    Row("request-no-store", [("Cache-Control", "max-age=60")], [("GET", {"Cache-Control": "no-store"}), ("GET", {})],
        ["MISS", "MISS"], 2),
    Row("must-understand-overrides-no-store", [("Cache-Control", "max-age=60, no-store, must-understand")],
        cache=["MISS", "HIT"], origin=1),
    Row("vary-star", [("Cache-Control", "max-age=60"), ("Vary", "*")], cache=["MISS", "MISS"], origin=2),
    Row("nothing-to-go-by", [("Content-Type", "text/plain")], cache=["MISS", "MISS"], origin=2),
]

FRESHNESS = [  # RFC 9111 §4.2: where the lifetime comes from, and which source wins
    Row("s-maxage-beats-max-age", [("Cache-Control", "max-age=0, s-maxage=60")], cache=["MISS", "HIT"], origin=1),
    Row("s-maxage-0-beats-max-age", [("Cache-Control", "max-age=60, s-maxage=0")], cache=["MISS", "MISS"], origin=2,
        script={"status": 200}),
    Row("max-age-beats-expires", [("Cache-Control", "max-age=60"), ("Expires", "{now-10}")], cache=["MISS", "HIT"],
        origin=1),
    Row("expires-minus-date", [("Date", "{now-30}"), ("Expires", "{now+60}")], cache=["MISS", "HIT"], origin=1),
    Row("expires-past", [("Expires", "{now-10}")], cache=["MISS", "MISS"], origin=2),
    Row("expires-invalid-is-stale", [("Expires", "0")], cache=["MISS", "REVALIDATED"], origin=2,
        script={"etag": '"e1"'}),
    Row("max-age-invalid-is-stale", [("Cache-Control", "max-age=ten")], cache=["MISS", "REVALIDATED"], origin=2,
        script={"etag": '"e1"'}),
    Row("date-makes-it-old", [("Cache-Control", "max-age=60"), ("Date", "{now-100}")], cache=["MISS", "MISS"],
        origin=2),
    Row("age-from-upstream-makes-it-old", [("Cache-Control", "max-age=60"), ("Age", "100")], cache=["MISS", "MISS"],
        origin=2),
    Row("heuristic-fresh", [("Date", "{now-60}"), ("Last-Modified", "{now-36000}")], cache=["MISS", "HIT"], origin=1),
    Row("heuristic-is-10-percent", [("Date", "{now-7200}"), ("Last-Modified", "{now-36000}")],
        cache=["MISS", "REVALIDATED"], origin=2, script={"etag": '"h1"'}),
    Row("public-302-gets-heuristic", [("Last-Modified", "{now-864000}"), ("Cache-Control", "public")],
        cache=["MISS", "HIT"], origin=1, script={"status": 302}),  # public makes a 302 heuristically cacheable
]

VALIDATION = [  # RFC 9111 §4.3, §5.2: revalidation, 304s, request directives
    Row("no-cache-response", [("Cache-Control", "no-cache, max-age=60")], [("GET", {})] * 3,
        ["MISS", "REVALIDATED", "REVALIDATED"], 3, {"etag": '"n1"'}),
    Row("request-no-cache", [("Cache-Control", "max-age=60")], [("GET", {}), ("GET", {"Cache-Control": "no-cache"})],
        ["MISS", "REVALIDATED"], 2, {"etag": '"r1"'}),
    Row("request-max-age-0", [("Cache-Control", "max-age=60")], [("GET", {}), ("GET", {"Cache-Control": "max-age=0"})],
        ["MISS", "REVALIDATED"], 2, {"etag": '"r2"'}),
    Row("request-max-age-bigger", [("Cache-Control", "max-age=60")],
        [("GET", {}), ("GET", {"Cache-Control": "max-age=3600"})], ["MISS", "HIT"], 1),
    Row("request-min-fresh", [("Cache-Control", "max-age=60")],
        [("GET", {}), ("GET", {"Cache-Control": "min-fresh=120"})],
        ["MISS", "REVALIDATED"], 2, {"etag": '"r3"'}),
    Row("request-max-stale", [("Cache-Control", "max-age=60"), ("Date", "{now-100}")],
        [("GET", {}), ("GET", {"Cache-Control": "max-stale=600"})], ["MISS", "HIT"], 1),
    Row("max-stale-not-with-must-revalidate", [("Cache-Control", "max-age=60, must-revalidate"), ("Date", "{now-100}")],
        [("GET", {}), ("GET", {"Cache-Control": "max-stale=600"})], ["MISS", "REVALIDATED"], 2, {"etag": '"m1"'}),
    Row("bad-request-cache-control", [("Cache-Control", "max-age=60")],
        [("GET", {}), ("GET", {"Cache-Control": 'max-age="x", ,,=, max-stale=-1, min-fresh=99999999999999999999'})],
        ["MISS", "REVALIDATED"], 2, {"etag": '"b1"'}),
    Row("client-if-none-match-from-store", [("Cache-Control", "max-age=60")],
        [("GET", {}), ("GET", {"If-None-Match": '"c1"'}), ("GET", {"If-None-Match": '"other"'})],
        ["MISS", "HIT", "HIT"], 1, {"etag": '"c1"'}),
    Row("client-if-modified-since-from-store", [("Cache-Control", "max-age=60"), ("Last-Modified", "{now-1000}")],
        [("GET", {}), ("GET", {"If-Modified-Since": http_date(time.time() - 1)})], ["MISS", "HIT"], 1),
    Row("only-if-cached-miss", [("Cache-Control", "max-age=60")], [("GET", {"Cache-Control": "only-if-cached"})],
        ["MISS"], 0, edge_error=True),
    Row("head-from-get", [("Cache-Control", "max-age=60")], [("GET", {}), ("HEAD", {})], ["MISS", "HIT"], 1),
    Row("head-miss-fetches-get", [("Cache-Control", "max-age=60")], [("HEAD", {}), ("GET", {})], ["MISS", "HIT"], 1),
    Row("range-passed-through", [("Cache-Control", "max-age=60")], [("GET", {"Range": "bytes=0-3"}), ("GET", {})],
        ["MISS", "MISS"], 2),
]


@pytest.fixture(scope="module")
def cdn(launch_for_module):
    return Cdn(launch_for_module)


@pytest.mark.parametrize("row", STORABLE, ids=lambda r: r.id)
def test_storable(cdn, row):
    check_row(row, cdn)


@pytest.mark.parametrize("row", FRESHNESS, ids=lambda r: r.id)
def test_freshness(cdn, row):
    check_row(row, cdn)


@pytest.mark.parametrize("row", VALIDATION, ids=lambda r: r.id)
def test_validation(cdn, row):
    answers, seen = check_row(row, cdn)
    if row.id.startswith("client-"):
        assert [a.status_code for a in answers[1:]] == [304] + [200] * (len(answers) - 2)
        assert answers[1].content == b"" and answers[1].headers.get("Cache-Control") == "max-age=60"
    if row.id == "only-if-cached-miss":
        assert answers[0].status_code == 504 and answers[0].json()["status"] == 504
    if row.id == "head-from-get":
        assert answers[1].content == b"" and answers[1].headers["Content-Length"] == str(len(answers[0].content))
    if row.id == "head-miss-fetches-get":
        assert seen["methods"] == ["GET"] and answers[1].text == "body of head-miss-fetches-get"
    if row.id == "range-passed-through":
        assert seen["last_headers"].get("Range") is None  # the second, whole GET did not send it on
        assert answers[0].headers["X-Cache-Reason"] == "passed through"
    if row.id in ("no-cache-response", "request-no-cache") or "stale" in row.id:
        assert seen["conditional"] == seen["not_modified"] == row.origin - 1  # If-None-Match sent, 304 back


def test_age_is_computed_from_date_age_and_time_stored(cdn):
    """RFC 9111 §4.2.3: Age on the answer is the corrected initial age (the larger of now - Date and the
    upstream Age) plus the time stored."""
    cdn.script("/age/upstream", [("Cache-Control", "max-age=600"), ("Age", "100")])
    cdn.script("/age/date", [("Cache-Control", "max-age=600"), ("Date", "{now-200}"), ("Age", "50")])
    cdn.script("/age/fresh", [("Cache-Control", "max-age=600")])
    for path, low in (("/age/upstream", 100), ("/age/date", 200), ("/age/fresh", 0)):
        first, second = cdn.get(path), cdn.get(path)
        assert second.headers["X-Cache"] == "HIT"
        assert low <= int(first.headers["Age"]) <= int(second.headers["Age"]) <= low + 5, path


def test_a_304_updates_the_stored_headers(cdn):
    """RFC 9111 §4.3.4: the 304's fields replace the stored ones; the body stays; the new max-age applies."""
    cdn.script("/validate/update", [("Cache-Control", "max-age=0"), ("X-Version", "1")], body="the body",
               etag='"v1"', not_modified_headers=[["Cache-Control", "max-age=60"], ["X-Version", "2"]])
    first, second, third = cdn.get("/validate/update"), cdn.get("/validate/update"), cdn.get("/validate/update")
    assert [a.headers["X-Cache"] for a in (first, second, third)] == ["MISS", "REVALIDATED", "HIT"]
    assert [a.headers["X-Version"] for a in (first, second, third)] == ["1", "2", "2"]
    assert third.text == "the body" and third.headers["Cache-Control"] == "max-age=60"
    assert cdn.count("/validate/update")["not_modified"] == 1
    assert cdn.count("/validate/update")["last_headers"]["If-None-Match"] == '"v1"'


def test_vary_keeps_one_answer_per_language(cdn):
    """RFC 9111 §4.1: the answer is stored per value of the headers Vary names; no header is its own variant."""
    cdn.script("/vary/lang", [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")])
    asks = [{"Accept-Language": "fr"}, {"Accept-Language": "fr"}, {"Accept-Language": "de"},
            {"Accept-Language": "de"}, {}, {}, {"Accept-Language": "fr"}]
    got = [cdn.get("/vary/lang", headers=h).headers["X-Cache"] for h in asks]
    assert got == ["MISS", "HIT", "MISS", "HIT", "MISS", "HIT", "HIT"]
    assert cdn.count("/vary/lang")["requests"] == 3


def test_unsafe_methods_invalidate_the_target_and_location_on_the_same_origin(cdn):
    """RFC 9111 §4.4: a successful POST/PUT/DELETE/PATCH drops the stored target, and Location and
    Content-Location on the same origin; an error answer, another host, or a safe method do not."""
    fresh = [("Cache-Control", "max-age=60")]
    for p in ("/inv/a", "/inv/b", "/inv/c", "/inv/d", "/inv/e", "/inv/f"):
        cdn.script(p, fresh)
    cdn.script("/inv/post", fresh, by_method={"POST": {"status": 201, "headers": [["Location", "/inv/b"],
                                                                                  ["Content-Location", "c"]]}})
    cdn.script("/inv/elsewhere", fresh, by_method={"PUT": {"headers": [["Location", "http://example.com/inv/d"]]}})
    cdn.script("/inv/failing", fresh, by_method={"DELETE": {"status": 500}})
    for p in ("/inv/a", "/inv/b", "/inv/c", "/inv/d", "/inv/e", "/inv/f", "/inv/failing"):
        assert cdn.get(p).headers["X-Cache"] == "MISS"
    assert cdn.get("/inv/a", "PATCH").headers["X-Cache"] == "MISS"  # passed through
    assert cdn.get("/inv/post", "POST", json={}).status_code == 201
    assert cdn.get("/inv/elsewhere", "PUT").status_code == 200
    assert cdn.get("/inv/failing", "DELETE").status_code == 500
    assert cdn.get("/inv/e", "OPTIONS").status_code == 200
    after = {p: cdn.get(p).headers["X-Cache"] for p in ("/inv/a", "/inv/b", "/inv/c", "/inv/d", "/inv/e",
                                                        "/inv/failing")}
    assert after == {"/inv/a": "MISS", "/inv/b": "MISS", "/inv/c": "MISS", "/inv/d": "HIT", "/inv/e": "HIT",
                     "/inv/failing": "HIT"}
    absolute = cdn.edge.url + "/inv/f"  # an absolute Location naming the edge itself is the same origin
    cdn.script("/inv/put-abs", fresh, by_method={"PUT": {"headers": [["Location", absolute]]}})
    cdn.get("/inv/put-abs", "PUT")
    assert cdn.get("/inv/f").headers["X-Cache"] == "MISS"


def test_hop_by_hop_headers_are_not_sent_on(cdn):
    """RFC 9110 §7.6.1: Connection, Keep-Alive, TE ... and the fields Connection names stay on their hop."""
    cdn.script("/hop/request", [("Cache-Control", "max-age=60")])
    cdn.get("/hop/request", headers={"Connection": "keep-alive, X-Hop-Secret", "X-Hop-Secret": "1",
                                     "Keep-Alive": "timeout=5", "TE": "trailers", "X-End-To-End": "yes"})
    seen = {k.lower() for k in cdn.count("/hop/request")["last_headers"]}
    assert "x-end-to-end" in seen and "via" in seen
    assert not seen & {"x-hop-secret", "keep-alive", "te"}


def test_a_stored_204_is_answered_without_a_body_or_length(cdn):
    """RFC 9110 §8.6, §15.3.5: no Content-Length on a 204, also when it comes from the store."""
    cdn.script("/status/204", [("Cache-Control", "max-age=60")], status=204)
    first, second = cdn.get("/status/204"), cdn.get("/status/204")
    assert [(a.status_code, a.headers["X-Cache"], a.content) for a in (first, second)] == [
        (204, "MISS", b""), (204, "HIT", b"")]
    assert "Content-Length" not in second.headers
