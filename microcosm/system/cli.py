"""The whole system from a terminal, for demos outside notebooks: `python -m microcosm up|status|down`.

    python -m microcosm up                      # starts it, prints the table and links, runs until Ctrl-C
    python -m microcosm up --detach             # the same in the background: returns once it is up
    python -m microcosm status                  # from any terminal: what runs, pids, RSS
    python -m microcosm down                    # from any terminal: stops it all
    python -m microcosm up --only gateway --scale catalog=3     # a part of it, or other counts
    python -m microcosm up --topology shop.py:SHOP              # your own Topology

(`microcosm up|status|down` is the same command: pyproject.toml installs it as a console script.)

Why a process stays in the foreground: every process microcosm starts dies with the process that started it
(PR_SET_PDEATHSIG, runtime/guard.py): that is what keeps a killed kernel from leaving orphans. So the system
needs a parent that lives as long as the system: `up` *is* that parent, a small supervisor that calls
`microcosm.up()`, writes a state file and waits. Ctrl-C (SIGINT) or SIGTERM makes it call `microcosm.down()`
and exit; if it is killed outright (SIGKILL), Linux's parent-death signal takes every process with it. Nothing
is left behind either way. `--detach` starts the same supervisor in a session of its own (so closing the
terminal does not stop it) and returns once the state file says it is up.

`status` and `down` find the supervisor through the state file (default: `system.json` in microcosm's runs
folder, /tmp/microcosm-$USER/; `--state FILE` or MICROCOSM_STATE for another): its pid and the instances'
names, URLs and pids. `down` sends the supervisor SIGTERM and waits until it and every instance are gone.
A state file whose supervisor is dead is stale: it is removed and the system counts as down.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..runtime.paths import runs_root
from ..runtime.process import tail
from ..runtime.procfs import rss_mb
from ..testing import gone, wait_until
from .handle import SystemTable

STATE_ENV = "MICROCOSM_STATE"


def default_state() -> Path:
    return Path(os.environ.get(STATE_ENV) or runs_root() / "system.json")


def read_state(path: Path) -> dict | None:
    """The supervisor's state, or None when there is none or its supervisor is gone (the stale file removed)."""
    try:
        state = json.loads(path.read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if gone(pid):
        path.unlink(missing_ok=True)
        return None
    return state


def write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(state, indent=1))
    os.replace(temporary, path)  # a reader sees the old file or the new one, never half of one


def table_of(state: dict) -> SystemTable:
    """The state file's instances, with what /proc says about them now."""
    rows = []
    for r in state.get("instances", []):
        pid = r.get("pid")
        running = r.get("status") == "attached" or (pid is not None and not gone(pid))
        rows.append({**r, "rss_mb": rss_mb(pid) if pid else None,
                     "status": r.get("status") if r.get("status") == "attached" else "running" if running else "gone"})
    return SystemTable(rows, state.get("start_seconds"))


# --- the topology the command line asks for ----------------------------------------------------------------------
def topology_from(args):
    from .bring_up import as_topology

    if args.topology:
        from ..services.loader import load_object

        topology = as_topology(load_object(args.topology))
    else:
        topology = as_topology(None)
    if args.only:
        topology = topology.only(*args.only)
    if args.scale:
        counts = {}
        for item in args.scale:
            name, _, count = item.partition("=")
            if not count.isdigit():
                raise SystemExit(f"--scale takes NAME=COUNT (catalog=3), got {item!r}")
            counts[name.replace("-", "_")] = int(count)
        topology = topology.scaled(**counts)
    return topology


# --- up --------------------------------------------------------------------------------------------------------
def already_up(path: Path, out) -> bool:
    """A supervisor runs already: say so and show what it runs (a second `up` starts nothing)."""
    running = read_state(path)
    if running is not None:
        out(f"microcosm is already up (supervisor pid {running['pid']}):")
        out(repr(table_of(running)))
    return running is not None


def _stop_on_sigterm(*_):
    raise KeyboardInterrupt  # the same way out as Ctrl-C: up() stops what it started, or down() runs


