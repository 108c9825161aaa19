"""microcosm.show: the tables chapters and labs display."""
from microcosm.show import percentile_chart, short, status_chart, table


def test_a_table_renders_as_html_with_every_value_escaped():
    shown = table([("catalog-1", 312), ("<script>", None)], ["instance", "requests"])._repr_html_()
    assert "<th style='text-align:left'>instance</th>" in shown
    assert "<td style='text-align:left'>312</td>" in shown and "&lt;script&gt;" in shown and "<script>" not in shown


def test_a_table_prints_as_aligned_text_outside_jupyter():
    assert repr(table([("a", 1), ("bbb", 22)], ["x", "count"])).splitlines() == ["x    count", "a    1", "bbb  22"]


def drawing(chart):
    """The chart's SVG, parsed: what a browser would draw."""
    import xml.etree.ElementTree as ET

    return ET.fromstring(chart._repr_html_())


SVG = "{http://www.w3.org/2000/svg}"


def test_a_percentile_chart_has_three_bars_per_run_longer_for_slower_percentiles():
    runs = {"round_robin": {"p50_ms": 4, "p95_ms": 510, "p99_ms": 530},
            "least_connections": {"p50_ms": 3, "p95_ms": 9, "p99_ms": None}}
    svg = drawing(percentile_chart(runs))
    bars = [r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [r.find(f"{SVG}title").text for r in bars] == [
        "round_robin p50 4 ms", "round_robin p95 510 ms", "round_robin p99 530 ms",
        "least_connections p50 3 ms", "least_connections p95 9 ms", "least_connections p99 1 ms"]
    width = [float(r.get("width")) for r in bars]
    assert width[0] < width[1] < width[2] and width[5] == 0  # longer for slower; 1 ms is the log scale's origin
    assert width[1] / width[0] > 3  # log scale: 510 ms is log10(510)/log10(4) = 4.5 times as long as 4 ms
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "round_robin" in labels and "least_connections" in labels
    assert {"1 ms", "10 ms", "100 ms", "1000 ms"} <= set(labels)  # the axis reaches past the slowest bar


def test_a_status_chart_puts_each_answer_on_its_status_row_at_its_time():
    answers = [(0.0, 200, None), (0.5, 200, None), (1.0, 429, "1"), (1.5, 200, None), (2.5, 429, "1")]
    svg = drawing(status_chart(answers))
    marks = list(svg.iter(f"{SVG}rect"))
    assert len(marks) == 5
    xs, ys = [float(m.get("x")) for m in marks], [float(m.get("y")) for m in marks]
    assert xs == sorted(xs) and xs[1] - xs[0] == xs[3] - xs[2]  # a linear time axis
    assert ys[0] == ys[1] == ys[3] < ys[2] == ys[4]  # 200s on the top row, 429s below
    assert {m.get("fill") for m, s in zip(marks, (200, 200, 429, 200, 429)) if s == 429} == {"#bf8700"}
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert labels[-2:] == ["200", "429"] and "3 s" in labels and "4 s" not in labels  # axis to the last second


def test_short_keeps_a_short_text_and_cuts_a_long_one():
    assert short("abc", 5) == "abc" and short("abcdefgh", 5) == "abcde…" and short(12345678, 3) == "123…"
