"""The client charts (microcosm/clients/chart.py) from synthetic breaker events and attempts: every state's band
and every transition drawn, every attempt marked in its row, no two labels overlapping, empty inputs drawn."""
from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from microcosm.clients.chart import amplification_chart, attempt_kind, breaker_bands, breaker_chart, tick_step

T0 = 1_700_000_000.0  # wall-clock times, as time.time() gives them


def event(t, was, state):
    return {"t": T0 + t, "was": was, "state": state}


LIFE = [event(1.0, "closed", "open"), event(6.0, "open", "half_open"), event(6.1, "half_open", "open"),
        event(11.1, "open", "half_open"), event(11.2, "half_open", "closed")]
ATTEMPTS = ([{"t": T0 + 0.1 * i, "outcome": "503"} for i in range(10)]
            + [{"t": T0 + 1.5 + 0.5 * i, "outcome": "circuit open"} for i in range(9)]
            + [{"t": T0 + 6.0, "outcome": "timeout"}, {"t": T0 + 11.1, "outcome": "200"},
               {"t": T0 + 12.0, "outcome": "404"}, {"t": T0 + 12.5, "outcome": "429"}])


def overlaps(a, b) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def assert_no_overlap(chart):
    for a, b in itertools.combinations(chart.labels, 2):
        assert not overlaps(a, b), f"{a['text']!r} overlaps {b['text']!r}"


def assert_inside(chart):
    root = ET.fromstring(chart.svg)  # well-formed SVG
    width = float(root.get("width"))
    for label in chart.labels:
        assert label["x"] >= 0 and label["x"] + label["width"] <= width + 1, label


def test_every_state_band_and_transition_is_drawn():
    chart = breaker_chart(LIFE, ATTEMPTS)
    assert [b[0] for b in chart.bands] == ["closed", "open", "half_open", "open", "half_open", "closed"]
    starts = [round(b[1], 3) for b in chart.bands]
    assert starts == [0.0, 1.0, 6.0, 6.1, 11.1, 11.2]
    assert all(b[2] > b[1] for b in chart.bands)  # no empty band
    assert [(round(t, 3), was, now) for t, was, now in chart.transitions] == [
        (1.0, "closed", "open"), (6.0, "open", "half_open"), (6.1, "half_open", "open"),
        (11.1, "open", "half_open"), (11.2, "half_open", "closed")]
    svg = chart.svg
    assert svg.count("stroke-dasharray") == len(LIFE)  # one dashed line per transition
    for colour in ("#2da44e", "#bf8700", "#cf222e"):
        assert f"fill='{colour}' opacity='0.8'" in svg  # each state's band
    texts = [label["text"] for label in chart.labels]
    for lane in ("closed", "half-open", "open", "sent, ok", "sent, failed", "refused fast (open)", "time (s)"):
        assert lane in texts
    assert "0 s" in texts and any(t.endswith(" s") and t != "0 s" for t in texts)  # the axis, in seconds


def test_each_attempt_gets_a_mark_in_its_row():
    chart = breaker_chart(LIFE, ATTEMPTS)
    root = ET.fromstring(chart.svg)
    marks = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("width") == "2"]
    assert len(marks) == len(ATTEMPTS)
    rows = {}
    for mark, attempt in zip(marks, ATTEMPTS):
        rows.setdefault(attempt_kind(attempt), set()).add(mark.get("y"))
    assert all(len(ys) == 1 for ys in rows.values())  # one row per kind
    assert len({next(iter(ys)) for ys in rows.values()}) == 3  # three different rows


@pytest.mark.parametrize("outcome, kind", [("200", "ok"), ("404", "ok"), ("503", "failed"), ("429", "failed"),
                                           ("timeout", "failed"), ("unreachable", "failed"),
                                           ("circuit open", "refused")])
def test_attempt_kinds(outcome, kind):
    assert attempt_kind({"outcome": outcome}) == kind


@pytest.mark.parametrize("width", [360, 640, 1000])
def test_breaker_labels_do_not_overlap(width):
    chart = breaker_chart(LIFE, ATTEMPTS, width=width)
    assert_no_overlap(chart)
    assert_inside(chart)


@pytest.mark.parametrize("seconds", [0.02, 0.7, 3, 47, 900])
def test_time_ticks_do_not_overlap_whatever_the_span(seconds):
    events = [event(seconds / 3, "closed", "open"), event(seconds * 2 / 3, "open", "half_open")]
    chart = breaker_chart(events, [{"t": T0 + seconds, "outcome": "200"}], start=T0)
    assert_no_overlap(chart)
    ticks = [label for label in chart.labels if label["text"].endswith(" s") and label["text"] != "time (s)"]
    assert len(ticks) >= 2


def test_tick_step_keeps_labels_apart():
    for seconds in (0.05, 1, 12, 200, 5000):
        step = tick_step(seconds, 500)
        assert 500 * step / seconds >= 48 or step >= seconds


def test_empty_inputs():
    chart = breaker_chart([], [])
    ET.fromstring(chart.svg)
    assert chart.bands == [] and chart.transitions == []
    assert any("no breaker events" in label["text"] for label in chart.labels)
    assert_no_overlap(chart)
    bars = amplification_chart({})
    ET.fromstring(bars.svg)
    assert any("no figures" in label["text"] for label in bars.labels)
    assert_no_overlap(bars)


def test_attempts_without_events_show_a_closed_breaker():
    chart = breaker_chart([], [{"t": T0, "outcome": "200"}, {"t": T0 + 2, "outcome": "200"}])
    assert chart.bands == [("closed", 0.0, 2.0)]


def test_bands_start_in_the_state_the_first_event_left():
    bands = breaker_bands([event(2, "open", "half_open")], T0, T0 + 3)
    assert bands == [("open", 0.0, 2.0), ("half_open", 2.0, 3.0)]


def test_amplification_bars():
    figures = {"(a) no retries": 1.0, "(b) naive: at once, no budget": 1.9, "(c) backoff + full jitter": 1.86,
               "(d) jitter + retry budget": 1.15}
    chart = amplification_chart(figures)
    texts = [label["text"] for label in chart.labels]
    for name in figures:
        assert name in texts
    for value in ("1.00x", "1.90x", "1.86x", "1.15x"):
        assert value in texts
    assert_no_overlap(chart)
    assert_inside(chart)
    root = ET.fromstring(chart.svg)
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    widths = [float(r.get("width")) for r in bars]
    assert widths[1] > widths[2] > widths[3] > widths[0]  # longer bar, more load


def test_a_huge_amplification_keeps_its_axis_readable():
    chart = amplification_chart({"naive": 16.0, "none": 1.0, "nan": float("nan")})
    assert_no_overlap(chart)
    assert "<script" not in amplification_chart({"<script>": 1.0}).svg  # names are escaped
