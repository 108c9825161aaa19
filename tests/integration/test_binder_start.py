"""binder/start, run for real as Binder runs it: `binder/start <command>` with a fresh $HOME.
It must start Redis and ZooKeeper, export where they are, and hand over to the command; and a server
that cannot start must not stop the session."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from microcosm.testing import gone

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "binder" / "start"
ZK_JAR = "/usr/share/java/zookeeper.jar"

missing = [what for what, there in [
    ("redis-server", shutil.which("redis-server")), ("java", shutil.which("java")),
    (ZK_JAR, os.path.exists(ZK_JAR)), ("timeout", shutil.which("timeout")), ("python3", shutil.which("python3")),
] if not there]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"binder/start needs {', '.join(missing)} (binder/apt.txt)")


def stop_everything_started_under(home: Path):
    pids = [int(p.read_text()) for p in (home / ".microcosm-infra").glob("*.pid") if p.read_text().strip()]
    for pid in pids:
        if not gone(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(gone(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
    return pids


def run_start(home: Path, *command: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROCOSM_")}
    env.update(HOME=str(home), **env_changes)
    return subprocess.run(["bash", str(START), *command], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def exported(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if line.startswith("MICROCOSM_"))


def test_start_runs_redis_and_zookeeper_exports_them_and_runs_the_command(tmp_path):
    try:
        result = run_start(tmp_path, "env")
        assert result.returncode == 0, result.stderr
        found = exported(result.stdout)  # printed by `env`, the command start exec'd
        assert set(found) == {"MICROCOSM_REDIS_URL", "MICROCOSM_ZK_HOSTS"}, result.stderr
        assert found["MICROCOSM_REDIS_URL"].startswith("redis://127.0.0.1:")
        assert found["MICROCOSM_ZK_HOSTS"].startswith("127.0.0.1:")

        import redis
        client = redis.Redis.from_url(found["MICROCOSM_REDIS_URL"], socket_timeout=5)
        assert client.ping()
        client.set("binder:hello", "world")
        assert client.get("binder:hello") == b"world"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()

        from kazoo.client import KazooClient
        zk = KazooClient(hosts=found["MICROCOSM_ZK_HOSTS"], timeout=5)
        zk.start(timeout=20)
        try:
            zk.ensure_path("/binder/hello")
            assert zk.exists("/binder/hello")
            assert zk.server_version()[:1] == (3,)  # `envi` is whitelisted
        finally:
            zk.stop()
            zk.close()

        infra = tmp_path / ".microcosm-infra"
        assert (infra / "redis").is_dir() and (infra / "zookeeper" / "version-2").is_dir()
    finally:
        pids = stop_everything_started_under(tmp_path)
    assert len(pids) == 2 and all(gone(pid) for pid in pids)


def test_a_server_that_cannot_start_does_not_stop_the_session(tmp_path):
    # a `java` that dies at once stands in for a broken ZooKeeper; Redis is already named by the environment
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "java").write_text("#!/bin/sh\necho 'java: cannot start' >&2\nexit 3\n")
    (fake / "java").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    try:
        result = run_start(home, "env", PATH=f"{fake}{os.pathsep}{os.environ['PATH']}",
                           MICROCOSM_REDIS_URL="redis://127.0.0.1:1/0")
    finally:
        stop_everything_started_under(home)
    assert result.returncode == 0, result.stderr
    found = exported(result.stdout)
    assert found == {"MICROCOSM_REDIS_URL": "redis://127.0.0.1:1/0"}  # kept as given, no ZooKeeper named
    assert "zookeeper: exited" in result.stderr and "java: cannot start" in result.stderr
