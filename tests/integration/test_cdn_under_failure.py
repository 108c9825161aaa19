"""The edge when the origin is slow, dead or flooded: request collapsing, stale-if-error with the origin
killed for real, stale-while-revalidate, and the byte bound of its store."""
import asyncio
import time

import aiohttp
import pytest

from cdn_helpers import Cdn


@pytest.fixture(scope="module")
def cdn(launch_for_module):
    return Cdn(launch_for_module, max_bytes=5000, max_object=8000)


def test_a_hundred_concurrent_misses_make_one_origin_request(cdn):
    """collapsing.py: the first miss goes to the origin (slow: 300 ms), the 99 others wait for its answer."""
    cdn.script("/herd", [("Cache-Control", "max-age=60")], body="popular", delay_ms=300)

    async def herd():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async def one():
                async with session.get(cdn.edge.url + "/herd") as answer:
                    return answer.status, answer.headers["X-Cache"], await answer.text()
            return await asyncio.gather(*(one() for _ in range(100)))

    answers = asyncio.run(herd())
    assert {(status, body) for status, _, body in answers} == {(200, "popular")}
    assert cdn.count("/herd")["requests"] == 1
    assert sorted(state for _, state, _ in answers) == ["HIT"] * 99 + ["MISS"]
    assert cdn.edge.get("/metrics").json()["cache"]["collapsed"] >= 99


def test_the_store_is_bounded_in_bytes_least_recently_used_first(cdn):
    """storage.py: 5,000 bytes hold three 1,000-byte answers (with their headers and overhead, not four); a
    fourth evicts the one used longest ago."""
    for p in ("/lru/a", "/lru/b", "/lru/c", "/lru/d"):
        cdn.script(p, [("Cache-Control", "max-age=60")], body_bytes=1000)
    cdn.edge.post("/_cdn/purge", json={"all": True})
    for p in ("/lru/a", "/lru/b", "/lru/c"):
        assert cdn.get(p).headers["X-Cache"] == "MISS"
    assert cdn.get("/lru/a").headers["X-Cache"] == "HIT"  # a is now the most recently used; b the least
    assert cdn.get("/lru/d").headers["X-Cache"] == "MISS"
    stats = cdn.edge.get("/metrics").json()["cache"]
    assert stats["bytes"] <= stats["max_bytes"] == 5000 and stats["evictions"] >= 1
    got = {p: cdn.get(p).headers["X-Cache"] for p in ("/lru/a", "/lru/c", "/lru/d", "/lru/b")}
    assert got == {"/lru/a": "HIT", "/lru/c": "HIT", "/lru/d": "HIT", "/lru/b": "MISS"}
    cdn.script("/lru/huge", [("Cache-Control", "max-age=60")], body_bytes=6000)
    assert cdn.get("/lru/huge").headers["X-Cache-Reason"] == "bigger than the whole store"
    assert len(cdn.get("/lru/huge").content) == 6000


def test_an_answer_over_max_object_streams_through_and_is_not_stored(cdn):
    """origin.py: an answer bigger than max_object (8,000 bytes here) is never held whole: what was read, then
    the rest as it comes; it is not stored, and a HEAD for it gets the headers only."""
    cdn.script("/big", [("Cache-Control", "max-age=60")], body_bytes=200_000)
    for _ in range(2):
        answer = cdn.get("/big")
        assert (answer.status_code, len(answer.content), answer.headers["X-Cache"]) == (200, 200_000, "MISS")
        assert answer.headers["X-Cache-Reason"] == "over 8000 bytes"
    head = cdn.get("/big", "HEAD")
    assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", "200000")
    assert cdn.count("/big")["requests"] == 3 and cdn.edge.get("/health").status_code == 200


def test_stale_while_revalidate_answers_at_once_and_refreshes_behind(cdn):
    """RFC 5861 §3: stale within the window: the stale answer now, a 304 fetched in the background."""
    cdn.script("/swr", [("Cache-Control", "max-age=60, stale-while-revalidate=600"), ("Date", "{now-100}")],
               body="old", etag='"s1"', delay_ms=200,
               not_modified_headers=[["Cache-Control", "max-age=60"], ["Date", "{now}"]])
    assert cdn.get("/swr").headers["X-Cache"] == "MISS"
    stale = cdn.get("/swr")
    assert (stale.headers["X-Cache"], stale.text) == ("STALE", "old")
    assert int(stale.headers["Age"]) >= 100
    deadline = time.monotonic() + 5
    while cdn.count("/swr")["not_modified"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    fresh = cdn.get("/swr")
    assert (fresh.headers["X-Cache"], fresh.text) == ("HIT", "old")
    assert int(fresh.headers["Age"]) < 10
    assert cdn.count("/swr")["requests"] == 2


def test_stale_if_error_covers_an_origin_answering_503(cdn):
    """RFC 5861 §4: an origin that answers 500, 502, 503 or 504 is an error too."""
    cdn.script("/sie503", [("Cache-Control", "max-age=60, stale-if-error=600"), ("Date", "{now-100}")], body="v1")
    assert cdn.get("/sie503").headers["X-Cache"] == "MISS"
    cdn.script("/sie503", [("Cache-Control", "max-age=60")], status=503, body="down")
    for _ in range(2):  # and the 503 did not replace the stored answer: the next client is served too
        answer = cdn.get("/sie503")
        assert (answer.status_code, answer.headers["X-Cache"], answer.text) == (200, "STALE", "v1")


def test_stale_if_error_keeps_answering_when_the_origin_is_killed(cdn):
    """RFC 5861 §4: with the origin SIGKILLed, an answer within its stale-if-error window is served stale;
    must-revalidate and s-maxage (RFC 9111 §5.2.2.2, §5.2.2.10) forbid it, as does a window passed.
    (Last in this module: it kills the module's origin.)"""
    old = ("Date", "{now-100}")
    cdn.script("/sie/ok", [("Cache-Control", "max-age=60, stale-if-error=600"), old], body="still here")
    cdn.script("/sie/window-passed", [("Cache-Control", "max-age=60, stale-if-error=10"), old])
    cdn.script("/sie/must-revalidate", [("Cache-Control", "max-age=60, stale-if-error=600, must-revalidate"), old])
    cdn.script("/sie/s-maxage", [("Cache-Control", "s-maxage=60, stale-if-error=600"), old])
    cdn.script("/sie/asked-by-client", [("Cache-Control", "max-age=60"), old], body="client said so")
    cdn.script("/sie/none", [("Cache-Control", "max-age=60"), old])
    paths = ["/sie/ok", "/sie/window-passed", "/sie/must-revalidate", "/sie/s-maxage", "/sie/asked-by-client",
             "/sie/none"]
    for p in paths:
        assert cdn.get(p).headers["X-Cache"] == "MISS"
    cdn.origin.kill()
    got = {p: cdn.get(p, headers={"Cache-Control": "stale-if-error=600"} if "client" in p else {}) for p in paths}
    assert {p: (a.status_code, a.headers["X-Cache"]) for p, a in got.items()} == {
        "/sie/ok": (200, "STALE"), "/sie/window-passed": (502, "MISS"), "/sie/must-revalidate": (502, "MISS"),
        "/sie/s-maxage": (502, "MISS"), "/sie/asked-by-client": (200, "STALE"), "/sie/none": (502, "MISS")}
    assert got["/sie/ok"].text == "still here" and int(got["/sie/ok"].headers["Age"]) >= 100
    assert "origin" in got["/sie/none"].json()["message"]
