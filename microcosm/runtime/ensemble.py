"""A three-node ZooKeeper ensemble on loopback, for the chapter on agreeing (chapter 08).

    from microcosm.runtime.ensemble import ensemble
    zk = ensemble()               # three real ZooKeeper processes, one elected leader, ready for kazoo
    zk.modes()                    # {'zk-ensemble-1': 'follower', 'zk-ensemble-2': 'leader', ...}
    client = zk.client()          # kazoo, connected to any of the three (zk.hosts is the list it takes)
    zk.leader.kill()              # SIGKILL one node: the other two elect a leader and go on
    zk.nodes[0].kill()            # a second one: no majority left, no writes
    zk.start()                    # start again whatever is down; returns once they agree on a leader

Each node is a `java ... QuorumPeerMain zoo.cfg` of its own, with the lines every node shares
(`server.N=127.0.0.1:peerPort:electionPort`, N the number in the node's `myid` file), a client port, a 64 MB
heap at most, and its data in this kernel's run folder. A write is committed once a majority (2 of 3) has
logged it, so the ensemble goes on with one node down and refuses writes with two down: the one node left
cannot tell "the others are dead" from "I am cut off from them", and serving would let two halves diverge.

Every other chapter uses the single standalone server of `microcosm.zookeeper()`; this is the extra one.
"""
from __future__ import annotations

import socket
import threading
import time

from .infra import ZooKeeperServer, quiet_kazoo
from .ports import HOST, free_port
from .process import LaunchError
from .table import ProcessTable

MODES = ("leader", "follower", "observer", "standalone")


def four_letter_word(port: int, word: str, timeout: float = 1.0) -> str:
    """What the ZooKeeper server on `port` answers to a four-letter word ("srvr", "mntr", "ruok"), all of it;
    "" when nothing answers."""
    chunks = []
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(word.encode())
            while chunk := s.recv(4096):
                chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks).decode("utf-8", "replace")


class EnsembleNode(ZooKeeperServer):
    """One server of an ensemble: kill(), stop(), restart() like any process, and its `mode` as it says."""

    main_class = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

    def __init__(self, name: str, myid: int, ensemble: "Ensemble"):
        super().__init__(name)
        self.myid, self.ensemble = myid, ensemble
        self.peer_port = self.election_port = 0  # followers talk to the leader / nodes elect one, on these

    def zoo_cfg(self) -> list[str]:
        return super().zoo_cfg() + [f"server.{n.myid}={HOST}:{n.peer_port}:{n.election_port}"
                                    for n in self.ensemble.nodes]

    def _start(self):
        (self.data / "myid").write_text(f"{self.myid}\n")  # which server.N line is this node
        return super()._start()

    def srvr(self) -> dict:
        """Its `srvr` answer as a dict ("Mode", "Zxid", "Node count", ...); {} when it is down or not serving."""
        lines = four_letter_word(self.port, "srvr").splitlines()
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    @property
    def mode(self) -> str:
        """"leader", "follower", "not serving" (running, but in no quorum: it is looking for one) or "down"."""
        if not self.alive:
            return "down"
        return self.srvr().get("Mode", "not serving")


