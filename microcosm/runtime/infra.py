"""Real infrastructure for a kernel: a private Redis server and a private ZooKeeper server.

`redis()` and `zookeeper()` start one of each per kernel, from the installed binaries, on free loopback
ports, with their data in this kernel's run folder; they die with the kernel. If `MICROCOSM_REDIS_URL` or
`MICROCOSM_ZK_HOSTS` is set (Binder's `binder/start` does it) they attach to that server instead.
"""
from __future__ import annotations

import glob
import logging
import os
import platform
import shutil
import socket
import threading

from . import paths
from .ports import HOST, free_port
from .process import LaunchError, Process, started
from .spawning import guarded, spawn

REDIS_ENV = "MICROCOSM_REDIS_URL"
ZK_ENV = "MICROCOSM_ZK_HOSTS"
_lock = threading.Lock()


class MissingDependency(RuntimeError):
    """A program microcosm needs is not installed. The message says how to install it here."""


def install_hint(what: str) -> str:
    apt = {"redis": "redis-server", "zookeeper": "zookeeper", "java": "default-jre-headless"}[what]
    brew = {"redis": "redis", "zookeeper": "zookeeper", "java": "openjdk"}[what]
    conda = {"redis": "redis-server", "zookeeper": "zookeeper", "java": "openjdk"}[what]
    if os.environ.get("CONDA_PREFIX"):
        return f"conda install -c conda-forge {conda}"
    if platform.system() == "Darwin":
        return f"brew install {brew}"
    if shutil.which("apt-get") or os.path.exists("/etc/debian_version"):
        return f"sudo apt-get install -y {apt}   (or run `make lab`, which installs everything)"
    return f"install {what} with your system's package manager"


def _ask(port: int, command: bytes, timeout: float = 0.5) -> bytes:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(command)
            return s.recv(64)
    except OSError:
        return b""


class LocalServer(Process):
    """A server this kernel runs itself: a free loopback port, its data in this kernel's run folder."""

    kind = "server"

    def __init__(self, name: str = ""):
        super().__init__(name or self.kind)
        self.port = 0
        self.data = paths.data_dir(self.name)


# --- Redis -----------------------------------------------------------------------------------------
class RedisServer(LocalServer):
    """A private redis-server: AOF on, data in the run folder, loopback only.

    `appendfsync` is when Redis flushes its append-only file to disk: "everysec" (the default: a SIGKILL or
    power cut may lose the last second of writes) or "always" (before answering each write: nothing it has
    acknowledged is lost, at a cost per write that chapter 07 measures)."""

    kind = "redis"

    def __init__(self, name: str = "", appendfsync: str = "everysec", aof: bool = True):
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync is always, everysec or no, not {appendfsync!r}")
        super().__init__(name)
        self.appendfsync, self.aof = appendfsync, aof  # aof=False: nothing on disk at all (chapter 07's "before")

    def _start(self):
        binary = shutil.which("redis-server")
        if not binary:
            raise MissingDependency(f"redis-server is not installed. Install it with: {install_hint('redis')}")
        self.port = self.port or free_port()
        argv = [binary, "--port", str(self.port), "--bind", HOST, "--dir", str(self.data),
                "--appendonly", "yes" if self.aof else "no", "--appendfsync", self.appendfsync, "--save", "",
                "--daemonize", "no", "--protected-mode", "yes", "--maxmemory", "256mb", "--logfile", ""]
        return spawn(guarded(argv), self.log_path)

    def _is_ready(self) -> bool:
        return _ask(self.port, b"PING\r\n").startswith(b"+PONG")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    address = url

    def client(self, **kwargs):
        import redis as redis_py

        kwargs.setdefault("decode_responses", True)
        return redis_py.Redis.from_url(self.url, **kwargs)


# --- ZooKeeper -------------------------------------------------------------------------------------
def zookeeper_classpath() -> list[str]:
    """The jars of an installed ZooKeeper: ZOOKEEPER_HOME, Debian/Ubuntu, Homebrew or conda."""
    homes = [os.environ.get("ZOOKEEPER_HOME"), "/opt/homebrew/opt/zookeeper/libexec",
             "/usr/local/opt/zookeeper/libexec"]
    if os.environ.get("CONDA_PREFIX"):
        homes.append(os.path.join(os.environ["CONDA_PREFIX"], "share", "zookeeper"))
        homes.append(os.environ["CONDA_PREFIX"])
    for home in filter(None, homes):
        jars = sorted(glob.glob(os.path.join(home, "lib", "*.jar")) + glob.glob(os.path.join(home, "*.jar")))
        if any("zookeeper" in os.path.basename(j) for j in jars):
            conf = os.path.join(home, "conf")
            return ([conf] if os.path.isdir(conf) else []) + jars
    if os.path.exists("/usr/share/java/zookeeper.jar"):  # Debian's jar names its dependencies in its manifest
        return ["/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar"]
    return []


