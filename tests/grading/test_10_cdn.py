"""Graded tests of lab 10 (CDN): the learner's freshness calculation (RFC 9111 §4.2) and rule of what a shared
cache may store (§3, §3.5), loaded by a live edge.

Run by the grader (`python -m microcosm.grade NOTEBOOK`): it executes the lab notebook in a fresh folder, whose
%%writefile cells leave freshness.py and storable.py there, and points these tests at that folder (conftest.py).

Every test goes through a real edge process (`launch("cdn", freshness=...)`) in front of a real origin whose
answers the test scripts (microcosm/services/scripted_origin.py). What the learner's code decided is
read where it shows: the X-Cache and Age of each answer, and what the origin was asked (its own /_count of
requests, conditional requests and 304s). Task 1's edge runs the learner's lifetime and age with the edge's
decide, Task 2's the learner's decide with the edge's lifetime and age (lab10_edge.py), Task 3's the learner's
storable rule with the edge's freshness, so a mistake in one task costs points in that task only. Times are
given to the origin as a Date or an Age in the past, so only two tests wait (1-2 s); an Age is checked against
a bound made from how long the test's requests took, never against the wall clock. An answer not written
yet (NotImplementedError) fails its task's tests at once.
"""
from __future__ import annotations

import time

import pytest

from multidict import CIMultiDict
from werkzeug.http import http_date

from lab10_edge import LabEdge, Timed, ages, cache, expect, parts_file
from microcosm.services.cdn.storage import Stored
from microcosm.services.loader import load_object

points = pytest.mark.points
TASKS = {"Task 1 · Freshness lifetime and age": ("freshness_",),
         "Task 2 · Serve, revalidate or fetch": ("decision_",),
         "Task 3 · What a shared cache may store": ("storable_",)}  # the lab's headings (conftest.py)
MAX_AGE_60 = [("Cache-Control", "max-age=60")]
ETAG = {"etag": '"v1"'}


@pytest.fixture(scope="module")
def parts(learner_file, tmp_path_factory):
    return parts_file(learner_file("freshness.py"), tmp_path_factory.mktemp("lab10"))


def written(parts, cls: str, *calls: str):
    """Call the methods `calls` of parts:cls once on a stored answer: one not written yet fails at once."""
    now = time.time()
    stored = Stored(200, [("Cache-Control", "max-age=60"), ("Date", http_date(now))], b"x", now, now)
    fresh = load_object(f"{parts}:{cls}")()
    args = {"lifetime": (stored,), "age": (stored, now), "decide": (stored, {}, now)}
    for method in calls:
        try:
            getattr(fresh, method)(*args[method])
        except NotImplementedError as exc:
            pytest.fail(f"freshness.py's Freshness.{method} is not written yet: {exc or 'NotImplementedError'}")
        except Exception:
            pass  # a wrong answer: the tests say what is wrong with it


@pytest.fixture(scope="module")
def task1(launch_for_module, parts):
    written(parts, "YourLifetimeAndAge", "lifetime", "age")
    return LabEdge(launch_for_module, freshness=f"{parts}:YourLifetimeAndAge")


@pytest.fixture(scope="module")
def task2(launch_for_module, parts):
    written(parts, "YourDecide", "decide")
    return LabEdge(launch_for_module, freshness=f"{parts}:YourDecide")


@pytest.fixture(scope="module")
def task3(launch_for_module, learner_object, learner_file):
    refusal = learner_object("storable.py", "refusal")
    try:
        refusal("GET", CIMultiDict(), {}, 200, CIMultiDict([("Cache-Control", "max-age=60")]), {"max-age": "60"})
    except NotImplementedError as exc:
        pytest.fail(f"storable.py's refusal is not written yet: {exc or 'NotImplementedError'}")
    except Exception:
        pass  # a wrong answer: the tests say what is wrong with it
    return LabEdge(launch_for_module, storable=f"{learner_file('storable.py')}:refusal")


