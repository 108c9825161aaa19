"""A retry storm: what retries cost a struggling service, by retry style (chapter 09's figures).

    python bench/client_retries.py [--quick] [--clients 16] [--requests 40] [--rounds 3]

One catalog process, launched for real, made to struggle with its chaos route: a share of requests fail
(503, `--fail-rate`) and every request is slow (`--delay-ms`, so its 8 waitress threads can be saturated).
`--clients` threads, each its own `Client` (microcosm/clients), each send `--requests` GETs of one product, in
four styles, one after the other, in the same run:

    (a) none      NoRetry: each request sent once (the baseline)
    (b) naive     NoBackoff: a failure retried at once, up to 3 times, no budget
    (c) jitter    JitteredBackoff: capped exponential backoff with full jitter, up to 3 retries, no budget
    (d) budget    jitter as in (c) plus a RetryBudget (10 % of requests, burst 3) per client

No breaker in any style (this bench is about retries). For each style it prints load amplification (the
requests catalog's own /metrics counted / the requests the clients made), the share of requests that ended
with a 200, and p50/p99 of what a caller waited for a request (all its attempts and waits), and each as a
ratio against (a) measured in the same round. With `--rounds` > 1 it prints the median and the range.

Figures, not tests. On 2 cores the clients and catalog share the CPU: compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fmt, machine_line, median, percentile, table  # noqa: E402

import microcosm  # noqa: E402
from microcosm.clients import Client, JitteredBackoff, NoBackoff, NoRetry, RetryBudget, Unlimited  # noqa: E402

ROUTE = "GET /products/<int:product_id>"
STYLES = {  # name -> (label, make the retry policy, make the budget)
    "none": ("(a) no retries", lambda: NoRetry(), lambda: Unlimited()),
    "naive": ("(b) naive: at once, no budget", lambda: NoBackoff(max_retries=3), lambda: Unlimited()),
    "jitter": ("(c) backoff + full jitter", lambda: JitteredBackoff(base=0.05, cap=1.0, max_retries=3),
               lambda: Unlimited()),
    "budget": ("(d) jitter + retry budget", lambda: JitteredBackoff(base=0.05, cap=1.0, max_retries=3),
               lambda: RetryBudget(ratio=0.1, burst=3)),
}


def _served(catalog) -> int:
    return catalog.metrics()["routes"].get(ROUTE, {}).get("count", 0)


def storm(catalog, style: str, clients: int, requests: int) -> dict:
    """`clients` threads, each its own Client, each sending `requests` GETs; what the server and callers saw."""
    _, make_retry, make_budget = STYLES[style]
    fleet = [Client(catalog.url, retry=make_retry(), budget=make_budget(), breaker=None, name=f"bench-{style}-{i}",
                    timeout=(1.0, 10.0)) for i in range(clients)]
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

    before = _served(catalog)
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    served = _served(catalog) - before
    made = clients * requests
    ms = sorted(w for ws in waits for w in ws)
    retries = sum(c.stats()["retries"] for c in fleet)
    return {"made": made, "served": served, "amplification": served / made, "success": sum(oks) / made,
            "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "seconds": seconds, "retries": retries}


def measure(clients: int = 16, requests: int = 40, rounds: int = 1, fail_rate: float = 0.5, delay_ms: int = 20,
            log=print) -> dict:
    data = tempfile.mkdtemp(prefix="microcosm-bench-retries-")
    catalog = microcosm.launch("catalog", name="bench-retries-catalog", traffic=False, access_log=False,
                               data_dir=data)
    runs: dict[str, list[dict]] = {s: [] for s in STYLES}
    try:
        for _ in range(5):
            catalog.get("/products/1")  # warm
        catalog.chaos(fail_rate=fail_rate, delay_ms=delay_ms)
        for r in range(rounds):
            order = list(STYLES) if r % 2 == 0 else ["none"] + list(STYLES)[:0:-1]  # baseline first, then alternate
            for style in order:
                fig = storm(catalog, style, clients, requests)
                runs[style].append(fig)
                log(f"  round {r + 1} {style:7s} amplification {fig['amplification']:.2f}, success "
                    f"{fig['success']:.0%}, p50 {fig['p50_ms']:.0f} ms, p99 {fig['p99_ms']:.0f} ms, {fig['seconds']:.1f} s")
    finally:
        catalog.stop()
    # ratios against the baseline of the same round
    for style in STYLES:
        for fig, base in zip(runs[style], runs["none"]):
            for k in ("amplification", "success", "p50_ms", "p99_ms"):
                fig[k + "_x"] = fig[k] / base[k] if base[k] else float("nan")
    return {"runs": runs, "clients": clients, "requests": requests, "rounds": rounds, "fail_rate": fail_rate,
            "delay_ms": delay_ms}


def _spread(values, digits=2, pct=False) -> str:
    f = (lambda v: f"{v:.0%}") if pct else (lambda v: fmt(v, digits))
    if len(values) == 1:
        return f(values[0])
    return f"{f(median(values))} ({f(min(values))}–{f(max(values))})"


def amplification(figures: dict) -> dict:
    """{style label: median load amplification}: what chart.amplification_chart takes."""
    return {STYLES[s][0]: median([f["amplification"] for f in runs]) for s, runs in figures["runs"].items()}


def report(figures: dict) -> str:
    rows = []
    for style, runs in figures["runs"].items():
        col = lambda k, **kw: _spread([f[k] for f in runs], **kw)  # noqa: E731
        rows.append([STYLES[style][0], col("amplification"), col("amplification_x"), col("success", pct=True),
                     col("success_x"), col("p50_ms", digits=0), col("p50_ms_x"), col("p99_ms", digits=0),
                     col("p99_ms_x")])
    head = (f"### Retry storm (clients, chapter 09)\n\n{figures['clients']} client threads x {figures['requests']} "
            f"GETs each against one catalog failing {figures['fail_rate']:.0%} of requests (503) and slowed by "
            f"{figures['delay_ms']} ms each; {figures['rounds']} round(s), median (min–max); x = ratio against "
            f"(a) in the same round. Amplification = requests catalog's /metrics counted / requests the clients made.\n\n")
    return head + table(["style", "amplification", "x", "success", "x", "p50 ms", "x", "p99 ms", "x"], rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, help="requests per client (default 40, --quick 15)")
    p.add_argument("--rounds", type=int, help="rounds (default 3, --quick 1)")
    p.add_argument("--fail-rate", type=float, default=0.5)
    p.add_argument("--delay-ms", type=int, default=20)
    args = p.parse_args(argv)
    print(machine_line(), flush=True)
    figures = measure(clients=args.clients, requests=args.requests or (15 if args.quick else 40),
                      rounds=args.rounds or (1 if args.quick else 3), fail_rate=args.fail_rate,
                      delay_ms=args.delay_ms, log=lambda s: print(s, flush=True))
    print()
    print(report(figures))


if __name__ == "__main__":
    main()
