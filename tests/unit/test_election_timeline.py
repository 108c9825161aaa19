"""The election timeline (coordination/timeline.py) reads what each instance says about itself: who led when,
the first leader after a moment, the time two believed they led at once, and a chart with a lane per instance."""
from microcosm.coordination.timeline import Timeline


class Instance:
    def __init__(self, name):
        self.name = name


def timeline_of(samples: dict, marks=()) -> Timeline:
    t = Timeline([Instance(name) for name in samples])
    t.samples = {name: list(rows) for name, rows in samples.items()}
    t.marks = list(marks)
    t._stop.set()
    return t


SAMPLES = {  # a leader killed at 1.0 s; b takes over at 3.0 s; a comes back at 3.5 s believing it still leads
    "a": [(0.0, "leader", 7), (1.0, "silent", None), (2.0, "silent", None), (3.5, "leader", 7), (4.0, "follower", None)],
    "b": [(0.0, "follower", None), (1.0, "follower", None), (3.0, "leader", 9), (4.0, "leader", 9)],
}


def test_who_led_when_the_first_leader_after_a_kill_and_the_overlap():
    t = timeline_of(SAMPLES, [(1.0, "a paused"), (3.4, "a resumed")])
    assert t.leaders_at(0.5) == {"a"} and t.leaders_at(2.0) == set() and t.leaders_at(3.7) == {"a", "b"}
    assert t.first_leader_after(1.0, other_than="a") == (3.0, "b")
    assert t.first_leader_after(4.5) is None
    assert abs(t.overlap() - 0.5) < 1e-9  # 3.5 to 4.0 s: both believed they led
    assert t.runs("a")[0] == (0.0, 1.0, "leader", 7) and t.runs("a")[1][2] == "silent"


def test_the_chart_has_a_lane_per_instance_each_term_and_every_mark():
    svg = timeline_of(SAMPLES, [(1.0, "a paused"), (3.4, "a resumed")]).chart().svg
    for text in (">a<", ">b<", "a leads, token 7", "b leads, token 9", "a does not answer", "a paused (1.0 s)",
                 "a resumed (3.4 s)"):
        assert text in svg, text
    assert "text-anchor='end'" in svg  # the mark near the right edge keeps its label inside the picture
