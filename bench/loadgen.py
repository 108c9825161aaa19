"""HTTP load for the benches, always from a separate process: `wrk` if installed, else a Python fallback.

    python bench/loadgen.py http://127.0.0.1:PORT/health --connections 16 --duration 5

prints one JSON line: {"tool", "requests", "errors", "seconds", "rps", "p50_ms", "p99_ms"}.

The Python fallback runs several processes, each with a few threads, each thread holding one keep-alive
`http.client` connection (reopened when the server closes it, as gunicorn's sync workers do after every
response). It needs far more CPU per request than wrk, so on a small machine it takes more of the cores
away from the server it measures: compare figures only within one run and one load generator.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import percentile  # noqa: E402


def paced_latency(url: str, path="/", *, rate: float = 100, seconds: float = 5,
                  headers: dict | None = None) -> dict:
    """One keep-alive connection, one request every 1/rate s: latency when nothing queues. `path` is a path, or
    a function of the request's number (1, 2, ...) giving its path (a new URL each time: cache misses)."""
    return interleaved_latency({"": (url, path, headers)}, rate=rate, seconds=seconds)[""]


def interleaved_latency(targets: dict, *, rate: float = 100, seconds: float = 5) -> dict:
    """paced_latency for several targets {name: (url, path, headers)} at once: a keep-alive connection to each,
    one request every 1/rate s to each target in turn, `seconds` per target in all. Every target is measured
    over the same moments, so what else runs on the machine weighs on all of them alike. {name: figures}."""
    conns, latencies, errors = {}, {name: [] for name in targets}, dict.fromkeys(targets, 0)
    for name, (url, _, _) in targets.items():
        host, port = url.split("//", 1)[1].split(":")
        conns[name] = http.client.HTTPConnection(host, int(port), timeout=5)
    gap, next_at = 1 / rate, time.perf_counter()
    end = next_at + seconds * len(targets)
    n = 0
    while next_at < end:
        n += 1
        for name, (_, path, headers) in targets.items():
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += gap
            t0 = time.perf_counter()
            try:
                conns[name].request("GET", path(n) if callable(path) else path, headers=headers or {})
                answer = conns[name].getresponse()
                answer.read()
                errors[name] += answer.status != 200
            except (OSError, http.client.HTTPException):
                errors[name] += 1
                conns[name].close()
                continue
            latencies[name].append((time.perf_counter() - t0) * 1000)
    out = {}
    for name, values in latencies.items():
        conns[name].close()
        values.sort()
        out[name] = {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99), "n": len(values),
                     "errors": errors[name]}
    return out


# --- wrk -------------------------------------------------------------------------------------------
def _wrk_time_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, connections: int, duration: float, threads: int = 2, headers: dict | None = None,
            script: str | None = None) -> dict:
    """wrk's figures; `script`: a wrk Lua script's path (e.g. a `request` function giving each request a new URL)."""
    argv = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--latency", "--timeout", "5s", url] + (["-s", script] if script else [])
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    found = {q: _wrk_time_ms(v) for q, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if not total or "50" not in found:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    requests_done = int(total.group(1))
    seconds = _wrk_time_ms(total.group(2) + total.group(3)) / 1000
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return {"tool": f"wrk -t{min(threads, connections)} -c{connections}", "requests": requests_done,
            "errors": errors, "seconds": seconds, "rps": requests_done / seconds,
            "p50_ms": found["50"], "p99_ms": found.get("99", float("nan"))}


# --- Python fallback -------------------------------------------------------------------------------
def _client_process(host: str, port: int, path: str, threads: int, start_at: float, deadline: float, out,
                    headers: dict | None = None) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=5)
        mine, bad = [], 0
        time.sleep(max(0.0, start_at - time.time()))  # all connections start together
        while time.time() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers or {})
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    bad += 1
                if response.will_close:
                    conn.close()  # the next request() reconnects
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                continue
            mine.append((time.perf_counter() - t0) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def run_python(url: str, connections: int, duration: float, processes: int = 4, headers: dict | None = None) -> dict:
    parts = urlsplit(url)
    processes = max(1, min(processes, connections))
    per = [connections // processes + (i < connections % processes) for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 1.0  # every process gets going before the clock starts (spawn takes a moment)
    deadline = start_at + duration
    procs = [ctx.Process(target=_client_process, args=(parts.hostname, parts.port, parts.path or "/", n, start_at, deadline, out, headers))
             for n in per]
    for p in procs:
        p.start()
    results = [out.get(timeout=duration + 60) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    return {"tool": f"python ({processes} processes x {max(per)} threads, http.client keep-alive)",
            "requests": len(latencies), "errors": errors, "seconds": duration, "rps": len(latencies) / duration,
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


def available(prefer: str = "auto") -> str:
    if prefer == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if prefer == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk); use --loadgen python")
    return prefer


def run(url: str, connections: int, duration: float, tool: str = "auto", headers: dict | None = None) -> dict:
    """Load `url` from a separate process and return the figures (see module doc). `headers` go on every request."""
    argv = [sys.executable, __file__, url, "--connections", str(connections), "--duration", str(duration),
            "--tool", available(tool)]
    for name, value in (headers or {}).items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--header", action="append", default=[], help="'Name: value', sent with every request")
    args = p.parse_args(argv)
    tool = available(args.tool)
    headers = dict(h.split(": ", 1) for h in args.header)
    result = (run_wrk if tool == "wrk" else run_python)(args.url, args.connections, args.duration, headers=headers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
