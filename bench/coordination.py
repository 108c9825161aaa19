"""What coordination costs in time: failover after a leader dies, and a config change reaching every instance.

    .venv/bin/python bench/coordination.py [--rounds 3] [--timeouts 2 4] [--writes 100]

On a private ZooKeeper (the kernel's settings: tickTime 500 ms), side by side, round after round:
- **failover**: three reporters (session timeout T) and a journal; the leader is SIGKILLed and the clock runs
  until a survivor's /status says it leads (polled every 10 ms), and until the new leader's first batch is in
  the journal. The baseline, in the same rounds: a bare kazoo process holding one ephemeral node, SIGKILLed,
  and the time until a watcher in this process sees the node deleted: ZooKeeper's own session expiry, the floor
  under any failover built on it. Both are also given against T itself. (The server counts a session's timeout
  from the last message it heard, a ping every third of T when idle, not from the kill: a failover can take
  less than T, by up to a third of it, and up to a tick more than T.)
- **config propagation**: a cell-side `config.write(...)` to the three reporters' group, and the time until the
  last of them has applied it (each instance records when it applied a change: no polling in the figure).
  The baseline: kazoo alone, one client writes a node and three other clients in this process have a DataWatch
  on it; the time until the last watch fires. That is ZooKeeper's watch latency.
Prints Markdown tables with medians, ranges and ratios against the baselines measured in the same run; asserts
nothing.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import microcosm  # noqa: E402
from common import machine_line, table  # noqa: E402
from microcosm.coordination import config as live  # noqa: E402
from microcosm.coordination.membership import connect  # noqa: E402
from microcosm.runtime.infra import ZooKeeperServer  # noqa: E402


def hold(hosts: str, path: str, timeout: float) -> None:
    """The baseline's process: one kazoo session holding one ephemeral node, until it is killed."""
    zk = connect(hosts, timeout)
    zk.create(path, b"", ephemeral=True, makepath=True)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def bare_expiry(hosts: str, zk, timeout: float) -> float:
    """Seconds from SIGKILL of a process holding an ephemeral node to a watcher seeing the node deleted."""
    path = f"/bench/hold-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--hold", hosts, path, str(timeout)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        gone = threading.Event()
        if zk.exists(path, watch=lambda event: gone.set()) is None:
            raise RuntimeError("the holder's node is not there")
        # the server's clock for the session starts at the last thing it heard (the create, just now, or a
        # ping: kazoo pings every third of the timeout); kill at a random point of that cycle, as a crash would
        time.sleep(timeout / 3 + random.uniform(0, timeout / 3))
        killed = time.perf_counter()
        proc.kill()
        gone.wait(60)
        return time.perf_counter() - killed
    finally:
        proc.kill()
        proc.wait(10)


def status(reporter) -> dict:
    return reporter.get("/status", timeout=2).json()


def reporter_failover(reporters, journal) -> tuple[float, float]:
    """SIGKILL the leader; seconds until a survivor says it leads, and until its first batch is written."""
    leader = next(r for r in reporters if status(r)["leader"])
    survivors = [r for r in reporters if r is not leader]
    killed = time.perf_counter()
    last_batch = journal.get("/summary").json()["last_batch"]
    leader.kill()
    new = None
    while new is None:
        new = next((r for r in survivors if status(r)["leader"]), None)
        time.sleep(0.01) if new is None else None
    elected = time.perf_counter() - killed
    while not any(b["writer"] == new.name and b["batch"] > last_batch for b in
                  journal.get("/batches", params={"after": 0, "limit": 1000}).json()["batches"][-20:]):
        time.sleep(0.01)
    written = time.perf_counter() - killed
    leader.restart()  # back into the group, at the back of the queue, for the next round
    return elected, written


def kazoo_watch_latency(hosts: str, writes: int) -> list[float]:
    """Seconds from a write to the last of three other clients' DataWatch firing, `writes` times."""
    writer, watchers = connect(hosts, 10), [connect(hosts, 10) for _ in range(3)]
    path = f"/bench/watch-{uuid.uuid4().hex[:8]}"
    writer.create(path, b"0", makepath=True)
    seen = [threading.Event() for _ in watchers]
    expected = {"value": b"0"}
    for zk, event in zip(watchers, seen):
        zk.DataWatch(path, lambda data, stat, _event=None, done=event: done.set() if data == expected["value"] else None)
    out = []
    try:
        for i in range(1, writes + 1):
            for event in seen:
                event.clear()
            expected["value"] = str(i).encode()
            started = time.perf_counter()
            writer.set(path, expected["value"])
            for event in seen:
                event.wait(10)
            out.append(time.perf_counter() - started)
    finally:
        for zk in (writer, *watchers):
            zk.stop()
            zk.close()
    return out


