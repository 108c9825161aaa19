"""Our load balancer vs nginx, in front of the same two catalog instances, side by side in one run.

    python bench/balancer_vs_nginx.py [--quick] [--duration S] [--rounds N] [--connections C] [--baseline-ref REV]

Two catalog instances (waitress, 8 threads, one shared SQLite file) are the backends. In front of them:
Debian's nginx (/usr/sbin/nginx, started here on a free loopback port with a generated config, `daemon off`,
its own temp prefix, an upstream with keep-alive connections; stopped at the end) and microcosm's balancer
(round robin). Each is loaded with `GET /products/1` from wrk (or the Python load generator) with C
keep-alive connections, taking turns over N rounds; the table gives the median over rounds.

Then the latency one hop adds at low load: a connection to each target, one request every 10 ms to each in
turn (so neither the backends nor the proxies queue, and every target is measured over the same moments),
direct to a catalog instance vs through nginx vs through ours: p50 and p99, and the difference to direct.

The row `fast_path=False` is today's balancer with its fast path turned off (every request the ordinary aiohttp
way: balancer/fastpath.py), in the same rounds; the row `relay=False` has the fast path without its callbacks
(each plain request proxied by the connection's task through the coroutines, as before balancer/relay.py).

With `--baseline-ref REV`, the balancer as it was at commit REV (bench/baseline.py) runs in the same rounds, so
the change is measured side by side rather than against a figure from another day.

Two floors run in the same rounds (bench/bare_asyncio.py, on uvloop like the balancer): aiohttp's low-level
server answering every request itself, and a bare asyncio.Protocol doing the same. They proxy nothing, so
their req/s is not a proxy's; their CPU per request is what a server of that kind costs before any proxying.

Every process runs with traffic recording off (`traffic=False`: no hop records to Redis) and neither proxy
writes an access log, so the proxies' own work is what is compared (`--access-log`: our balancers write theirs,
as a notebook launches them, to see what the log costs against the baseline's). With `--as-notebook`, two more rows
of today's balancer: hop records on (`traffic=True`, to this kernel's Redis, as a notebook launches it) with its
access log off, and both on (a notebook's defaults); against the row with both off, in the same rounds.
Figures, not tests: nothing asserts.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline  # noqa: E402
import loadgen  # noqa: E402
from common import CpuMeter, fmt, load_options, machine_line, median, table, wait_quiet  # noqa: E402
from floor import Floor  # noqa: E402

import microcosm  # noqa: E402
from microcosm.runtime.nginx import NGINX, Nginx  # noqa: E402,F401 - bench/run.py reads NGINX from here

PATH = "/products/1"


def measure(duration=5.0, rounds=3, connections=16, tool="auto", quiet_wait=10.0, latency_seconds=5.0, log=print,
            baseline_ref=None, access_log=False, as_notebook=False):
    data_dir = tempfile.mkdtemp(prefix="microcosm-bench-catalog-")
    started = []
    nginx = None
    old_code = baseline.checkout(baseline_ref) if baseline_ref else None
    try:
        backends = [microcosm.launch("catalog", f"bench-catalog-{i}", data_dir=data_dir, traffic=False,
                                     access_log=False) for i in (1, 2)]
        started += backends
        ours = microcosm.launch("balancer", "bench-balancer", upstream="catalog",
                                backends=[b.url for b in backends], traffic=False, access_log=access_log)
        started.append(ours)
        slow = microcosm.launch("balancer", "bench-balancer-ordinary", upstream="catalog", fast_path=False,
                                backends=[b.url for b in backends], traffic=False, access_log=access_log)
        started.append(slow)
        tasked = microcosm.launch("balancer", "bench-balancer-tasked", upstream="catalog", relay=False,
                                  backends=[b.url for b in backends], traffic=False, access_log=access_log)
        started.append(tasked)
        nginx = Nginx([b.url for b in backends])
        targets = {"nginx": nginx, "microcosm balancer": ours, "microcosm balancer, relay=False": tasked,
                   "microcosm balancer, fast_path=False": slow}
        if as_notebook:  # hop records to Redis (the kernel's: launch starts it), then the access log as well
            for label, log_on in (("hops on", False), ("hops + access log on", True)):
                started.append(microcosm.launch("balancer", f"bench-balancer-{len(started)}", upstream="catalog",
                                                backends=[b.url for b in backends], access_log=log_on))
                targets[f"microcosm balancer, {label}"] = started[-1]
        if old_code is not None:
            old = baseline.launch(old_code.__enter__(), "balancer", "bench-balancer-baseline", upstream="catalog",
                                  backends=[b.url for b in backends], traffic=False, access_log=access_log)
            started.append(old)
            targets[f"microcosm balancer ({baseline.label(baseline_ref)})"] = old
        for name, option in (("floor: aiohttp server, no proxying", "--aiohttp"),
                             ("floor: bare asyncio protocol, no proxying", "--protocol")):
            started.append(Floor("bare_asyncio.py", option))
            targets[name] = started[-1]
        for target in targets.values():  # warm up: pools filled, SQLite pages cached
            loadgen.run(target.url + PATH, connections, 1.0, tool)
        runs = {name: [] for name in targets}
        for r in range(rounds):
            for name, target in targets.items():
                wait_quiet(quiet_wait)
                with CpuMeter(target.pid) as cpu:
                    result = loadgen.run(target.url + PATH, connections, duration, tool)
                result["proxy_cores"] = cpu.cores(cpu.server)
                result["cpu_us"] = cpu.server / max(1, result["requests"]) * 1e6
                result["other_cores"] = cpu.cores(cpu.other)
                runs[name].append(result)
                log(f"  round {r + 1}: {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms, errors {result['errors']}")
        throughput = {name: {key: median([x[key] for x in rs]) for key in
                             ("rps", "p50_ms", "p99_ms", "proxy_cores", "cpu_us", "other_cores")} | {
                             "errors": sum(x["errors"] for x in rs), "tool": rs[0]["tool"]}
                      for name, rs in runs.items()}
        wait_quiet(quiet_wait)  # every target in turn, so that all of them share the same moments of the machine
        latency = loadgen.interleaved_latency({name: (url, PATH, None) for name, url in
                                               [("direct (catalog-1)", backends[0].url)]
                                               + [(n, t.url) for n, t in targets.items()]},
                                              rate=100, seconds=latency_seconds)
        for name, x in latency.items():
            log(f"  low load: {name}: p50 {x['p50_ms']:.2f} ms, p99 {x['p99_ms']:.2f} ms")
        return {"throughput": throughput, "latency": latency, "duration": duration, "rounds": rounds,
                "connections": connections}
    finally:
        if nginx is not None:
            nginx.stop()
        for s in reversed(started):
            s.stop()
            s.forget()
        shutil.rmtree(data_dir, ignore_errors=True)
        if old_code is not None:
            old_code.__exit__(None, None, None)


def report(f: dict) -> str:
    t, lat = f["throughput"], f["latency"]
    ng, us = t["nginx"], t["microcosm balancer"]
    rows = [[name, fmt(x["rps"], 0), fmt(x["rps"] / ng["rps"], 2), fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2),
             fmt(x["p99_ms"] / ng["p99_ms"], 2), fmt(x["proxy_cores"], 2), fmt(x["cpu_us"], 0),
             fmt(x["cpu_us"] / ng["cpu_us"], 2), fmt(x["other_cores"], 2), x["errors"]] for name, x in t.items()]
    rps_ratio, p99_ratio, cpu_ratio = us["rps"] / ng["rps"], us["p99_ms"] / ng["p99_ms"], us["cpu_us"] / ng["cpu_us"]
    direct = lat["direct (catalog-1)"]
    lat_rows = [[name, fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2),
                 fmt(x["p50_ms"] - direct["p50_ms"], 2) if x is not direct else "",
                 fmt(x["p99_ms"] - direct["p99_ms"], 2) if x is not direct else "", x["errors"]]
                for name, x in lat.items()]
    lines = [
        f"## Load balancer vs nginx (2 catalog backends, GET {PATH})\n",
        f"{us['tool']}, {f['duration']:g} s per run, median of {f['rounds']} interleaved rounds; "
        f"'proxy cores': CPU the proxy itself used, and per request ('CPU us/req'); 'other': everything else on "
        f"the machine that was not the proxy, the load generator or this script (the backends included).\n",
        table(["proxy", "req/s", "vs nginx", "p50 ms", "p99 ms", "p99 vs nginx", "proxy cores", "CPU us/req",
               "CPU vs nginx", "other cores", "errors"], rows),
        "",
        f"**throughput: {rps_ratio:.2f} of nginx's** (goal: at least 0.8); **CPU per request: {cpu_ratio:.2f}x "
        f"nginx's** (goal: at most 2x); **p99: {p99_ratio:.2f}x nginx's** (goal: at most 1.5x)\n",
    ]
    for name, x in t.items():
        if name.startswith("microcosm balancer ("):
            lines.append(f"**now vs {name[len('microcosm balancer '):]}, same run: {us['rps'] / x['rps']:.2f}x the "
                         f"throughput, {us['cpu_us'] / x['cpu_us']:.2f}x the CPU per request, p99 "
                         f"{us['p99_ms'] / x['p99_ms']:.2f}x**\n")
        if name.startswith("microcosm balancer, hops"):
            lines.append(f"**{name[len('microcosm balancer, '):]} vs both off, same run: {x['rps'] / us['rps']:.2f}x the "
                         f"throughput, {x['cpu_us'] / us['cpu_us']:.2f}x the CPU per request, p99 "
                         f"{x['p99_ms'] / us['p99_ms']:.2f}x**\n")
    lines += ["Latency one hop adds at low load (a connection to each target, one request every 10 ms to each in turn):\n",
              table(["path", "p50 ms", "p99 ms", "+p50 ms vs direct", "+p99 ms vs direct", "errors"], lat_rows)]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = load_options(__doc__)
    p.add_argument("--baseline-ref", help="also run our balancer from this commit's code, in the same rounds")
    p.add_argument("--as-notebook", action="store_true",
                   help="two more rows: today's balancer with hop records on, and with hop records and access log on")
    p.add_argument("--access-log", action="store_true",
                   help="every microcosm balancer writes its access log, as a notebook launches it (nginx does not)")
    args = p.parse_args(argv)
    print(f"# balancer vs nginx{' (quick)' if args.quick else ''}\n\n{machine_line()}\n", flush=True)
    figures = measure(duration=args.duration or (2.0 if args.quick else 5.0),
                      rounds=args.rounds or (1 if args.quick else 3), connections=args.connections,
                      tool=args.loadgen,
                      quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 10.0),
                      latency_seconds=2.0 if args.quick else 5.0,
                      log=lambda s: print(s, flush=True), baseline_ref=args.baseline_ref,
                      access_log=args.access_log, as_notebook=args.as_notebook)
    print()
    print(report(figures))


if __name__ == "__main__":
    main()
