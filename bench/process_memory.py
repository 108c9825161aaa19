"""What each service process costs in memory, which heavy libraries it loads, and what the guard loads.

    python bench/process_memory.py                          # this checkout
    python bench/process_memory.py --before /tmp/before     # another checkout side by side (git worktree add)

For each built-in service: launched as a notebook launches it (`microcosm.launch`, hop records on, to this
run's own Redis; the registry last, so no service registers with it, which would load `requests`), its RSS
and PSS once it answers; and, in a fresh interpreter, what `python -m microcosm.serve NAME` imports before it
builds the app (`microcosm.serve` and the service's module): the time, the module count, and the heavy
libraries among them with how many of their modules were loaded. A library a service needs is fine; one it
does not (Locust anywhere, aiohttp outside the balancer, PyJWT and cryptography outside identity and the
gateway) is memory every instance pays for nothing. (redis-py itself imports the top of `cryptography`, two
small modules, to learn whether it could check OCSP: that is the "cryptography(2)" of every hop recorder.)

Then the guard (`python -m microcosm.runtime.guard PID -- binary`, what starts redis-server and java): its
wall time to exec `true`, and what it imported on the way.

Ratios are against catalog, the smallest service. Figures, not tests: nothing here asserts. `--before DIR`
runs the same measurement on the checkout in DIR (each tree in its own interpreter, PYTHONPATH set to it) and
prints the two side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, machine_line, median, table  # noqa: E402

SERVICES = ["catalog", "orders", "carts", "registry", "legacy_stock", "identity", "gateway", "balancer"]
HEAVY = ["locust", "gevent", "aiohttp", "jwt", "cryptography", "argon2", "ipywidgets", "IPython", "kazoo",
         "redis", "requests", "urllib3"]
BASELINE = "catalog"

_IMPORTS = """
import json, sys, time
t = time.perf_counter()
import microcosm.serve, microcosm.services.{name}
ms = (time.perf_counter() - t) * 1000
heavy = {{}}
for m in sys.modules:
    top = m.split(".")[0]
    if top in {heavy!r}:
        heavy[top] = heavy.get(top, 0) + 1
print(json.dumps({{"ms": ms, "modules": len(sys.modules), "heavy": heavy}}))
"""


def _env(tree: str) -> dict:
    return {**os.environ, "PYTHONPATH": tree + os.pathsep + os.environ.get("PYTHONPATH", "")}


def service_imports(tree: str, name: str, repeat: int = 3) -> dict:
    """What a fresh interpreter imports for `python -m microcosm.serve NAME` before it builds the app."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _IMPORTS.format(name=name, heavy=set(HEAVY))], env=_env(tree),
                             cwd=tree, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {**runs[-1], "ms": median([r["ms"] for r in runs])}


def guard_figures(tree: str, repeat: int = 11) -> dict:
    """The guard's wall time to become `true`, and the modules it imported (from -X importtime) on the way."""
    argv = [sys.executable, "-m", "microcosm.runtime.guard", str(os.getpid()), "--", "true"]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, env=_env(tree), cwd=tree, check=True)
        times.append((time.perf_counter() - t) * 1000)
    bare = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ctypes, subprocess, threading"], check=True)
        bare.append((time.perf_counter() - t) * 1000)
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "microcosm.runtime.guard"], env=_env(tree),
                         cwd=tree, capture_output=True, text=True).stderr
    names = [line.rsplit("|", 1)[1].strip() for line in err.splitlines() if line.startswith("import time:")][1:]
    tops = {n.split(".")[0] for n in names}
    return {"ms": median(times), "bare_ms": median(bare), "modules": len(names),
            "microcosm": sorted({n for n in names if n.startswith("microcosm")}),
            "heavy": sorted(t for t in tops if t in HEAVY or t in ("flask", "werkzeug", "asyncio", "http"))}


def _settled(pid: int) -> dict:
    import psutil

    info = psutil.Process(pid).memory_full_info()
    return {"rss_mb": info.rss / 2**20, "pss_mb": info.pss / 2**20, "uss_mb": info.uss / 2**20}