def reporter_propagation(zk, group: str, reporters, i: int) -> float:
    """Seconds from a cell's config write to the last reporter having applied it (their own clocks' record)."""
    started = time.time()
    version = live.write(zk, group, "label", f"round-{i}")
    while True:
        found = [status(r)["config"] for r in reporters]
        if all(c["version"] >= version for c in found):
            return max(c["applied_at"] for c in found) - started
        time.sleep(0.02)


def spread(values: list[float], unit: float = 1.0, digits: int = 2) -> str:
    v = [x * unit for x in values]
    return f"{statistics.median(v):.{digits}f} ({min(v):.{digits}f}-{max(v):.{digits}f})"


def main(argv=None) -> None:
    if argv is None and sys.argv[1:2] == ["--hold"]:
        return hold(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeouts", type=float, nargs="+", default=[2.0, 4.0], help="session timeouts (s)")
    p.add_argument("--writes", type=int, default=100, help="config writes for the propagation figures")
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench-coordination-")
    server = ZooKeeperServer("bench-zookeeper").start()
    zk = connect(server.hosts, 10)
    launched = []
    try:
        print(f"{machine_line()}\n", flush=True)
        rows = []
        crews = {}
        for timeout in args.timeouts:
            group = f"bench{int(timeout * 1000)}"
            journal = microcosm.launch("journal", f"bench-journal-{group}", data_dir=tempfile.mkdtemp(dir=root),
                                       traffic=False, access_log=False)
            reporters = [microcosm.launch("reporter", f"bench-reporter-{i}-{group}", journal_url=journal.url,
                                          zk=server.hosts, group=group, session_timeout=timeout, interval=0.1,
                                          traffic=False, access_log=False) for i in (1, 2, 3)]
            launched += [journal, *reporters]
            crews[timeout] = (group, journal, reporters)
        figures: dict[str, list[float]] = {}
        for _ in range(args.rounds):  # the rows take turns, so a busy spell of the machine hits them all
            for timeout, (group, journal, reporters) in crews.items():
                while not any(status(r)["leader"] for r in reporters):
                    time.sleep(0.05)
                figures.setdefault(f"bare {timeout}", []).append(bare_expiry(server.hosts, zk, timeout))
                elected, written = reporter_failover(reporters, journal)
                figures.setdefault(f"elected {timeout}", []).append(elected)
                figures.setdefault(f"written {timeout}", []).append(written)
        for timeout in args.timeouts:
            bare = statistics.median(figures[f"bare {timeout}"])
            for key, what in ((f"bare {timeout}", "bare kazoo process: its ephemeral node deleted (ZooKeeper's expiry)"),
                              (f"elected {timeout}", "reporters: a survivor says it leads"),
                              (f"written {timeout}", "reporters: the new leader's first batch in the journal")):
                found = statistics.median(figures[key])
                rows.append([f"{timeout:g} s", what, spread(figures[key]), f"{found / timeout:.2f}", f"{found / bare:.2f}"])
        print(f"### Failover after SIGKILL of the leader (median of {args.rounds} rounds, seconds)\n")
        print(table(["session timeout", "until", "s (min-max)", "of the timeout", "of ZooKeeper's expiry"], rows,
                    "llrrr"))
        group, journal, reporters = crews[args.timeouts[0]]
        bare = kazoo_watch_latency(server.hosts, args.writes)
        ours = [reporter_propagation(zk, group, reporters, i) for i in range(args.writes)]
        base = statistics.median(bare)
        print(f"\n### A config write until the last of 3 watchers has it ({args.writes} writes, ms)\n")
        print(table(["watchers", "median (min-max)", "p90", "of kazoo alone"], [
            ["kazoo alone: 3 DataWatch clients in one process", spread(bare, 1000), f"{sorted(bare)[int(.9 * len(bare))] * 1000:.2f}", "1.00"],
            ["3 reporters: applied (checked, in force)", spread(ours, 1000), f"{sorted(ours)[int(.9 * len(ours))] * 1000:.2f}",
             f"{statistics.median(ours) / base:.2f}"]], "lrrr"))
    finally:
        for instance in reversed(launched):
            instance.stop()
            instance.forget()
        zk.stop()
        zk.close()
        server.stop()
        server.forget()


if __name__ == "__main__":
    main()
