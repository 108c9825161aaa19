"""`microcosm.up()` and `microcosm.down()`: a whole topology started in dependency order, and stopped.

    system = microcosm.up()                      # the whole system (system/whole.py), healthy when it returns
    system = microcosm.up()                      # again: the same running system, nothing restarted
    microcosm.down()                             # every process of it stopped (Redis and ZooKeeper too)

Each component starts once everything it needs answers (`Topology.needs`); components that do not need each
other start at the same time, each instance on a thread of its own (`launch` waits on `GET /health`, and the
processes fork from the one spawner thread of runtime/process.py, so their parent-death signal stays tied to
this process). When every component runs, the `then=` requests are sent (the web origin learns the gateway's
URL). If any instance fails to start, nothing is left running: what started is stopped, the components not
yet started are not started, and `SystemStartError` names the component with its last log lines.

`up(topology)` with another topology makes the running system that one: its components are launched (an
instance with the same name and settings keeps running) and what the new topology does not have is stopped.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import requests

from .. import trust
from ..runtime import process
from ..runtime.infra import redis, zookeeper
from ..runtime.paths import data_dir
from ..runtime.service import launch
from .handle import System
from .topology import Component, Ref, Topology, TopologyError


class SystemStartError(RuntimeError):
    """A component did not start. `component` names it; `cause` is the LaunchError (exit code, last log lines)."""

    def __init__(self, component: str, cause: BaseException):
        self.component, self.cause = component, cause
        super().__init__(f"{component!r} did not start, so up() stopped the whole system (nothing is left "
                         f"running):\n{cause}")


class _NotStarted(Exception):
    """A component skipped because another one failed first."""


_system: System | None = None
_lock = threading.RLock()


def as_topology(topology) -> Topology:
    if topology is None:
        from .whole import SYSTEM

        return SYSTEM
    if isinstance(topology, Topology):
        return topology
    if isinstance(topology, dict):
        return Topology.from_dict(topology)
    if isinstance(topology, (list, tuple)):
        return Topology(*topology)
    raise TopologyError(f"up() takes a Topology, a dict of components or a list of Component(...), "
                        f"got {type(topology).__name__}")


def up(topology=None, *, ready_timeout: float = 20.0, parallel: bool = True) -> System:
    """Start every component of `topology` (default: the whole system) in dependency order; return the System.

    `parallel=False` starts one instance at a time, in the topology's order (bench/system_memory.py compares)."""
    global _system
    topology = as_topology(topology)
    with _lock:
        if _system is not None and _system.topology == topology and _system.alive:
            return _system
        previous, _system = _system, None
        system = System(topology)
        try:
            _start_all(system, ready_timeout, parallel)
            _send_then(system)
        except BaseException:
            _stop(system.processes() + (previous.processes() if previous else []))
            raise
        system.start_seconds = time.perf_counter() - system.began
        if previous is not None:
            keep = {id(p) for p in system.processes()}
            _stop([p for p in previous.processes() if id(p) not in keep])
        _system = system
        return system


def down() -> None:
    """Stop every process of the system `up()` started (services at once, then Redis and ZooKeeper)."""
    global _system
    with _lock:
        system, _system = _system, None
        if system is not None:
            _stop(system.processes())


def current() -> System | None:
    """The system up() started in this process, if any."""
    return _system


def _stop(processes) -> None:
    processes = list({id(p): p for p in processes}.values())
    if any(p.kind != "service" for p in processes):  # Redis goes too: the monitor stops reading it first
        for hook in list(process.before_stop_all):
            try:
                hook()
            except Exception:
                pass
    process.stop_many(processes)


def _start_all(system: System, ready_timeout: float, parallel: bool = True) -> None:
    topology = system.topology
    trust.launch_secret(create=True)  # once, before the threads: each process inherits the same secret
    failed = threading.Event()
    errors: list[SystemStartError] = []
    done: dict[str, list] = {}  # component -> the futures of its instances
    lock = threading.Lock()

    def start(component: Component, index: int):
        wait([f for dep in topology.needs(component.name) for f in done[dep]])
        if failed.is_set():
            raise _NotStarted(component.name)
        began = time.perf_counter() - system.began
        try:
            instance = _start_one(system, component, index, ready_timeout)
        except BaseException as error:
            failed.set()
            with lock:
                errors.append(SystemStartError(component.name, error))
            raise
        with lock:
            slots = system.instances.setdefault(component.name, [None] * component.count)
            slots[index] = instance
            system.timings[component.instance_names()[index]] = (began, time.perf_counter() - system.began)
        return instance

    workers = topology.instance_count() if parallel else 1  # one worker: the submit order, one after another
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="microcosm-up") as pool:
        try:
            for component in topology.order():  # dependencies are submitted first, so a waiting start has them
                done[component.name] = [pool.submit(start, component, i) for i in range(component.count)]
            wait([f for futures in done.values() for f in futures])
        except BaseException:  # an interrupted cell (KeyboardInterrupt): start nothing more, up() cleans up
            failed.set()
            for futures in done.values():
                for f in futures:
                    f.cancel()
            raise
    if errors:  # instances that started meanwhile are in system.instances: up() stops them
        raise errors[0]
    system.instances = {c.name: system.instances[c.name] for c in topology.order()}  # in start order


def _start_one(system: System, component: Component, index: int, ready_timeout: float):
    if component.service == "redis":
        return redis()
    if component.service == "zookeeper":
        return zookeeper()
    options = resolve(component.options, system)
    if component.count > 1:
        options.setdefault("data_dir", str(data_dir(component.name)))  # the service's data, shared (like scale)
    if "redis" not in system.topology:
        options.setdefault("traffic", False)  # no Redis in the topology: no hop records (they would start one)
    name = component.instance_names()[index]
    return launch(component.service, name, ready_timeout=ready_timeout, **options)


def resolve(value, system: System):
    """`value` with every Ref replaced by the address it names (the component runs by now)."""
    if isinstance(value, Ref):
        instances = system.instances[value.component]
        addresses = [_address(i, value.browser) for i in instances]
        return addresses if value.every else addresses[0]
    if isinstance(value, dict):
        return {k: resolve(v, system) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, system) for v in value]
    return value


def _address(instance, browser: bool) -> str:
    if browser and getattr(instance, "link", None):
        return instance.link
    return getattr(instance, "url", None) or instance.address


def _send_then(system: System) -> None:
    for component in system.topology.order():
        for method, path, body in component.then:
            for instance in system.instances[component.name]:
                try:
                    answer = instance.request(method, path, json=resolve(body, system))
                except requests.RequestException as error:
                    raise SystemStartError(component.name, RuntimeError(f"{instance.name}: {method} {path}: {error}"))
                if answer.status_code >= 400:
                    raise SystemStartError(component.name, RuntimeError(
                        f"{instance.name}: {method} {path} answered {answer.status_code}: {answer.text[:300]}"))
