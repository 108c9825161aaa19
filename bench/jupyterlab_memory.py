"""What a learner's JupyterLab costs beside the system: the server (with jupyter-server-proxy) and a kernel.

    python bench/jupyterlab_memory.py

Starts `jupyter lab` (no browser, a free loopback port, a token) from this venv, waits for its API, opens a kernel
through the REST API as a browser would, runs in it what a chapter's first cells run (import microcosm, the
monitor's widgets), and reads RSS and PSS of the server's and the kernel's process groups. The figures size a
JupyterHub user's memory (microcosm/export/jupyterhub.py). Figures, not a test: nothing asserts.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psutil  # noqa: E402
from common import machine_line  # noqa: E402

from microcosm.runtime.ports import HOST, free_port  # noqa: E402

WARM = "import microcosm, ipywidgets\nfrom microcosm.traffic import monitor\nfrom microcosm import chaos, show\n"


def _call(url, token, method="GET", body=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def _run_in(home: str, kernel_id: str, code: str) -> None:
    """Run `code` in the server's kernel, through its connection file, as a notebook's first cells would."""
    from jupyter_client import BlockingKernelClient
    from jupyter_core.paths import jupyter_runtime_dir

    client = BlockingKernelClient(connection_file=os.path.join(jupyter_runtime_dir(), f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, timeout=120)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel could not run {code!r}: {reply['content']}")
    finally:
        client.stop_channels()


def _tree_memory(pid: int) -> dict:
    """RSS and PSS (MB, 10**6 bytes, as footprint.py's) of `pid` and every process below it (the kernel is the server's child in its own session)."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    full = [p.memory_full_info() for p in procs]
    return {"procs": len(procs), "rss_mb": sum(m.rss for m in full) / 1e6, "pss_mb": sum(m.pss for m in full) / 1e6}


def measure(settle=3.0) -> dict:
    port, token = free_port(), secrets.token_hex(16)
    home = tempfile.mkdtemp(prefix="microcosm-lab-")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ip={HOST}",
                               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}",
                               *(["--allow-root"] if os.geteuid() == 0 else [])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _call(f"{base}/api/status", token)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("jupyter lab did not start")
                time.sleep(0.2)
        time.sleep(settle)
        idle = _tree_memory(server.pid)
        kernel = _call(f"{base}/api/kernels", token, "POST", {"name": "python3"})
        _run_in(home, kernel["id"], WARM)
        time.sleep(settle)
        return {"server": idle, "server+kernel": _tree_memory(server.pid)}
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    figures = measure()
    print(machine_line())
    for what in ("server", "server+kernel"):
        m = figures[what]
        print(f"{what}: RSS {m['rss_mb']:.1f} MB, PSS {m['pss_mb']:.1f} MB")


if __name__ == "__main__":
    main()
