"""A retry storm: what retries cost a struggling service, by retry style (chapter 09's figures).

    python bench/client_retries.py [--quick] [--scenario flaky|overload] [--rounds 3] [--requests 40]

One catalog process, launched for real, made to struggle with its chaos route, in two scenarios (SCENARIOS):

    flaky      half the requests fail (503) at random, whatever the load: each retry is a fresh coin toss
    overload   no request fails, but each takes 50 ms on 8 waitress threads (160 requests/s at most) and the
               callers give up after 150 ms; a request given up on is still served, so every retry is extra
               work for a server that is already late: the storm feeds itself. 24 clients are just past the
               knee (24 x 50 ms / 8 threads = 150 ms, the timeout): even the baseline mostly times out. With 22
               (--clients 22) every style still succeeds and nothing storms: the knee is sharp

Client threads, each its own `Client` (microcosm/clients), each send `--requests` GETs of a product, in four
styles, one after the other, in the same run (the baseline first in each round); the fleet, the styles and the
scenarios are microcosm/clients/storm.py, which chapter 09 runs too:

    (a) none      NoRetry: each request sent once (the baseline)
    (b) naive     NoBackoff: a failure retried at once, up to 3 times, no budget
    (c) jitter    JitteredBackoff: capped exponential backoff with full jitter, up to 3 retries, no budget
    (d) budget    jitter as in (c) plus a RetryBudget (10 % of requests, burst 3) per client

No breaker in any style (this bench is about retries). For each style it prints load amplification (the
requests catalog's own /metrics counted, once it has served everything, / the requests the clients made), the
share of requests that ended with a 200, and p50/p99 of what a caller waited for a request (all its attempts
and waits), each also as a ratio against (a) in the same round; with several rounds, the median and range.

Figures, not tests. On 2 cores the clients and catalog share the CPU: compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fmt, machine_line, median, table  # noqa: E402

import microcosm  # noqa: E402
from microcosm.clients.storm import SCENARIOS, STYLES, storm  # noqa: E402  the scenario, shared with chapter 09


def measure(scenario: str = "flaky", requests: int = 40, rounds: int = 1, log=print, **override) -> dict:
    """Every style against `scenario` (SCENARIOS; `override` changes its clients, fail_rate, delay_ms or
    read_timeout), `rounds` times, the baseline first in each round."""
    settings = {**SCENARIOS[scenario], **{k: v for k, v in override.items() if v is not None}}
    clients, fail_rate, delay_ms, read_timeout = (settings[k] for k in ("clients", "fail_rate", "delay_ms",
                                                                         "read_timeout"))
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
                fig = storm(catalog, style, clients, requests, read_timeout)
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
    return {"runs": runs, "scenario": scenario, "requests": requests, "rounds": rounds, **settings}


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
    head = (f"### Retry storm, {figures['scenario']} (clients, chapter 09)\n\n{figures['about']}: "
            f"{figures['clients']} client threads x {figures['requests']} GETs each; catalog fails "
            f"{figures['fail_rate']:.0%} of requests and waits {figures['delay_ms']} ms in each, attempts time out "
            f"after {figures['read_timeout']:g} s; {figures['rounds']} round(s), median (min–max); x = ratio against "
            f"(a) in the same round. Amplification = requests catalog's /metrics counted / requests the clients made.\n\n")
    return head + table(["style", "amplification", "x", "success", "x", "p50 ms", "x", "p99 ms", "x"], rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--scenario", choices=SCENARIOS, action="append", help="default: every one")
    p.add_argument("--clients", type=int, help="client threads (default: the scenario's)")
    p.add_argument("--requests", type=int, help="requests per client (default 40, --quick 15)")
    p.add_argument("--rounds", type=int, help="rounds (default 3, --quick 1)")
    p.add_argument("--fail-rate", type=float)
    p.add_argument("--delay-ms", type=int)
    p.add_argument("--read-timeout", type=float, help="each attempt's read timeout (s)")
    args = p.parse_args(argv)
    print(machine_line(), flush=True)
    reports = []
    for scenario in args.scenario or list(SCENARIOS):
        print(f"{scenario} ...", flush=True)
        figures = measure(scenario, requests=args.requests or (15 if args.quick else 40),
                          rounds=args.rounds or (1 if args.quick else 3), log=lambda s: print(s, flush=True),
                          clients=args.clients, fail_rate=args.fail_rate, delay_ms=args.delay_ms,
                          read_timeout=args.read_timeout)
        reports.append(report(figures))
    print()
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