class Ensemble:
    """N ZooKeeper servers (3 by default) that elect a leader and commit each write on a majority."""

    def __init__(self, size: int = 3, name: str = "zk-ensemble"):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be a whole number of servers, 1 or more, got {size!r}")
        self.name = name
        self.nodes = [EnsembleNode(f"{name}-{i}", i, self) for i in range(1, size + 1)]
        self.start_seconds: float | None = None  # how long the last start() took, until a leader was elected

    # --- life cycle --------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "Ensemble":
        """Start every node that is not running (all at once) and return when the running ones agree on a
        leader. The ports are chosen once; a node started again keeps them, and its data."""
        began = time.perf_counter()
        first_start = not any(n.alive for n in self.nodes)
        for attempt in range(3):  # a free port can be taken between picking it and binding it
            if not all(n.port for n in self.nodes):
                self._pick_ports()
            try:
                self._start_nodes()
                self.wait_for_quorum(timeout)
                break
            except LaunchError as exc:  # a node exited: most likely one of its ports was taken meanwhile
                if exc.exit_code is None or not first_start or attempt == 2:  # (Debian's ZooKeeper logs
                    raise                              # nothing to say which: no SLF4J binding on its class path)
                for node in self.nodes:
                    node.kill()
                    node.port = 0
        self.start_seconds = time.perf_counter() - began
        return self

    def _pick_ports(self) -> None:
        ports: set[int] = set()
        while len(ports) < 3 * len(self.nodes):
            ports.add(free_port())
        ports_left = sorted(ports)
        for node in self.nodes:
            node.port, node.peer_port, node.election_port = (ports_left.pop() for _ in range(3))

    def _start_nodes(self) -> None:
        errors: list[BaseException] = []

        def start(node):
            try:
                node.start()
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(n,), daemon=True) for n in self.nodes if not n.alive]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def wait_for_quorum(self, timeout: float = 60.0) -> EnsembleNode:
        """Wait until every running node serves (one leader, the others its followers); return the leader.
        Raises TimeoutError if no majority is running, or they do not agree within `timeout` seconds, and
        LaunchError (with its last log lines) if a node exits by itself meanwhile (a port taken, say)."""
        deadline = time.monotonic() + timeout
        running_at_first = [n for n in self.nodes if n.alive]
        while True:
            for node in running_at_first:
                if node.exit_code is not None and node.exit_code >= 0:  # it exited by itself (not killed)
                    raise LaunchError(node.name, "exited while the ensemble was electing a leader",
                                      node.exit_code, node.logs())
            modes = self.modes()
            running = [m for m in modes.values() if m != "down"]
            if list(modes.values()).count("leader") == 1 and all(m in MODES for m in running):
                return self.leader
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no leader after {timeout:.0f} s ({len(running)} of "
                                   f"{len(self.nodes)} running; a leader needs {self.majority}): {modes}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every node (SIGTERM)."""
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        """SIGKILL every node."""
        for node in self.nodes:
            node.kill()

    def forget(self) -> None:
        for node in self.nodes:
            node.forget()

    # --- what it is --------------------------------------------------------------------------------
    @property
    def hosts(self) -> str:
        """"127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3": the connection string kazoo takes."""
        return ",".join(node.hosts for node in self.nodes)

    address = hosts

    @property
    def majority(self) -> int:
        return len(self.nodes) // 2 + 1

    def modes(self) -> dict[str, str]:
        """Each node's mode: leader, follower, not serving, or down."""
        return {node.name: node.mode for node in self.nodes}

    @property
    def leader(self) -> EnsembleNode | None:
        return next((n for n in self.nodes if n.mode == "leader"), None)

    @property
    def followers(self) -> list[EnsembleNode]:
        return [n for n in self.nodes if n.mode == "follower"]

    def node(self, name_or_id: str | int) -> EnsembleNode:
        """A node by its name ("zk-ensemble-2") or its myid (2)."""
        for n in self.nodes:
            if name_or_id in (n.name, n.myid):
                return n
        raise KeyError(f"{self.name} has no node {name_or_id!r}")

    def rss_mb(self) -> float:
        """The resident memory of its running JVMs together (MB)."""
        return sum(n.rss_mb() or 0.0 for n in self.nodes)

    def client(self, **kwargs):
        """A started kazoo client that knows all the nodes: if the one it talks to goes, it moves to another
        (keeping its session) as long as a majority serves."""
        from kazoo.client import KazooClient

        quiet_kazoo()
        kwargs.setdefault("timeout", 5.0)
        # kazoo waits up to 60 s between attempts to reconnect by default; at most 0.5 s here, so a cell sees
        # the client back soon after a majority serves again
        kwargs.setdefault("connection_retry", {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 0.5})
        kwargs.setdefault("hosts", self.hosts)  # or one node's alone: hosts=ens.nodes[0].hosts
        zk = KazooClient(**kwargs)
        zk.start(timeout=10)
        return zk

    def table(self) -> ProcessTable:
        return ProcessTable(self.nodes)

    def __repr__(self) -> str:
        return f"<Ensemble {self.name} " + " ".join(f"{n.myid}:{n.mode}" for n in self.nodes) + ">"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{n.name}</td><td>{n.myid}</td><td>{n.hosts}</td><td>{n.pid or ''}</td>"
                       f"<td>{n.mode}</td></tr>" for n in self.nodes)
        return ("<table><thead><tr><th>node</th><th>myid</th><th>client address</th><th>pid</th><th>mode</th>"
                f"</tr></thead><tbody>{rows}</tbody></table>")


_one: Ensemble | None = None
_lock = threading.Lock()


def ensemble(size: int = 3) -> Ensemble:
    """This kernel's ensemble: started on first call, started again if every node is down, else as it is
    (a node a cell killed stays down until `ensemble().start()` or `node.restart()`)."""
    global _one
    with _lock:
        if _one is None or len(_one.nodes) != size:
            if _one is not None:
                _one.stop()
                _one.forget()
            _one = Ensemble(size)
        if not any(n.alive for n in _one.nodes):
            _one.start()
        return _one