# --- Task 1 · Freshness lifetime and age (the edge's decide) -------------------------------------------------
@points(1)
def test_freshness_max_age(task1):
    """Cache-Control: max-age=60: the second GET is a HIT, the origin is asked once, and Age is 0 or so."""
    with Timed() as run:
        answers, seen = task1.row("max-age", MAX_AGE_60)
    expect("max-age=60", answers, seen, ["MISS", "HIT"], 1, "fresh for 60 s")
    assert all(age in run.within(0) for age in ages(answers)), f"Age {ages(answers)}: a new answer is about 0 s old"


@points(3, must_pass=True)
def test_freshness_s_maxage_before_max_age(task1):
    """s-maxage wins over max-age in a shared cache: max-age=0, s-maxage=60 is a HIT; max-age=60, s-maxage=0 is not."""
    answers, seen = task1.row("s-maxage-60", [("Cache-Control", "max-age=0, s-maxage=60")])
    expect("max-age=0, s-maxage=60", answers, seen, ["MISS", "HIT"], 1, "s-maxage says fresh for 60 s")
    answers, seen = task1.row("s-maxage-0", [("Cache-Control", "max-age=60, s-maxage=0")])
    expect("max-age=60, s-maxage=0", answers, seen, ["MISS", "MISS"], 2, "s-maxage says stale at once")


@points(2)
def test_freshness_expires_minus_date(task1):
    """Expires - Date: Date 30 s ago, Expires in 60 s: fresh; 100, 50 s ago: not; max-age wins; Expires: 0 is stale."""
    answers, seen = task1.row("expires-date", [("Date", "{now-30}"), ("Expires", "{now+60}")])
    expect("Date 30 s ago, Expires in 60 s", answers, seen, ["MISS", "HIT"], 1, "fresh for 90 s, 30 s old")
    answers, seen = task1.row("expires-past", [("Date", "{now-100}"), ("Expires", "{now-50}")])
    expect("Date 100 s ago, Expires 50 s ago", answers, seen, ["MISS", "MISS"], 2, "fresh for 50 s, 100 s old")
    answers, seen = task1.row("max-age-beats-expires", [*MAX_AGE_60, ("Expires", "{now-10}")])
    expect("max-age=60, Expires 10 s ago", answers, seen, ["MISS", "HIT"], 1, "max-age wins: fresh for 60 s")
    answers, seen = task1.row("expires-0", [("Expires", "0")], **ETAG)
    expect("Expires: 0", answers, seen, ["MISS", "REVALIDATED"], 2, "not a date: already expired")


@points(2, must_pass=True)
def test_freshness_heuristic_is_10_percent_of_last_modified(task1):
    """Heuristic: 10% of Date - Last-Modified (10 h): fresh 1 min after Date, stale 2 h after; public 302s too."""
    answers, seen = task1.row("heuristic-fresh", [("Date", "{now-60}"), ("Last-Modified", "{now-36060}")], **ETAG)
    expect("Last-Modified 10 h before Date, 1 min old", answers, seen, ["MISS", "HIT"], 1, "fresh for 1 h")
    answers, seen = task1.row("heuristic-stale", [("Date", "{now-7200}"), ("Last-Modified", "{now-43200}")], **ETAG)
    expect("Last-Modified 10 h before Date, 2 h old", answers, seen, ["MISS", "REVALIDATED"], 2, "fresh for 1 h")
    answers, seen = task1.row("heuristic-public-302", [("Last-Modified", "{now-864000}"), ("Cache-Control", "public")],
                              status=302)
    expect("a public 302, Last-Modified 10 days ago", answers, seen, ["MISS", "HIT"], 1, "fresh for a day")


@points(1)
def test_freshness_heuristic_at_most_a_day(task1):
    """The heuristic lifetime is at most a day: Last-Modified 100 days before Date, seen 25 h after Date, is stale."""
    answers, seen = task1.row("heuristic-cap", [("Date", "{now-90000}"), ("Last-Modified", "{now-8730000}")], **ETAG)
    expect("Last-Modified 100 days before Date, 25 h old", answers, seen, ["MISS", "REVALIDATED"], 2,
           "10% would be 10 days; the cap makes it a day")


