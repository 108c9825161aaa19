"""Run every microcosm benchmark and print one report (Markdown, so it pastes into bench/RESULTS.md).

    .venv/bin/python bench/run.py            # the full run: about 15 minutes on 2 cores
    .venv/bin/python bench/run.py --quick    # a short run: about 3 minutes
    .venv/bin/python bench/run.py --only wsgi --only launch    # bench/RESULTS.md's WSGI and launch tables
    .venv/bin/python bench/run.py --only wsgi --loadgen python
    .venv/bin/python bench/run.py --only memory    # each service process's RSS/PSS and heavy imports
    .venv/bin/python bench/run.py --only system    # the whole system (microcosm.up()): its RSS/PSS and start time
    .venv/bin/python bench/run.py --only retries   # a retry storm: load amplification by retry style (chapter 09)
    .venv/bin/python bench/run.py --only cdn       # the edge vs nginx proxy_cache, and RFC 9111 probes (chapter 10)
    .venv/bin/python bench/run.py --only chain     # edge (miss) -> gateway -> balancer -> catalog vs direct (issue 17)

Benchmarks print figures; they are never tests and assert nothing (pytest does not collect bench/).
Run them on a quiet machine: the "other cores" column of the WSGI table shows how much else was running.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import launch_time  # noqa: E402
import wsgi_servers  # noqa: E402
from common import machine_line  # noqa: E402

BENCHES = ("wsgi", "launch", "hops", "balancer", "gateway", "identity", "memory", "lock", "coordination", "retries",
           "cdn", "chain", "system")  # in the order they run


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs, one round: a smoke run, noisy figures")
    p.add_argument("--only", choices=BENCHES, action="append", help="run only this bench (repeatable)")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator for the WSGI bench (auto: wrk if installed, else Python)")
    p.add_argument("--duration", type=float, help="seconds per load run (default 5, --quick 2)")
    p.add_argument("--rounds", type=int, help="interleaved rounds per server (default 3, --quick 1)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--quiet-wait", type=float, help="wait up to S s for an idle machine before each run "
                                                      "(default 10, --quick 0)")
    args = p.parse_args(argv)
    only = args.only or list(BENCHES)
    say = lambda s: print(s, flush=True)  # noqa: E731
    started = time.perf_counter()
    say(f"# microcosm bench{' (quick)' if args.quick else ''}\n\n{machine_line()}\n")
    sections = []
    if "wsgi" in only:
        say("WSGI servers ...")
        figures = wsgi_servers.measure(
            duration=args.duration or (2.0 if args.quick else 5.0),
            connections=args.connections,
            rounds=args.rounds or (1 if args.quick else 3),
            tool=args.loadgen,
            quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
            log=say)
        sections.append(wsgi_servers.report(figures))
    if "launch" in only:
        say("launch time ...")
        figures = launch_time.measure(repeat=3 if args.quick else 7, infra_repeat=1 if args.quick else 3, log=say)
        sections.append(launch_time.report(figures))
    duration = args.duration or (2.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    if "hops" in only:
        import hop_recording

        say("hop recording ...")
        figures = hop_recording.measure(duration=duration, rounds=rounds, tool=args.loadgen, log=say)
        sections.append(hop_recording.report(figures))
    if "balancer" in only:
        import balancer_vs_nginx

        if not os.path.exists(balancer_vs_nginx.NGINX):
            sections.append(f"### Balancer vs nginx\n\nskipped: {balancer_vs_nginx.NGINX} is not installed")
        else:
            say("balancer vs nginx ...")
            figures = balancer_vs_nginx.measure(
                duration=duration, rounds=rounds, connections=args.connections, tool=args.loadgen,
                quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
                latency_seconds=2.0 if args.quick else 5.0, log=say)
            sections.append(balancer_vs_nginx.report(figures))
    if "gateway" in only:
        import gateway_overhead

        say("gateway overhead ...")
        figures = gateway_overhead.measure(
            duration=duration, rounds=rounds, connections=args.connections, tool=args.loadgen,
            quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0), log=say)
        sections.append(gateway_overhead.report(figures))
    if "identity" in only:
        import identity_tokens

        say("identity provider steps (printed as they come) ...")
        identity_tokens.main(["--seconds", "1" if args.quick else "3"])
    if "memory" in only:
        import process_memory

        say("memory of each service process ...")
        sections.append(process_memory.report(process_memory.measure(log=say)))
    if "system" in only:
        import system_memory

        say("the whole system: memory and start time ...")
        sections.append(system_memory.report(system_memory.measure(rounds=1 if args.quick else 3, log=say)))
    if "lock" in only:
        import coordination_lock

        say("distributed lock and the ZooKeeper ensemble ...")
        figures = coordination_lock.measure(seconds=duration, rounds=rounds, log=say)
        sections.append(coordination_lock.report(figures))
    if "coordination" in only:
        import coordination

        say("leader failover and config propagation against ZooKeeper's own expiry and watches (printed as they come) ...")
        coordination.main(["--rounds", "1" if args.quick else "3"])
    if "retries" in only:
        import client_retries

        say("retry storm against a struggling catalog ...")
        for scenario in client_retries.SCENARIOS:
            figures = client_retries.measure(scenario, requests=15 if args.quick else 40, rounds=rounds, log=say)
            sections.append(client_retries.report(figures))
    if "cdn" in only:
        import cdn_vs_nginx

        if not os.path.exists(cdn_vs_nginx.NGINX):
            sections.append(f"### CDN edge vs nginx\n\nskipped: {cdn_vs_nginx.NGINX} is not installed")
        else:
            say("CDN edge vs nginx proxy_cache, then the RFC 9111 probes ...")
            figures = cdn_vs_nginx.measure(
                duration=duration, rounds=rounds, connections=args.connections, tool=args.loadgen,
                quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
                miss_seconds=2.0 if args.quick else 5.0, log=say)
            sections += [cdn_vs_nginx.report(figures), cdn_vs_nginx.conformance_section(log=say)]
    if "chain" in only:
        import full_chain

        say("the full chain: edge (miss) -> gateway -> balancer -> catalog, vs catalog direct ...")
        figures = full_chain.measure(
            duration=duration, rounds=rounds, connections=args.connections, tool=args.loadgen,
            quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
            knee=(1, 4, 16) if args.quick else (1, 2, 4, 8, 16, 32, 64), log=say)
        sections.append(full_chain.report(figures))
    say("")
    say("\n\n".join(sections))
    say(f"\nfinished {machine_line()}; the bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
