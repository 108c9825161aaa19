"""What the exported manifests run, run here: each service of the whole system from its Deployment's command and
args (with $(VAR) expanded from its env as Kubernetes does, the ConfigMap's configuration, the Secret's launch
secret) answers /health, even while what it names (redis, registry, catalog-lb ...) cannot be reached yet: in a
cluster nothing starts in order. And Redis with the exported arguments keeps its writes in the data folder."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import redis as redis_py
import requests
import yaml

import microcosm
from microcosm.runtime.ports import free_port
from microcosm.system import SYSTEM


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    written = microcosm.export(SYSTEM, folder=folder, formats=["kubernetes"], secret="k" * 43)
    found = {}
    for path in written["kubernetes"]:
        for resource in yaml.safe_load_all(path.read_text()):
            found[(resource["kind"], resource["metadata"]["name"])] = resource
    return found


def expand(text: str, env: dict) -> str:
    """Kubernetes' $(VAR) in command and args: the container's variable's value."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], text)


def container_env(container: dict, manifests: dict, name: str, data_dir) -> dict:
    env = {}
    for variable in container["env"]:
        source = variable.get("valueFrom", {})
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "fieldRef" in source:
            env[variable["name"]] = f"{name}-7d4b9c-x2x9q"  # a pod's name
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            config = json.loads(manifests[("ConfigMap", ref["name"])]["data"][ref["key"]])
            env[variable["name"]] = json.dumps({**config, "data_dir": str(data_dir)})  # the volume, here
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[variable["name"]] = manifests[("Secret", ref["name"])]["stringData"][ref["key"]]
    env["MICROCOSM_HOST"], env["MICROCOSM_PORT"] = "127.0.0.1", str(free_port())  # loopback here, not 0.0.0.0
    return env


def test_every_service_starts_from_its_exported_command_and_answers_health(manifests, tmp_path):
    started = {}
    try:
        for (kind, name), resource in manifests.items():
            if kind != "Deployment" or name == "redis":
                continue
            (container,) = resource["spec"]["template"]["spec"]["containers"]
            env = container_env(container, manifests, name, tmp_path / name)
            argv = [sys.executable if c == "python" else c for c in container["command"]]
            argv += [expand(a, env) for a in container["args"]]
            full_env = {k: v for k, v in os.environ.items() if k != "MICROCOSM_PARENT_PID"} | env
            started[name] = (subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                              text=True), int(env["MICROCOSM_PORT"]))
        assert set(started) == {c.name for c in SYSTEM if not c.infrastructure}
        answers, deadline = {}, time.monotonic() + 60
        while len(answers) < len(started) and time.monotonic() < deadline:
            for name, (child, port) in started.items():
                if name in answers or child.poll() is not None:
                    continue
                try:
                    answers[name] = requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        dead = {n: c.returncode for n, (c, _) in started.items() if c.poll() is not None}
        assert dead == {}, f"exited: {dead}"
        assert answers == {name: 200 for name in started}
    finally:
        for child, _ in started.values():
            child.terminate()
        for child, _ in started.values():
            try:
                child.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def test_redis_with_the_exported_arguments_keeps_its_writes_in_the_data_folder(manifests, tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/setup.sh installs it)")
    (container,) = manifests[("Deployment", "redis")]["spec"]["template"]["spec"]["containers"]
    args = [str(tmp_path) if a == "/data" else a for a in container["args"][1:]]
    port = free_port()
    server = subprocess.Popen([binary, *args, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                              stdout=subprocess.DEVNULL)
    try:
        client = redis_py.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis_py.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start with the exported arguments"
                time.sleep(0.1)
        client.set("order:1", "paid")
        written = b"".join(p.read_bytes() for p in tmp_path.rglob("*.aof*") if p.is_file())
        assert b"order:1" in written  # the append-only file, on what would be the volume
    finally:
        server.terminate()
        server.wait(10)
