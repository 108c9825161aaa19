"""microcosm/load/through_cache.py: requests to a real edge in front of a real (scripted) origin, read as the
edge answered them; a herd released at once; a dead address counted, not raised."""

import pytest

from cdn_helpers import Cdn
from microcosm.load.through_cache import Answer, ask, herd, hit_ratio


@pytest.fixture(scope="module")
def cdn(launch_for_module):
    return Cdn(launch_for_module, traffic=False)


def test_ask_reads_each_answer_as_the_cache_gave_it(cdn):
    cdn.script("/tc/a", [("Cache-Control", "max-age=60")], body="alpha")
    answers = ask(cdn.edge.url, ["/tc/a"] * 3)
    assert [(a.status, a.cache, a.body) for a in answers] == [(200, "MISS", b"alpha")] + [(200, "HIT", b"alpha")] * 2
    assert all(a.ms > 0 and a.age >= 0 for a in answers)
    assert hit_ratio(answers) == pytest.approx(2 / 3)
    assert cdn.count("/tc/a")["requests"] == 1


def test_ask_sends_each_request_its_own_headers(cdn):
    cdn.script("/tc/v", [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")], body="hello")
    langs = ["en", "de", "en", "fr", "de"]
    answers = ask(cdn.edge.url, ["/tc/v"] * 5, headers=[{"Accept-Language": lang} for lang in langs])
    assert [a.cache for a in answers] == ["MISS", "MISS", "HIT", "MISS", "HIT"]
    assert cdn.count("/tc/v")["requests"] == 3
    with pytest.raises(ValueError, match="2 header sets for 5 paths"):
        ask(cdn.edge.url, ["/tc/v"] * 5, headers=[{}, {}])


def test_a_herd_leaves_together_and_the_origin_sees_one_request(cdn):
    cdn.script("/tc/herd", [("Cache-Control", "max-age=60")], body="popular", delay_ms=300)
    answers = herd(cdn.edge.url + "/tc/herd", 40)
    assert len(answers) == 40 and {(a.status, a.body) for a in answers} == {(200, b"popular")}
    assert sorted(a.cache for a in answers) == ["HIT"] * 39 + ["MISS"]
    assert cdn.count("/tc/herd")["requests"] == 1
    with pytest.raises(ValueError):
        herd(cdn.edge.url + "/tc/herd", 0)


def test_no_answer_is_status_zero_not_an_exception(refused_url):
    nowhere = refused_url()
    answers = ask(nowhere, ["/x"], timeout=2) + herd(f"{nowhere}/x", 3, timeout=2)
    assert [(a.status, a.cache, a.body) for a in answers] == [(0, "", b"")] * 4
    assert hit_ratio(answers) == 0.0 and hit_ratio([]) == 0.0 and isinstance(answers[0], Answer)
