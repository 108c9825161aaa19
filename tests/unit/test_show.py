"""microcosm.show: the tables chapters and labs display."""
from microcosm.show import table


def test_a_table_renders_as_html_with_every_value_escaped():
    shown = table([("catalog-1", 312), ("<script>", None)], ["instance", "requests"])._repr_html_()
    assert "<th style='text-align:left'>instance</th>" in shown
    assert "<td style='text-align:left'>312</td>" in shown and "&lt;script&gt;" in shown and "<script>" not in shown


def test_a_table_prints_as_aligned_text_outside_jupyter():
    assert repr(table([("a", 1), ("bbb", 22)], ["x", "count"])).splitlines() == ["x    count", "a    1", "bbb  22"]
