"""`launch(...)`: one service instance as its own process, ready when `launch` returns."""
from __future__ import annotations

import itertools
import json
import os
import sys

import requests

from .. import trust
from ..services import NEEDS, OPTIONAL
from . import paths
from .ports import HOST, listen_socket
from .process import LaunchError, Process, started
from .spawning import spawn


class Service(Process):
    """A running service instance: its URL, pid, logs, and stop / kill / restart."""

    kind = "service"

    def __init__(self, service: str, name: str, config: dict, *, server: str = "waitress", threads: int = 8):
        super().__init__(name)
        self.service, self.config, self.server, self.threads = service, config, server, threads
        self.cpu = next_cpu()
        self.port = 0
        self.faults: dict = {}  # the chaos this handle set (a restarted process starts without any)

    def _start(self):
        self.faults = {}
        try:
            sock = listen_socket(self.port)
        except OSError as exc:
            raise LaunchError(self.name, f"port {self.port} is taken by another program ({exc.strerror})") from None
        self.port = sock.getsockname()[1]
        argv = [sys.executable, "-m", "microcosm.serve", self.service, "--name", self.name,
                "--fd", str(sock.fileno()), "--config", json.dumps(self.config),
                "--server", self.server, "--threads", str(self.threads)]
        if self.cpu is not None:
            argv += ["--cpu", str(self.cpu)]
        try:
            return spawn(argv, self.log_path, pass_fds=[sock.fileno()])
        finally:
            sock.close()  # the child has it now; closing ours means a dead child refuses connections

    def _is_ready(self) -> bool:
        try:
            answer = requests.get(f"{self.url}/health", timeout=0.5)
        except requests.RequestException:
            return False
        if answer.status_code != 200:
            return False
        try:
            self._reported_name = answer.json().get("service")  # what the app calls itself
        except (ValueError, AttributeError):
            pass
        return True

    @property
    def service_name(self) -> str:
        """The component this instance belongs to ("catalog" for instances catalog-1, catalog-2 ...): the name
        the app gives in its /health answer, else its module's."""
        return getattr(self, "_reported_name", None) or \
            os.path.splitext(os.path.basename(self.service))[0].rsplit(".", 1)[-1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def link(self) -> str:
        """A URL a browser can open: through jupyter-server-proxy on Binder/JupyterHub, direct elsewhere."""
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        return f"{prefix.rstrip('/')}/proxy/{self.port}/" if prefix else self.url

    @property
    def address(self) -> str:
        return self.url if self.port else ""

    # --- talking to it, for cells ------------------------------------------------------------------
    def request(self, method: str, path: str = "/", **kwargs) -> requests.Response:
        """A request to this instance. It carries this kernel's launch secret (`X-Admin-Secret`), so admin
        routes such as /_chaos or /_balancer/strategy answer a cell; anyone else gets a 401 there."""
        kwargs.setdefault("timeout", 10)
        headers = dict(kwargs.pop("headers", None) or {})
        secret = trust.launch_secret()
        if secret and not any(k.lower() == trust.ADMIN_HEADER.lower() for k in headers):
            headers[trust.ADMIN_HEADER] = secret
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    def get(self, path: str = "/", **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def metrics(self) -> dict:
        return self.get("/metrics").json()

    def chaos(self, **faults) -> dict:
        """Make it misbehave: chaos(delay_ms=500), chaos(fail_next=3), chaos(fail_rate=0.2); chaos() clears."""
        if not faults:
            self.faults = {}
            return self.delete("/_chaos").json()
        answer = self.put("/_chaos", json=faults)
        if answer.status_code != 200:
            raise ValueError(answer.json()["message"])
        self.faults = dict(faults)  # what the traffic monitor reads to mark the instance slow
        return answer.json()


def _fill_needs(service: str, config: dict) -> None:
    if config.get("events") is True:  # launch("orders", events=True): the broker is this kernel's Redis
        from .infra import redis

        config["events"] = redis().url
    for key, provider in NEEDS.get(service, {}).items():
        if config.get(key):
            continue
        if provider == "redis":
            from .infra import redis

            config[key] = redis().url
            continue
        if provider == "zookeeper":
            from .infra import zookeeper

            config[key] = zookeeper().hosts
            continue
        instance = started(provider)
        if instance is None or not instance.alive:
            raise LaunchError(service, f"needs a running '{provider}': launch('{provider}') first, "
                                       f"or pass {key}='http://...'")
        config[key] = instance.url
    registry = started("registry")
    if service != "registry" and "registry_url" not in config and registry is not None and registry.alive:
        config["registry_url"] = registry.url  # the instance registers itself and sends heartbeats
    for key, provider in OPTIONAL.get(service, {}).items():
        instance = started(provider)
        if not config.get(key) and instance is not None and instance.alive:
            config[key] = instance.url


def _traffic_redis() -> str | None:
    """Where services record their hops: this kernel's Redis. Without Redis installed, no traffic view."""
    from .infra import MissingDependency, redis

    try:
        return redis().url
    except MissingDependency:
        return None


_cpu_turn = itertools.count(os.getpid())


def next_cpu() -> int | None:
    """The core for the next instance, taking the cores in turn (None: one core only, or pinning is off).

    Each service process stays on one core (see `microcosm.serve.pin_to_cpu`); MICROCOSM_PIN_CPU=0 turns it off.
    """
    if os.environ.get("MICROCOSM_PIN_CPU", "1") == "0" or not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores[next(_cpu_turn) % len(cores)] if len(cores) > 1 else None


THREADS = {"registry": 32}  # long polls hold a thread each while they wait


def launch(service: str, name: str | None = None, *, server: str = "waitress", threads: int | None = None,
           ready_timeout: float = 20.0, **config) -> Service:
    """Start `service` as its own process on a free port and return once `GET /health` answers.

    `service` is a built-in name ("catalog", "orders", "carts"), a module, or a path to a .py file with
    `create_app(config)`. Keyword arguments become its config; `traffic=False` turns off hop recording. Launching a name that is already running
    with the same settings returns the running instance; with other settings, it replaces it.
    """
    name = name or os.path.splitext(os.path.basename(service))[0]
    trust.launch_secret(create=True)  # made once per kernel; every process launched from here inherits it
    if service.endswith(".py"):
        service = os.path.abspath(service)
    _fill_needs(service, config)
    config.setdefault("data_dir", str(paths.data_dir(name)))
    if config.pop("traffic", True) and "traffic_redis" not in config:
        config["traffic_redis"] = _traffic_redis()
    existing = started(name)
    if existing is not None:
        same = isinstance(existing, Service) and (existing.service, existing.config, existing.server) == (service, config, server)
        if same and existing.alive:
            return existing
        existing.stop()
        existing.forget()
    instance = Service(service, name, config, server=server, threads=threads or THREADS.get(service, 8))
    instance.ready_timeout = ready_timeout
    try:
        return instance.start()
    except BaseException:
        instance.kill()
        raise


def scale(service: str, count: int, **config) -> list[Service]:
    """Run exactly `count` instances of `service`, named service-1 … service-N.

    They share the service's one data folder (the data belongs to the service, not to an instance; SQLite
    in WAL mode lets several processes use one file). Scaling up launches the missing instances; scaling down
    stops the highest-numbered ones. Returns the running instances.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a whole number of instances (0 or more), got {count!r}")
    base_name = os.path.splitext(os.path.basename(service))[0]
    config.setdefault("data_dir", str(paths.data_dir(base_name)))
    instances = [launch(service, f"{base_name}-{i}", **config) for i in range(1, count + 1)]
    i = count + 1
    while (extra := started(f"{base_name}-{i}")) is not None:
        extra.stop()
        extra.forget()
        i += 1
    return instances
