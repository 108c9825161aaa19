"""Locust scenarios (locustfiles) that `microcosm.load(...)` can run, one file per scenario."""
