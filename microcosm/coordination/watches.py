"""Who watches what, as ZooKeeper itself counts it: the herd effect, measured (lab 08).

A watch costs the server a notification for every watcher when its node changes, and the watcher a round trip
or two to look again. An election where every contender watches the leader wakes them all when it goes (the
**herd effect**); one where each watches its predecessor wakes one. The server can say which it is:

    wchc   the data watches of each session: a session id, then the paths it watches
    wchp   the same by path: a path, then the sessions watching it
    wchs   a summary: "2 connections watching 2 paths", "Total watches:2"
    mntr   zk_watch_count, every watch (data and children); and for each kind of event, how many watchers
           the events woke so far (zk_sum_node_deleted_watch_count, zk_sum_node_children_watch_count, ...)

wchc, wchp and wchs list **data** watches only (set by `exists()` and `get()`); a watch on a node's list of
children (`get_children(path, watch=...)`) shows in mntr's zk_watch_count and nowhere else, so the difference
is the number of children watches. The difference of the woken sums before and after one event is how many
watchers it notified. Each server knows the watches of its own clients: ask a standalone server (an ensemble's
nodes each answer for the clients connected to them). The words must be in the server's 4lw whitelist;
microcosm's zoo.cfg has them (runtime/infra.py).
"""
from __future__ import annotations

from kazoo.client import KazooClient

from ..runtime.ensemble import four_letter_word

WOKEN = ("zk_sum_node_created_watch_count", "zk_sum_node_deleted_watch_count", "zk_sum_node_changed_watch_count",
         "zk_sum_node_children_watch_count")


def ask(hosts: str, word: str) -> str:
    """The answer of the (first) server in `hosts` ("127.0.0.1:2181") to a four-letter word."""
    host_port = hosts.split(",")[0].split("/")[0]
    answer = four_letter_word(int(host_port.rsplit(":", 1)[1]), word)
    if "is not executed because it is not in the whitelist" in answer:
        raise RuntimeError(f"the ZooKeeper server at {host_port} does not answer {word!r}: add it to "
                           f"4lw.commands.whitelist in its zoo.cfg")
    return answer


def session_id(zk: KazooClient) -> str:
    """A client's session id as the four-letter words write it ("0x10001703e8e0001")."""
    return f"0x{zk.client_id[0]:x}"


def _grouped(text: str) -> dict[str, list[str]]:
    """wchc/wchp's answer: unindented lines are keys, tab-indented lines their values."""
    out: dict[str, list[str]] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and key is not None:
            out[key].append(line.strip())
        else:
            key = line.strip()
            out[key] = []
    return out


def by_session(hosts: str) -> dict[str, list[str]]:
    """{session id: the paths its data watches are on} (wchc)."""
    return _grouped(ask(hosts, "wchc"))


def by_path(hosts: str) -> dict[str, list[str]]:
    """{path: the sessions with a data watch on it} (wchp)."""
    return _grouped(ask(hosts, "wchp"))


def mntr(hosts: str) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in ask(hosts, "mntr").splitlines() if "\t" in line)


def counts(hosts: str) -> dict[str, int]:
    """{"watches": all of them, "data": data watches, "children": children watches, "woken": watchers every
    event so far has woken, together}."""
    stats = mntr(hosts)
    data = next((int(line.split(":", 1)[1]) for line in ask(hosts, "wchs").splitlines()
                 if line.startswith("Total watches:")), 0)
    watches = int(stats.get("zk_watch_count", 0))
    return {"watches": watches, "data": data, "children": watches - data,
            "woken": sum(int(float(stats.get(key, 0))) for key in WOKEN)}