@points(3, must_pass=True)
def test_freshness_age_from_upstream(task1):
    """The origin's Age counts: Age: 100, max-age=600 goes out as Age 100 or so (MISS, HIT); with max-age=60, stale."""
    with Timed() as run:
        answers, seen = task1.row("upstream-age", [("Cache-Control", "max-age=600"), ("Age", "100")])
    expect("max-age=600, Age: 100", answers, seen, ["MISS", "HIT"], 1, "100 s old, fresh for 600 s")
    assert all(age in run.within(100) for age in ages(answers)), \
        f"Age {ages(answers)}: the origin said Age: 100, so the answer is 100 s old (+ {run.seconds:.1f} s)"
    answers, seen = task1.row("upstream-age-stale", [*MAX_AGE_60, ("Age", "100")])
    expect("max-age=60, Age: 100", answers, seen, ["MISS", "MISS"], 2, "100 s old, fresh for 60 s: stale")


@points(2)
def test_freshness_age_from_date(task1):
    """Now - Date, if larger: Date 200 s ago, Age: 50 go out as Age 200 or so; Date 100 s ago, max-age=60 is stale."""
    with Timed() as run:
        answers, seen = task1.row("date-age", [("Cache-Control", "max-age=600"), ("Date", "{now-200}"), ("Age", "50")])
    expect("max-age=600, Date 200 s ago, Age: 50", answers, seen, ["MISS", "HIT"], 1, "200 s old, fresh for 600 s")
    assert all(age in run.within(200) for age in ages(answers)), \
        f"Age {ages(answers)}: Date says 200 s old (the larger of 200 and 50), + {run.seconds:.1f} s"
    answers, seen = task1.row("date-stale", [*MAX_AGE_60, ("Date", "{now-100}")])
    expect("max-age=60, Date 100 s ago", answers, seen, ["MISS", "MISS"], 2, "100 s old, fresh for 60 s: stale")


@points(1)
def test_freshness_age_counts_the_response_delay(task1):
    """The time the origin took counts with its Age: an origin answering in 1.2 s with Age: 10 gives Age 11 or more."""
    with Timed() as run:
        answers, _ = task1.row("delay", [("Cache-Control", "max-age=600"), ("Age", "10")], asks=1, delay_ms=1200)
    assert ages(answers)[0] in run.within(11.2), \
        f"Age {ages(answers)}: Age: 10 + a 1.2 s response delay is at least 11 (this run took {run.seconds:.1f} s)"


@points(2, must_pass=True)
def test_freshness_age_grows_while_stored(task1):
    """Time stored counts: max-age=4 and Age: 2 is Age 2, 1 s later Age 3, 2 s later stale (the origin asked again)."""
    path = "/lab10/resident"
    task1.script(path, [("Cache-Control", "max-age=4"), ("Age", "2")], body="resident")
    with Timed() as run:
        first = task1.ask(path)
        time.sleep(1.1)
        second = task1.ask(path)
    assert int(first.headers["Age"]) in run.within(2), f"Age {first.headers['Age']}: the origin said Age: 2"
    assert int(second.headers["Age"]) in run.within(2) and int(second.headers["Age"]) >= 3, \
        f"Age {ages([first, second])}: stored 1.1 s, the second answer is at least 3 s old"
    time.sleep(max(0.0, 2.2 - run.seconds))
    third = task1.ask(path)
    seen = task1.count(path)
    assert cache([third]) == ["MISS"] and seen["requests"] >= 2, \
        f"X-Cache {cache([first, second, third])}, Age {ages([first, second, third])}: 2.2 s in the store, it " \
        f"is over 4 s old, stale; the origin was asked {seen['requests']} times"


# --- Task 2 · Serve, revalidate or fetch (the edge's lifetime and age) ---------------------------------------
@points(2, must_pass=True)
def test_decision_serves_a_fresh_answer(task2):
    """A fresh answer is served from the store: max-age=60, three GETs, the origin asked once."""
    answers, seen = task2.row("fresh", MAX_AGE_60, asks=3, **ETAG)
    expect("max-age=60", answers, seen, ["MISS", "HIT", "HIT"], 1, "fresh: served from the store")


