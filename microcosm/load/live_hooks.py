"""Loaded by Locust beside every scenario (`-f scenario.py,live_hooks.py`): what the cell's live chart needs.

- Locust's CSV history written to disk every second (its default is every 5 s), so the chart moves while the
  load runs;
- latency percentiles over the last 2 seconds (its default is 10), so a spike shows where it happens;
- a file `started` in Locust's working folder, holding the moment the users start: time zero of the chart,
  and the clock the cell's events (`events={2: catalog.kill}`) are timed by.
"""
import time
from pathlib import Path

import locust.stats
from locust import events

locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1
locust.stats.CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW = 2


@events.test_start.add_listener
def _mark_the_start(environment, **_):
    Path("started").write_text(repr(time.time()))
