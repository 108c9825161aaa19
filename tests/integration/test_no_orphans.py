"""No orphans, ever: what a kernel starts dies with it, however it dies; an interrupted cell kills nothing."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from microcosm.runtime.ports import is_listening
from microcosm.testing import gone, wait_until

PARENT = textwrap.dedent("""
    import json, signal, sys, time
    import microcosm
    # like a kernel: an interrupt stops the current work, not the process
    signal.signal(signal.SIGINT, lambda *_: print("interrupted", flush=True))
    catalog = microcosm.launch("catalog")
    redis = microcosm.redis()
    zk = microcosm.zookeeper()
    print(json.dumps({"pids": [catalog.pid, redis.pid, zk.pid], "ports": [catalog.port, redis.port, zk.port]}), flush=True)
    while True:
        time.sleep(3600)
""")


@pytest.fixture(params=["prctl", "watchdog"])
def parent(tmp_path, request):
    """A separate Python process (standing in for a kernel) that started a service, Redis and ZooKeeper.

    Twice: with Linux's parent-death signal, and with the portable watchdog that macOS relies on.
    """
    env = dict(os.environ, MICROCOSM_RUN_DIR=str(tmp_path), MICROCOSM_GUARD_WATCHDOG=str(int(request.param == "watchdog")))
    env.pop("MICROCOSM_REDIS_URL", None)
    env.pop("MICROCOSM_ZK_HOSTS", None)
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    started = json.loads(proc.stdout.readline())
    yield proc, started
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    wait_until(lambda: all(gone(pid) for pid in started["pids"]), timeout=10)
    for pid in started["pids"]:  # each child leads its own process group: end the group, not only its leader
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_the_parent_leaves_no_process_and_no_port(parent):
    proc, started = parent
    assert all(is_listening(port) for port in started["ports"])
    proc.kill()  # SIGKILL: no atexit, no finally, like nbval's kernel shutdown
    proc.wait()
    assert wait_until(lambda: all(gone(pid) for pid in started["pids"])), "a child outlived its parent"
    assert wait_until(lambda: not any(is_listening(port) for port in started["ports"])), "a port is still held"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigint_to_the_parents_group_keeps_every_child_running(parent):
    proc, started = parent
    os.killpg(proc.pid, signal.SIGINT)  # what Jupyter's Interrupt does to the kernel's process group
    assert proc.stdout.readline().strip() == "interrupted"
    time.sleep(0.5)
    assert not any(gone(pid) for pid in started["pids"])
    assert all(is_listening(port) for port in started["ports"])


def test_a_real_kernel_interrupt_keeps_services_and_kernel_death_removes_them(tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=dict(os.environ, MICROCOSM_RUN_DIR=str(tmp_path)))
    try:
        outputs = []
        reply = kc.execute_interactive("import microcosm; c = microcosm.launch('catalog'); print(c.pid, c.port)",
                                       output_hook=outputs.append, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        pid, port = map(int, text.split())

        kc.execute("import time; time.sleep(60)")
        time.sleep(1)
        km.interrupt_kernel()  # SIGINT to the kernel's process group
        reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert not gone(pid) and is_listening(port), "interrupting a cell killed the service"

        km.shutdown_kernel(now=True)  # SIGKILL, as nbval does
        assert wait_until(lambda: gone(pid)), "the service outlived its kernel"
        assert wait_until(lambda: not is_listening(port))
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)


PORT_GRABBER = textwrap.dedent("""
    import json, microcosm
    ports = [microcosm.launch("catalog", name=f"c{i}").port for i in range(4)]
    print(json.dumps(ports), flush=True)
    microcosm.stop_all()
""")


def test_two_kernels_launching_at_once_never_share_a_port(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", PORT_GRABBER], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, MICROCOSM_RUN_DIR=str(tmp_path / str(i)))) for i in range(2)]
    ports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        ports += json.loads(out)
    assert len(ports) == 8 and len(set(ports)) == 8
