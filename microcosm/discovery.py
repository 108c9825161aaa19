"""Both sides of the service registry (component 9), as used by services and by whoever calls them.

- `Registration` runs inside a service: it registers the instance, sends a heartbeat every third of its TTL,
  registers again when the registry has forgotten it (it expired, or the registry restarted), and deregisters
  on a clean stop. A killed instance simply stops sending heartbeats, and the registry drops it after its TTL.
- `Discovery` runs inside a caller (a balancer, a gateway, a notebook): it keeps a local copy of one service's
  instances, refreshed by long polls so a change arrives within a second, and keeps serving the last known
  copy while the registry is down.
"""
from __future__ import annotations

import atexit
import http.client
import json
import re
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

from . import trust

HOST_NAME = re.compile(r"[a-z0-9.-]{1,253}|[0-9a-f:.]{2,45}")  # as urlsplit gives it: lowercase, IPv6 unbracketed


def instance_url(url) -> str:
    """`url` as an instance's address (http://host:port, no path), trailing slash removed; ValueError saying
    what is wrong otherwise. The registry accepts and the balancer reads instance URLs by this one rule, so
    an entry one of them takes the other can always use."""
    if not isinstance(url, str) or not url or len(url) > 300:
        raise ValueError(f"an instance URL must be a string like http://host:port, got {url!r:.80}")
    url = url.rstrip("/")
    if any(c in url for c in "?#@\\") or not url.isascii() or not url.isprintable():
        raise ValueError(f"an instance URL must look like http://host:port, got {url!r:.80}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if parts is None or parts.scheme != "http" or not parts.hostname or port is None or not 0 < port < 65536 \
            or parts.path or parts.query or parts.fragment or parts.username or parts.password \
            or not HOST_NAME.fullmatch(parts.hostname):
        raise ValueError(f"an instance URL must look like http://host:port, got {url!r:.80}")
    return url


def is_weight(value) -> bool:
    """An instance's weight (a balancer gives it that many turns to another's one): a number in (0, 1000]."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= 1000


class RegistryUnreachable(OSError):
    """The registry did not answer, or answered with an error."""


def _http(method: str, url: str, headers: dict, *, json_body=None, timeout: float = 1.0) -> int:
    """One request with the standard library's HTTP client; the answer's status. (Registration uses it rather than
    `requests`, which a service that calls no other service would load for its heartbeats alone: 5 MB a process.)"""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    body = None if json_body is None else json.dumps(json_body).encode()
    try:
        connection.request(method, parts.path, body=body,
                           headers={**headers, **({"Content-Type": "application/json"} if body else {})})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException) as error:
        raise RegistryUnreachable(f"{method} {url}: {error}") from None
    finally:
        connection.close()


class Registration:
    """Keeps one instance registered for as long as its process lives."""

    def __init__(self, registry_url: str, service: str, instance_id: str, url: str, *, ttl: float = 3.0,
                 metadata: dict | None = None, start: bool = True):
        self.registry = registry_url.rstrip("/")
        self.service, self.instance_id, self.url, self.ttl = service, instance_id, url, ttl
        self.metadata = metadata or {}
        self.registered = False
        self._stop = threading.Event()
        # so the traffic monitor draws the heartbeats as coming from this instance, not from a "client"
        self._headers = {"X-Caller": service, "X-Caller-Instance": instance_id}
        secret = trust.launch_secret()  # registering is an admin write: it needs the launch secret
        if secret:
            self._headers[trust.ADMIN_HEADER] = secret
        if start:
            threading.Thread(target=self._run, name="microcosm-registration", daemon=True).start()
            atexit.register(self.deregister)

    @property
    def _instance_url(self) -> str:
        return f"{self.registry}/services/{self.service}/instances/{self.instance_id}"

    def register(self) -> None:
        status = _http("POST", f"{self.registry}/services/{self.service}/instances", self._headers, json_body={
            "id": self.instance_id, "url": self.url, "ttl": self.ttl, "metadata": self.metadata})
        if status >= 400:
            raise RegistryUnreachable(f"the registry refused the registration: {status}")
        self.registered = True

    def heartbeat(self) -> None:
        status = _http("PUT", f"{self._instance_url}/heartbeat", self._headers)
        if status == 404:  # forgotten (expired, or the registry restarted): join again
            self.registered = False
            self.register()
        elif status >= 400:
            raise RegistryUnreachable(f"the registry refused the heartbeat: {status}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.heartbeat() if self.registered else self.register()
            except RegistryUnreachable:
                self.registered = False  # the registry is down: try again at the next beat
            self._stop.wait(self.ttl / 3)

    def deregister(self) -> None:
        self._stop.set()
        if self.registered:
            try:
                _http("DELETE", self._instance_url, self._headers, timeout=0.5)
            except RegistryUnreachable:
                pass
            self.registered = False


class Discovery:
    """One service's instances, as last heard from the registry, kept fresh in the background."""

    def __init__(self, registry_url: str, service: str, *, wait: float = 5.0, start: bool = True):
        self.registry, self.service, self.wait = registry_url.rstrip("/"), service, wait
        self._instances: list[dict] = []
        self._version: tuple = ("", -1)  # (registry epoch, version): a restarted registry has a new epoch
        self._listeners: list[Callable[[list[dict]], None]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.registry_up = False
        self.last_refresh: float | None = None
        import requests  # here, not at the top: a service that only registers does not load it

        self._session = requests.Session()
        self._thread = None
        if start:
            self._thread = threading.Thread(target=self._run, name=f"microcosm-discovery-{service}", daemon=True)
            self._thread.start()

    # --- what callers use --------------------------------------------------------------------------
    def instances(self) -> list[dict]:
        """The last known instances: [{"id", "url", "metadata", ...}]. Still served while the registry is down."""
        return list(self._instances)

    def urls(self) -> list[str]:
        return [i["url"] for i in self._instances]

    def on_change(self, callback: Callable[[list[dict]], None]) -> None:
        """Call `callback(instances)` (from the watcher thread) whenever the set changes."""
        self._listeners.append(callback)

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 10.0) -> bool:
        """Block until `predicate(instances)` holds (or `timeout` passes); True if it held."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.instances()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def stop(self) -> None:
        self._stop.set()

    # --- the watcher -------------------------------------------------------------------------------
    def refresh(self, wait: float = 0.0) -> None:
        """Ask the registry once (a long poll of up to `wait` seconds if nothing has changed)."""
        epoch, version = self._version
        answer = self._session.get(f"{self.registry}/services/{self.service}",
                                   params={"wait": wait, "version": version, "epoch": epoch}, timeout=wait + 2)
        answer.raise_for_status()
        body = answer.json()
        self.registry_up, self.last_refresh = True, time.time()
        new_version = (body["epoch"], body["version"])
        if new_version != self._version:
            self._version = new_version
            self._set(body["instances"])

    def _set(self, instances: list[dict]) -> None:
        changed = [i["url"] for i in instances] != self.urls()
        with self._changed:
            self._instances = instances
            self._changed.notify_all()
        if changed:
            for callback in list(self._listeners):
                try:
                    callback(self.instances())
                except Exception:  # a listener's bug must not stop discovery
                    pass

    def _run(self) -> None:
        import requests

        pause = 0.2
        while not self._stop.is_set():
            try:
                self.refresh(self.wait)
                pause = 0.2
            except (requests.RequestException, ValueError, KeyError):
                self.registry_up = False  # keep serving the last known instances
                self._stop.wait(pause)
                pause = min(2.0, pause * 2)


class Polled:
    """A simpler cache, anything with `refresh()` and `instances()` (chapter 04's lab writes one), driven the
    way callers drive `Discovery`: refreshed every `every` seconds from a thread, with the same `instances()`,
    `urls()`, `on_change()`, `wait_for()`, `registry_up` and `stop()`. A balancer loads one with
    `launch("balancer", upstream="catalog", registry_url=..., discovery="cache.py:ServiceCache")`.

    `refresh()` returns whether the registry answered; an exception from the cache's code is logged and
    counted as a failed refresh, and the last list it gave stays in use.
    """

    def __init__(self, cache, *, every: float = 0.5, start: bool = True):
        self.cache, self.every = cache, every
        self._instances: list[dict] = []
        self._listeners: list[Callable[[list[dict]], None]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.registry_up = False
        self.last_error: str | None = None
        if start:
            threading.Thread(target=self._run, name="microcosm-discovery-polled", daemon=True).start()

    instances = Discovery.instances
    urls = Discovery.urls
    on_change = Discovery.on_change
    wait_for = Discovery.wait_for
    stop = Discovery.stop
    _set = Discovery._set

    def poll(self) -> None:
        """One refresh of the cache, and its list taken over if it changed."""
        try:
            self.registry_up = bool(self.cache.refresh())
            instances = [dict(i) for i in self.cache.instances()]
            self.last_error = None
        except Exception as exc:  # the cache's bug: say so in the log, keep the last list
            error = f"{type(exc).__name__}: {exc}"
            if error != self.last_error:
                import logging

                logging.getLogger("microcosm.discovery").warning("%s failed: %s", type(self.cache).__name__, error)
            self.registry_up, self.last_error = False, error
            return
        if [i.get("url") for i in instances] != self.urls():
            self._set(instances)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)
