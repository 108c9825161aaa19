"""Live configuration: a tree of JSON values in ZooKeeper, applied by every running instance without a restart.

One znode per setting, its data a JSON value:

    /microcosm/config/reporter/interval   -> 1.0
    /microcosm/config/reporter/label      -> "hourly"

A cell changes one (`write(zk, "reporter", "interval", 0.5)`); every instance that runs a `LiveConfig` on that
group has a watch on the node, gets the change pushed, checks it and applies it while it runs.

**Which version does an instance run?** Every write to ZooKeeper gets a zxid, one number that grows with every
change to the whole tree; a znode remembers the zxid of its last change (`mzxid`). An instance reports the
largest mzxid it has applied. That one number says everything it has applied, because ZooKeeper delivers a
client's watch events in the order the writes happened: an instance that reports version 4207 has applied every
config write up to 4207 and none after. `write` returns the new mzxid, so a cell can wait until every instance
reports at least that.

A value arrives from outside the process, so it is checked like any input: a value that is not JSON, or that
its setting's check refuses, is not applied; the instance keeps what it ran and lists the refusal.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from . import group_path

MAX_VALUE_BYTES = 4096  # a setting is a small value, not a document


def path_of(group: str, key: str | None = None) -> str:
    """/microcosm/config/<group>, or the node of one setting in it."""
    base = group_path("config", group)
    if key is None:
        return base
    if not isinstance(key, str) or not key.isidentifier() or len(key) > 64:
        raise ValueError(f"a setting's name is an identifier (letters, digits, _), got {key!r:.80}")
    return f"{base}/{key}"


def write(zk: KazooClient, group: str, key: str, value: Any) -> int:
    """Set `group`'s setting `key` to `value` (any JSON value) and return the write's zxid: the config version
    an instance reports once it has applied this write."""
    data = json.dumps(value).encode()
    if len(data) > MAX_VALUE_BYTES:
        raise ValueError(f"a setting holds at most {MAX_VALUE_BYTES} bytes of JSON, this one is {len(data)}")
    path = path_of(group, key)
    try:
        return zk.set(path, data).mzxid
    except NoNodeError:
        zk.ensure_path(path_of(group))
        _, stat = zk.create(path, data, include_data=True)
        return stat.mzxid


def remove(zk: KazooClient, group: str, key: str) -> None:
    """Delete a setting: instances go back to their default for it."""
    try:
        zk.delete(path_of(group, key))
    except NoNodeError:
        pass


def read(zk: KazooClient, group: str) -> dict[str, dict]:
    """What ZooKeeper holds for `group`: {key: {"value", "version" (writes to this node), "mzxid"}}."""
    out = {}
    try:
        keys = zk.get_children(path_of(group))
    except NoNodeError:
        return out
    for key in sorted(keys):
        try:
            data, stat = zk.get(f"{path_of(group)}/{key}")
        except NoNodeError:
            continue
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        out[key] = {"value": value, "version": stat.version, "mzxid": stat.mzxid}
    return out


class LiveConfig:
    """`group`'s settings as this instance runs them, kept up to date by ZooKeeper watches.

        config = LiveConfig(zk, "reporter", defaults={"interval": 1.0}, checks={"interval": positive})
        config["interval"]      # the value in force now
        config.version          # the largest mzxid applied (0: nothing from ZooKeeper yet, only defaults)

    `checks` maps a setting to a function that returns the value to use or raises ValueError. The settings are
    the keys of `defaults`: a node of another name is listed as refused, never watched, never applied.
    `on_change(key, value)` is called after each change is applied.
    """

    def __init__(self, zk: KazooClient, group: str, defaults: dict, checks: dict[str, Callable] | None = None,
                 on_change: Callable[[str, Any], None] | None = None):
        self.zk, self.group, self.defaults = zk, group, dict(defaults)
        self.checks, self.on_change = dict(checks or {}), on_change
        self.values = dict(defaults)
        self.version = 0                      # the largest mzxid applied
        self.versions: dict[str, int] = {}    # per setting: how many times its node was written
        self.applied_at: float | None = None  # time.time() of the last change applied
        self.refused: deque = deque(maxlen=10)
        self.lock = threading.Lock()
        self._unknown: set[str] = set()
        zk.ensure_path(path_of(group))
        for key in self.defaults:  # a watch on each setting we know, whether its node exists yet or not
            DataWatch(zk, path_of(group, key), lambda data, stat, event=None, key=key: self._changed(key, data, stat))
        ChildrenWatch(zk, path_of(group), self._children)

    def __getitem__(self, key: str):
        with self.lock:
            return self.values[key]

    def snapshot(self) -> dict:
        """What this instance runs: values, version, per-setting versions, recent refusals."""
        with self.lock:
            return {"values": dict(self.values), "version": self.version, "versions": dict(self.versions),
                    "applied_at": self.applied_at, "refused": list(self.refused)}

    # --- the watches --------------------------------------------------------------------------------------------
    def _children(self, keys: list[str]) -> None:
        """The settings in ZooKeeper changed: say so once for each one this service does not know (a typo in a
        cell, "intreval"). Those are not watched: the watches stay as many as the settings the service has."""
        for key in set(keys) - set(self.defaults) - self._unknown:
            if len(self._unknown) >= 50:
                break
            self._unknown.add(key)
            with self.lock:
                self.refused.append({"key": key[:64], "mzxid": None, "reason": "unknown setting (known: "
                                     f"{', '.join(sorted(self.defaults))}): not watched"})

    def _changed(self, key: str, data: bytes | None, stat) -> None:
        """ZooKeeper says setting `key` is now `data` (None: the node was deleted): check it, then apply it."""
        if stat is None:  # not there (yet), or deleted: the default, at the zxid of the deletion (parent's pzxid)
            if self.versions.get(key) is None and self.values[key] == self.defaults[key]:
                return  # nothing to change: the node has never been there
            value, zxid, version = self.defaults[key], self._parent_pzxid(), None
        else:
            zxid, version = stat.mzxid, stat.version
            try:
                value = self._check(key, data)
            except ValueError as exc:
                with self.lock:
                    self.refused.append({"key": key, "mzxid": zxid, "reason": str(exc)[:200]})
                return
        with self.lock:
            self.values[key] = value
            self.version = max(self.version, zxid)
            if version is None:
                self.versions.pop(key, None)
            else:
                self.versions[key] = version
            self.applied_at = time.time()
        if self.on_change:
            self.on_change(key, value)

    def _check(self, key: str, data: bytes):
        if data is None or len(data) > MAX_VALUE_BYTES:
            raise ValueError(f"the value must be JSON of at most {MAX_VALUE_BYTES} bytes")
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            raise ValueError(f"the value is not JSON: {data[:60]!r}") from None
        check = self.checks.get(key)
        return check(value) if check else value

    def _parent_pzxid(self) -> int:
        try:
            return self.zk.exists(path_of(self.group)).pzxid
        except Exception:  # the deletion is applied even if we cannot learn its zxid
            return self.version