@points(3, must_pass=True)
def test_decision_revalidates_a_stale_answer(task2):
    """A stale answer is revalidated: a conditional GET each time, the origin's 304s counted, the stored body served."""
    answers, seen = task2.row("stale", [*MAX_AGE_60, ("Age", "100")], asks=3, **ETAG)
    expect("max-age=60, Age: 100", answers, seen, ["MISS", "REVALIDATED", "REVALIDATED"], 3, "stale: ask the origin")
    assert seen["conditional"] == seen["not_modified"] == 2, f"the origin saw {seen}: 2 conditional GETs, 2 304s"
    assert [a.text for a in answers] == ["body of stale"] * 3


@points(2, must_pass=True)
def test_decision_no_cache_answer_always_revalidates(task2):
    """An answer saying no-cache (even with max-age=60) is stored but never served without asking the origin."""
    answers, seen = task2.row("no-cache", [("Cache-Control", "no-cache, max-age=60")], asks=3, **ETAG)
    expect("no-cache, max-age=60", answers, seen, ["MISS", "REVALIDATED", "REVALIDATED"], 3, "no-cache: ask first")
    assert seen["conditional"] == seen["not_modified"] == 2, f"the origin saw {seen}: 2 conditional GETs, 2 304s"


@points(2)
def test_decision_request_no_cache_and_max_age(task2):
    """The client's no-cache and max-age=0 revalidate a fresh answer; its max-age=3600 takes it from the store."""
    asks = [{}, {"Cache-Control": "no-cache"}, {"Cache-Control": "max-age=0"}, {"Cache-Control": "max-age=3600"}]
    answers, seen = task2.row("request-directives", MAX_AGE_60, asks=asks, **ETAG)
    expect("max-age=60; asked with nothing, no-cache, max-age=0, max-age=3600", answers, seen,
           ["MISS", "REVALIDATED", "REVALIDATED", "HIT"], 3, "the client wants a validated answer, then not")


@points(1)
def test_decision_request_min_fresh(task2):
    """The client's min-fresh=120 revalidates an answer fresh for 60 s; min-fresh=10 takes it from the store."""
    asks = [{}, {"Cache-Control": "min-fresh=120"}, {"Cache-Control": "min-fresh=10"}]
    answers, seen = task2.row("min-fresh", MAX_AGE_60, asks=asks, **ETAG)
    expect("max-age=60; asked with nothing, min-fresh=120, min-fresh=10", answers, seen,
           ["MISS", "REVALIDATED", "HIT"], 2, "fresh for 60 s more, not 120")


@points(2)
def test_decision_request_max_stale(task2):
    """The client's max-stale: stale by 40 s, max-stale and max-stale=600 serve it, max-stale=10 revalidates."""
    asks = [{}, {"Cache-Control": "max-stale"}, {"Cache-Control": "max-stale=600"}, {"Cache-Control": "max-stale=10"}]
    answers, seen = task2.row("max-stale", [*MAX_AGE_60, ("Date", "{now-100}")], asks=asks, **ETAG)
    expect("max-age=60, Date 100 s ago; asked with nothing, max-stale, max-stale=600, max-stale=10", answers, seen,
           ["MISS", "HIT", "HIT", "REVALIDATED"], 2, "stale by 40 s: within any limit, 600, not 10")


@points(2, must_pass=True)
def test_decision_no_max_stale_after_must_revalidate(task2):
    """must-revalidate, proxy-revalidate and s-maxage forbid serving stale: max-stale=600 still revalidates."""
    for directives in ("max-age=60, must-revalidate", "max-age=60, proxy-revalidate", "s-maxage=60"):
        name = directives.split(", ")[-1].replace("=", "-")
        answers, seen = task2.row(name, [("Cache-Control", directives), ("Date", "{now-100}")],
                                  asks=[{}, {"Cache-Control": "max-stale=600"}], **ETAG)
        expect(f"{directives}, Date 100 s ago; asked with max-stale=600", answers, seen, ["MISS", "REVALIDATED"], 2,
               "stale, and the origin said: only once validated")


# --- Task 3 · What a shared cache may store (the edge's freshness) -------------------------------------------
AUTH = {"Authorization": "Bearer alice"}