def measure(tree: str | None = None, log=print) -> dict:
    """Every figure for the microcosm code in `tree` (default: the one this process imports)."""
    tree = os.path.abspath(tree or REPO)
    if tree not in sys.path:
        sys.path.insert(0, tree)
        os.environ["PYTHONPATH"] = _env(tree)["PYTHONPATH"]  # the services we launch run this tree's code too
    import microcosm
    from microcosm.runtime.infra import REDIS_ENV

    assert os.path.dirname(os.path.dirname(os.path.abspath(microcosm.__file__))) == tree, microcosm.__file__
    os.environ.pop(REDIS_ENV, None)  # our own Redis, not one a session may name
    os.chdir(tree)  # `python -m` puts the working folder first on a child's path: it must be this tree
    log(f"measuring {tree} ...")
    figures: dict = {"tree": tree, "services": {}, "guard": guard_figures(tree)}
    data = tempfile.mkdtemp(prefix="microcosm-bench-memory-")
    try:
        microcosm.redis()
        started = {}
        for name in sorted(SERVICES, key=lambda n: n == "registry"):  # the registry last: nobody registers
            config = {"data_dir": os.path.join(data, name)}
            if name == "gateway":
                config["upstreams"] = {"catalog": started["catalog"].url, "orders": started["orders"].url}
                config["identity_url"] = started["identity"].url
            if name == "balancer":
                config.update(upstream="catalog", backends=[started["catalog"].url])
            started[name] = microcosm.launch(name, **config)
        time.sleep(1.0)  # let start-up threads (hop sender, health checks, registration) settle
        for name in SERVICES:
            service = started[name]
            for _ in range(20):  # a little traffic, so the memory is a serving process's, not an idle one's
                service.get("/health")
            figures["services"][name] = {**_settled(service.pid), **service_imports(tree, name)}
            log(f"  {name}: {figures['services'][name]['rss_mb']:.1f} MB RSS")
    finally:
        microcosm.stop_all()
    return figures


def _heavy(found: dict) -> str:
    return ", ".join(f"{lib}({found[lib]})" for lib in HEAVY if lib in found) or "none"


def report(figures: dict, before: dict | None = None) -> str:
    """Markdown: a table per tree (and one of the changes, given `before`)."""
    out = ["### Memory and imports of each service process (`bench/process_memory.py`)", ""]
    runs = [("before", before), ("after", figures)] if before else [("", figures)]
    for label, f in runs:
        base = f["services"][BASELINE]
        rows = [[name, f"{s['rss_mb']:.1f}", f"{s['rss_mb'] / base['rss_mb']:.2f}", f"{s['pss_mb']:.1f}",
                 f"{s['pss_mb'] / base['pss_mb']:.2f}", f"{s['ms']:.0f}", s["modules"], _heavy(s["heavy"])]
                for name, s in f["services"].items()]
        out += [f"**{label + ': ' if label else ''}{f['tree']}** (ratios against {BASELINE})", "",
                table(["service", "RSS MB", "×", "PSS MB", "×", "import ms", "modules", "heavy libraries (modules)"],
                      rows, align="lrrrrrrl"), ""]
    if before:
        rows = []
        for name in figures["services"]:
            b, a = before["services"][name], figures["services"][name]
            gone = sorted(set(b["heavy"]) - set(a["heavy"]))
            rows.append([name, f"{a['rss_mb'] / b['rss_mb']:.2f}", f"{a['pss_mb'] / b['pss_mb']:.2f}",
                         f"{a['pss_mb'] - b['pss_mb']:+.1f}", f"{a['ms'] / b['ms']:.2f}",
                         ", ".join(gone) or "-"])
        out += ["**after / before**", "", table(["service", "RSS ×", "PSS ×", "PSS MB", "import time ×",
                                                  "no longer imported"], rows, align="lrrrrl"), ""]
    rows = []
    for label, f in runs:
        g = f["guard"]
        ours = g["microcosm"] if len(g["microcosm"]) <= 4 else [f"{len(g['microcosm'])} modules"]
        rows.append([label or "guard", f"{g['ms']:.0f}", f"{g['ms'] / g['bare_ms']:.2f}", g["modules"],
                     ", ".join(g["heavy"]) or "none", ", ".join(ours)])
    out += ["**The guard** (`python -m microcosm.runtime.guard PID -- true`, median of 11; × against a bare "
            "`python -c 'import ctypes, subprocess, threading'`, what the guard itself needs)", "",
            table(["tree", "ms", "×", "modules", "heavy", "of microcosm"], rows, align="lrrrll"), ""]
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", help="measure the microcosm checkout in this folder (default: this one)")
    p.add_argument("--before", help="also measure this checkout, first, and print both side by side")
    p.add_argument("--json", action="store_true", help="print the figures as JSON (used by --before)")
    args = p.parse_args(argv)
    if args.before:  # each tree in its own interpreter: a process can import only one `microcosm`
        runs = []
        for tree in (args.before, args.tree or str(REPO)):
            out = subprocess.run([sys.executable, __file__, "--tree", tree, "--json"], check=True,
                                 capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"{machine_line()}\n\n{report(runs[1], before=runs[0])}")
        return
    figures = measure(args.tree, log=(lambda s: print(s, file=sys.stderr)) if args.json else print)
    print(json.dumps(figures) if args.json else f"{machine_line()}\n\n{report(figures)}")


if __name__ == "__main__":
    main()