def quiet_kazoo() -> None:
    """kazoo logs every dropped connection as a warning: in a notebook, a wall of red text while a cell kills
    servers on purpose (the cell says what happened). Keep only its errors, unless logging was set up for it."""
    logger = logging.getLogger("kazoo")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


class ZooKeeperServer(LocalServer):
    """A private standalone ZooKeeper: small heap, admin server off, short sessions allowed."""

    kind = "zookeeper"
    ready_timeout = 30.0
    main_class = "org.apache.zookeeper.server.ZooKeeperServerMain"

    def zoo_cfg(self) -> list[str]:
        """The lines of its zoo.cfg (an ensemble's node adds its peers: runtime/ensemble.py)."""
        return ["tickTime=500", "initLimit=10", "syncLimit=5", "minSessionTimeout=1000", "maxSessionTimeout=60000",
                f"dataDir={self.data}", f"clientPort={self.port}", f"clientPortAddress={HOST}",
                "admin.enableServer=false", "4lw.commands.whitelist=ruok,srvr,stat,mntr,envi,conf,wchs,wchc,wchp",
                "maxClientCnxns=200"]

    def _start(self):
        java = shutil.which("java")
        if not java:
            raise MissingDependency(f"Java is not installed (ZooKeeper needs it). Install it with: {install_hint('java')}")
        classpath = zookeeper_classpath()
        if not classpath:
            raise MissingDependency(f"ZooKeeper is not installed. Install it with: {install_hint('zookeeper')}")
        self.port = self.port or free_port()
        cfg = self.data / "zoo.cfg"
        cfg.write_text("\n".join(self.zoo_cfg() + [""]))
        argv = [java, "-Xmx64m", "-Xms16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
                f"-Dzookeeper.log.dir={self.data}", "-Dzookeeper.root.logger=INFO,CONSOLE",
                "-Dzookeeper.console.threshold=INFO", "-Djava.net.preferIPv4Stack=true",
                "-cp", os.pathsep.join(classpath), self.main_class, str(cfg)]
        return spawn(guarded(argv), self.log_path)

    def _is_ready(self) -> bool:
        return _ask(self.port, b"ruok") == b"imok"

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.port}"

    address = hosts

    def client(self, **kwargs):
        from kazoo.client import KazooClient

        quiet_kazoo()
        kwargs.setdefault("timeout", 5.0)
        zk = KazooClient(hosts=self.hosts, **kwargs)
        zk.start(timeout=10)
        return zk


# --- Which server this kernel uses ----------------------------------------------------------------
class Attached:
    """A server someone else runs (named by an environment variable, as Binder's start script does): this
    kernel uses it, and never starts or stops it. It answers to the names of the server class it stands for
    (`url` for Redis, `hosts` for ZooKeeper, `client()`)."""

    alive, pid, status = True, None, "attached"
    server_class: type = Process

    def __init__(self, address: str):
        self.address = address

    kind = property(lambda self: self.server_class.kind)
    url = hosts = property(lambda self: self.address)

    def client(self, **kwargs):
        return self.server_class.client(self, **kwargs)

    def stop(self, *a, **k):
        pass

    def __repr__(self):
        return f"<{type(self).__name__} {self.address}>"


class AttachedRedis(Attached):
    """A Redis server named by MICROCOSM_REDIS_URL."""
    server_class = RedisServer


class AttachedZooKeeper(Attached):
    """A ZooKeeper ensemble named by MICROCOSM_ZK_HOSTS."""
    server_class = ZooKeeperServer


def redis() -> RedisServer | AttachedRedis:
    """This kernel's Redis server: started on first call (or attached via MICROCOSM_REDIS_URL)."""
    return _attached_or_ours(REDIS_ENV, AttachedRedis, RedisServer)


def zookeeper() -> ZooKeeperServer | AttachedZooKeeper:
    """This kernel's ZooKeeper server: started on first call (or attached via MICROCOSM_ZK_HOSTS)."""
    return _attached_or_ours(ZK_ENV, AttachedZooKeeper, ZooKeeperServer)


def _attached_or_ours(env: str, attached, server_class):
    """The server named by `env` if it is set, else this kernel's own, started once."""
    return attached(os.environ[env]) if os.environ.get(env) else _one_per_kernel(server_class)


def _one_per_kernel(server_class):
    """This kernel's server of that class: the running one, the stopped one started again, or a new one."""
    with _lock:
        server = started(server_class.kind)
        if isinstance(server, server_class) and server.alive:
            return server
        server = server if isinstance(server, server_class) else server_class()
        for attempt in range(3):  # a free port can be taken between picking it and binding it
            try:
                return server.start()
            except LaunchError as exc:
                if "Address already in use" not in exc.log_tail or attempt == 2:
                    raise
                server.port = 0
