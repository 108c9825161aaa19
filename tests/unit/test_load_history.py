"""Locust's CSV history read second by second from the start of the load, with latency per endpoint."""
from microcosm.load.chart import history_svg
from microcosm.load.history import read_history

HEAD = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
        "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
        "Total Min Response Time,Total Max Response Time,Total Average Content Size\n")


def row(second, name, p50, p95, total, failed, kind="GET"):
    return (f"{second},4,{kind if name != 'Aggregated' else ''},{name},0,0,{p50},0,0,0,0,{p95},0,0,0,0,0,"
            f"{total},{failed},0,0,0,0,0\n")


def test_rates_come_from_the_totals_timed_from_the_start_and_latency_is_per_endpoint(tmp_path):
    path = tmp_path / "run_stats_history.csv"
    path.write_text(HEAD + row(100, "Aggregated", "N/A", "N/A", 0, 0)          # 0.3 s after t0: too close, skipped
                    + row(101, "/a", 5, 9, 10, 0) + row(101, "/b", 50, 90, 10, 1) + row(101, "Aggregated", 6, 80, 20, 1)
                    + row(102, "/a", 6, 9, 30, 0) + row(102, "/b", "N/A", "N/A", 10, 1) + row(102, "Aggregated", 6, 9, 40, 3))
    history = read_history(path, t0=100.2)
    assert [h["t"] for h in history] == [1.3, 2.3]
    assert [h["rps"] for h in history] == [round(20 / 1.3, 1), 20.0] and [h["fps"] for h in history] == [0.8, 2.0]
    assert history[0]["latency"] == {"GET /a": 5.0, "GET /b": 50.0} and history[1]["latency"] == {"GET /a": 6.0}
    page = history_svg(history, [(1.8, "catalog.kill")], duration=4)
    assert page.count("<polyline") == 2 + 2 and 'data-at="1.8"' in page and "s since the load started" in page


def test_nothing_before_the_start_or_the_file(tmp_path):
    assert read_history(tmp_path / "missing.csv", t0=1.0) == []
    (tmp_path / "h.csv").write_text(HEAD)
    assert read_history(tmp_path / "h.csv", t0=None) == []


def test_each_second_has_the_mean_response_time_of_the_requests_counted_in_it(tmp_path):
    def aggregated(second, total, average_ms):  # Locust's running average over every request so far
        line = row(second, "Aggregated", 5, 9, total, 0).split(",")
        line[20] = str(average_ms)
        return ",".join(line)

    path = tmp_path / "run_stats_history.csv"
    path.write_text(HEAD + aggregated(101, 10, 20.0) + aggregated(102, 40, 14.0) + aggregated(103, 40, 14.0))
    history = read_history(path, t0=100.0)
    assert history[0]["mean_ms"] == 20.0  # 10 requests, 200 ms in all
    assert history[1]["mean_ms"] == 12.0  # 30 more requests: (40 x 14 - 200) / 30
    assert history[2]["mean_ms"] is None  # nothing answered in that second
