"""A retry storm, measured: a fleet of clients against one struggling service, in several retry styles.

    from microcosm.clients import storm
    catalog.chaos(fail_rate=0.5, delay_ms=20)           # a struggling catalog (its /_chaos route)
    figures = {style: storm.storm(catalog, style, clients=8, requests=20) for style in storm.STYLES}
    figures["naive"]["amplification"]                    # requests catalog served / requests the clients made

Client threads, each its own `Client` (client.py), each send `requests` GETs of a product, one after the other.
The styles (STYLES), all without a breaker (this is about retries):

    none      NoRetry: each request sent once (the baseline)
    naive     NoBackoff: a failure retried at once, up to 3 times, no budget
    jitter    JitteredBackoff: capped exponential backoff with full jitter, up to 3 retries, no budget
    budget    jitter as above plus a RetryBudget (10 % of requests, burst 3) per client

**Load amplification** is what the service paid for the clients' requests: the requests its own /metrics
counted for the route, once it has served everything (a request a client gave up on may still be in the
server), divided by the requests the clients made. 1.0: no extra load. The other figures are what the callers
saw: the share of requests that ended with a 200, and how long a caller waited for one (all its attempts and
waits): p50 and p99.

bench/client_retries.py runs this in two scenarios (SCENARIOS) over several rounds; chapter 09 runs it once,
small. On a shared machine compare styles measured in the same run, not absolute times.
"""
from __future__ import annotations

import threading
import time

from ..services.metrics import percentile
from .budget import RetryBudget, Unlimited
from .client import Client
from .retry import JitteredBackoff, NoBackoff, NoRetry

ROUTE = "GET /products/<int:product_id>"  # the route the fleet calls, as catalog's /metrics names it
STYLES = {  # name -> (label, make the retry policy, make the budget)
    "none": ("(a) no retries", lambda: NoRetry(), lambda: Unlimited()),
    "naive": ("(b) naive: at once, no budget", lambda: NoBackoff(max_retries=3), lambda: Unlimited()),
    "jitter": ("(c) backoff + full jitter", lambda: JitteredBackoff(base=0.05, cap=1.0, max_retries=3),
               lambda: Unlimited()),
    "budget": ("(d) jitter + retry budget", lambda: JitteredBackoff(base=0.05, cap=1.0, max_retries=3),
               lambda: RetryBudget(ratio=0.1, burst=3)),
}
SCENARIOS = {  # name -> the struggle, and the fleet that meets it
    "flaky": {"about": "a catalog failing a share of requests (503) at random, whatever the load", "clients": 16,
              "fail_rate": 0.5, "delay_ms": 20, "read_timeout": 10.0},
    "overload": {"about": "a slow catalog (8 threads, each request 50 ms: 160 requests/s at most) just past its limit, "
                          "callers timing out after 150 ms (a request given up on is still served)", "clients": 24,
                 "fail_rate": 0.0, "delay_ms": 50, "read_timeout": 0.15},
}


def served(service, route: str = ROUTE) -> int:
    """How many requests of `route` the service has answered, by its own /metrics."""
    return service.metrics()["routes"].get(route, {}).get("count", 0)


def storm(catalog, style: str, clients: int, requests: int, read_timeout: float = 10.0) -> dict:
    """`clients` threads, each its own Client in `style`, each sending `requests` GETs; what the server and the
    callers saw: made, served, amplification, success (a share), p50_ms, p99_ms, seconds, retries."""
    _, make_retry, make_budget = STYLES[style]
    fleet = [Client(catalog.url, retry=make_retry(), budget=make_budget(), breaker=None, name=f"storm-{style}-{i}",
                    timeout=(1.0, read_timeout)) for i in range(clients)]
    waits: list[list[float]] = [[] for _ in fleet]
    oks = [0] * clients

    def work(i: int) -> None:
        for n in range(requests):
            t0 = time.perf_counter()
            try:
                ok = fleet[i].get(f"/products/{1 + n % 3}").status_code == 200
            except Exception:  # Unreachable: no answer at all
                ok = False
            waits[i].append((time.perf_counter() - t0) * 1000)
            oks[i] += ok

    before = served(catalog)
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    count, last = served(catalog), -1
    while count != last:  # requests the clients gave up on (timeouts) are still being served: wait for them
        time.sleep(0.3)
        count, last = served(catalog), count
    count -= before
    made = clients * requests
    ms = sorted(w for ws in waits for w in ws)
    return {"made": made, "served": count, "amplification": count / made, "success": sum(oks) / made,
            "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "seconds": seconds,
            "retries": sum(c.stats()["retries"] for c in fleet),
            "budget_refusals": sum(c.stats()["budget_refusals"] for c in fleet)}


__all__ = ["ROUTE", "SCENARIOS", "STYLES", "served", "storm"]