@points(1)
def test_storable_fresh_answers_are_stored(task3):
    """Stored: max-age=60 (a HIT next), a 404 with Last-Modified (heuristic), a 200 with only an ETag (revalidated)."""
    answers, seen = task3.row("stored-max-age", MAX_AGE_60)
    expect("max-age=60", answers, seen, ["MISS", "HIT"], 1, "nothing forbids storing it")
    answers, seen = task3.row("stored-404", [("Last-Modified", "{now-864000}")], status=404)
    expect("a 404, Last-Modified 10 days ago", answers, seen, ["MISS", "HIT"], 1, "heuristically cacheable")
    answers, seen = task3.row("stored-etag-only", [], **ETAG)
    expect("a 200 with an ETag only", answers, seen, ["MISS", "REVALIDATED"], 2, "stale at once, with a validator")


@points(3, must_pass=True)
def test_storable_private_is_never_stored(task3):
    """private (and private="Set-Cookie") is one user's answer: never stored by a shared cache, even with max-age."""
    for name, directives in (("private", "private, max-age=60"), ("private-field", 'private="Set-Cookie", max-age=60')):
        answers, seen = task3.row(name, [("Cache-Control", directives)])
        expect(directives, answers, seen, ["MISS", "MISS"], 2, "private: for one user, not a shared cache")


@points(2, must_pass=True)
def test_storable_no_store(task3):
    """no-store on the answer, or on the request, is not stored: the next GET goes to the origin again."""
    answers, seen = task3.row("no-store", [("Cache-Control", "no-store, max-age=60")])
    expect("no-store, max-age=60", answers, seen, ["MISS", "MISS"], 2, "no-store")
    answers, seen = task3.row("request-no-store", MAX_AGE_60, asks=[{"Cache-Control": "no-store"}, {}])
    expect("max-age=60, first asked with no-store", answers, seen, ["MISS", "MISS"], 2, "the request said no-store")


@points(3, must_pass=True)
def test_storable_authorization(task3):
    """An answer to a request with Authorization is not stored, unless it says public, s-maxage or must-revalidate."""
    answers, seen = task3.row("authorization", MAX_AGE_60, asks=[AUTH, AUTH])
    expect("max-age=60, asked with Authorization", answers, seen, ["MISS", "MISS"], 2, "one user's answer")
    for directives in ("public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"):
        name = "authorization-" + directives.split(", ")[0].split("=")[0]
        answers, seen = task3.row(name, [("Cache-Control", directives)], asks=[AUTH, AUTH])
        expect(f"{directives}, asked with Authorization", answers, seen, ["MISS", "HIT"], 1, "the origin allowed it")


@points(1)
def test_storable_statuses(task3):
    """Only statuses the cache understands: a 500 with max-age=60 is not stored, a 302 with max-age=60 is."""
    answers, seen = task3.row("status-500", MAX_AGE_60, status=500)
    expect("a 500, max-age=60", answers, seen, ["MISS", "MISS"], 2, "500 is not stored")
    answers, seen = task3.row("status-302", MAX_AGE_60, status=302)
    expect("a 302, max-age=60", answers, seen, ["MISS", "HIT"], 1, "a 302 is understood")


@points(1)
def test_storable_vary_star(task3):
    """Vary: * is not stored: it matches no later request."""
    answers, seen = task3.row("vary-star", [*MAX_AGE_60, ("Vary", "Accept-Language, *")])
    expect("max-age=60, Vary: Accept-Language, *", answers, seen, ["MISS", "MISS"], 2, "Vary names *")


@points(2)
def test_storable_needs_a_lifetime_or_a_validator(task3):
    """No explicit lifetime: a 302 with Last-Modified, or a 200 with no validator, is not stored; a public 302 is."""
    answers, seen = task3.row("302-heuristic", [("Last-Modified", "{now-864000}")], status=302)
    expect("a 302, Last-Modified only", answers, seen, ["MISS", "MISS"], 2, "302 is not heuristically cacheable")
    answers, seen = task3.row("nothing", [("Content-Type", "text/plain")])
    expect("a 200, no freshness, no validator", answers, seen, ["MISS", "MISS"], 2, "it could never be reused")
    answers, seen = task3.row("public-302", [("Last-Modified", "{now-864000}"), ("Cache-Control", "public")],
                              status=302)
    expect("a public 302, Last-Modified 10 days ago", answers, seen, ["MISS", "HIT"], 1, "public: explicitly storable")