def supervise(args, out=print) -> int:
    """Run the system in this process until SIGINT or SIGTERM; the state file says where it is meanwhile."""
    from .bring_up import SystemStartError, down, up
    from .topology import TopologyError

    path = Path(args.state)
    if already_up(path, out):
        return 0
    try:
        topology = topology_from(args)
    except TopologyError as error:
        out(f"error: {error}")
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C stops it even where it was started with SIGINT ignored (a background job of a script inherits that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    write_state(path, {"pid": os.getpid(), "phase": "starting", "started_at": time.time()})
    try:
        try:
            system = up(topology)
        except SystemStartError as error:
            out(f"error: {error}")
            return 1
        rows = [{k: v for k, v in r.items() if k != "rss_mb"} for r in system.rows()]
        write_state(path, {"pid": os.getpid(), "phase": "up", "started_at": time.time(),
                           "start_seconds": system.start_seconds, "instances": rows})
        out(repr(system))
        front = next((system[name] for name in ("cdn", "web") if name in system), None)
        if front is not None:
            out(f"\nThe web shop: {(front[0] if isinstance(front, list) else front).link}")
        out(f"\nmicrocosm is up (supervisor pid {os.getpid()}). Ctrl-C here, or `python -m microcosm down` "
            f"from another terminal, stops it.")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out("stopping ...")
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the clean-up short
        down()
        if (read_state(path) or {}).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
        out("microcosm is down.")


def detach(args, argv: list[str], out=print, timeout: float = 120.0) -> int:
    """Start the supervisor in a session of its own and return once it is up (or has failed)."""
    path = Path(args.state)
    if already_up(path, out):
        return 0
    log = path.with_suffix(".log")
    path.parent.mkdir(parents=True, exist_ok=True)
    child_argv = [a for a in argv if a != "--detach"]
    with open(log, "wb") as output:
        child = subprocess.Popen([sys.executable, "-m", "microcosm", *child_argv, "--state", str(path)],
                                 stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    ready = wait_until(lambda: child.poll() is not None or (read_state(path) or {}).get("phase") == "up",
                       timeout=timeout, every=0.1)
    state = read_state(path)
    if child.poll() is not None or not ready or state is None or state.get("pid") != child.pid:
        if child.poll() is None:
            child.terminate()
        out(f"microcosm did not come up; its supervisor's output ({log}):\n{tail(log, 40)}")
        return 1
    out(repr(table_of(state)))
    out(f"\nmicrocosm is up in the background (supervisor pid {child.pid}, output in {log}). "
        f"`python -m microcosm down` stops it.")
    return 0


# --- status and down -------------------------------------------------------------------------------------------
def status(args, out=print) -> int:
    state = read_state(Path(args.state))
    if state is None:
        out("microcosm is not up.")
        return 3  # like `systemctl status` of a unit that is not running
    if state.get("phase") != "up":
        out(f"microcosm is starting (supervisor pid {state['pid']}).")
        return 0
    out(f"microcosm is up (supervisor pid {state['pid']}):")
    out(repr(table_of(state)))
    return 0


def stop(args, out=print, timeout: float = 20.0) -> int:
    path = Path(args.state)
    state = read_state(path)
    if state is None:
        out("microcosm is not up: nothing to stop.")
        return 0
    pid = int(state["pid"])
    pids = [pid] + [r["pid"] for r in state.get("instances", []) if r.get("pid")]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not wait_until(lambda: all(gone(p) for p in pids), timeout=timeout, every=0.1):
        for p in pids:  # the supervisor did not finish its clean-up in time: end it; its children die with it
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: all(gone(p) for p in pids), timeout=5)
    path.unlink(missing_ok=True)
    out(f"microcosm is down ({len(pids) - 1} processes and their supervisor stopped).")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m microcosm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("up", "status", "down"))
    p.add_argument("--state", default=str(default_state()), help="the state file (default: %(default)s)")
    p.add_argument("--detach", action="store_true", help="up: run in the background, return once it is up")
    p.add_argument("--only", nargs="+", metavar="NAME", help="up: these components and what they need")
    p.add_argument("--scale", nargs="+", metavar="NAME=N", help="up: other instance counts (catalog=3)")
    p.add_argument("--topology", metavar="FILE.py:NAME", help="up: your own Topology instead of the whole system")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.command == "up":
        return detach(args, argv) if args.detach else supervise(args)
    return status(args) if args.command == "status" else stop(args)
