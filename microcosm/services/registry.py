"""registry: which instances of which service are alive right now (component 9).

Instances register themselves (id, URL, metadata, TTL), then send a heartbeat every so often. An instance
whose heartbeat is overdue by its TTL is dropped: a crashed process cannot say goodbye, so silence is how
the registry learns. Callers read the list, or long-poll it (`?wait=5&version=N`) to hear of a change at once.

State lives in memory on purpose: after a restart the registry is empty, and each instance's next heartbeat
is answered 404, which tells it to register again. Within one TTL the registry knows the whole system again.
"""
import json
import re
import signal
import sys
import threading
import time
import uuid
from collections import deque

from flask import g, request

from ..discovery import instance_url, is_weight
from .base import ApiError, Number, Obj, Str, create_service, read_json, require_admin
from .loader import load_object

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MAX_WAIT = 10.0
MAX_SERVICES = 200  # names a registry keeps at once
MAX_INSTANCES = 64  # instances of one service
MAX_METADATA = 2048  # bytes of an instance's metadata, as JSON
MAX_TTL = 300.0  # seconds: an instance that has not sent a heartbeat for 5 minutes is surely gone


def overdue(instances: dict[str, dict], now: float) -> list[str]:
    """The ids of the instances whose last heartbeat is older than their TTL: they are presumed dead.

    (The lab of chapter 04 writes this function; `launch("registry", expiry="file.py:overdue")` uses theirs.)
    """
    return [i for i, instance in instances.items() if now - instance["last_heartbeat"] > instance["ttl"]]


class Registry:
    def __init__(self, reap_every: float = 0.1, overdue=overdue):
        self.overdue = overdue
        self.services: dict[str, dict[str, dict]] = {}
        self.versions: dict[str, int] = {}
        self.epoch = uuid.uuid4().hex[:8]  # a new one at every start, so watchers notice a restart
        self.events: deque = deque(maxlen=500)  # what happened, for people watching: joined, left, expired
        self.closed = False  # stopping: expire nobody, answer waiting watchers with what they have
        self.changed = threading.Condition()
        threading.Thread(target=self._reap_forever, args=(reap_every,), daemon=True, name="registry-reaper").start()

    def _bump(self, service: str, event: str, instance: dict) -> None:
        self.versions[service] = self.versions.get(service, 0) + 1
        self.events.append({"at": time.time(), "event": event, "service": service, "id": instance["id"],
                            "url": instance["url"], "last_heartbeat": instance["last_heartbeat"], "ttl": instance["ttl"]})
        self.changed.notify_all()

    def register(self, service, instance_id, url, ttl, metadata) -> bool:
        """Add (or refresh) an instance. Returns True if it is new."""
        with self.changed:
            if service not in self.services and len(self.services) >= MAX_SERVICES:
                raise ApiError(507, f"the registry already holds {MAX_SERVICES} services; deregister some first")
            instances = self.services.setdefault(service, {})
            known = instances.get(instance_id)
            if known is None and len(instances) >= MAX_INSTANCES:
                raise ApiError(507, f"{service} already has {MAX_INSTANCES} instances registered")
            if known and known["url"] != url:
                raise ApiError(409, f"instance id '{instance_id}' of {service} is already registered at "
                                    f"{known['url']}: choose another id, or deregister that one first", field="id")
            now = time.time()
            instances[instance_id] = {"id": instance_id, "url": url, "metadata": metadata, "ttl": ttl,
                                      "registered_at": known["registered_at"] if known else now, "last_heartbeat": now}
            if not known or known["metadata"] != metadata or known["ttl"] != ttl:
                self._bump(service, "registered" if not known else "updated", instances[instance_id])
            return known is None

    def heartbeat(self, service, instance_id) -> dict:
        with self.changed:
            instance = self.services.get(service, {}).get(instance_id)
            if instance is None:
                raise ApiError(404, f"{service}/{instance_id} is not registered (it expired, or the registry "
                                    f"restarted): register again")
            instance["last_heartbeat"] = time.time()
            return instance

    def deregister(self, service, instance_id) -> None:
        with self.changed:
            instance = self.services.get(service, {}).pop(instance_id, None)
            if instance is None:
                raise ApiError(404, f"{service}/{instance_id} is not registered")
            if not self.services[service]:
                del self.services[service]
            self._bump(service, "deregistered", instance)

    def close(self) -> None:
        """The registry is stopping. While it finishes, it no longer hears heartbeats, so it must not expire
        anyone (its watchers would cache the shrunken list); and the long polls it holds end at once."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def expire(self, now: float | None = None) -> list[str]:
        """Drop every instance whose heartbeat is overdue by its TTL; returns what was dropped."""
        now = now or time.time()
        dropped = []
        if self.closed:
            return dropped
        with self.changed:
            for service, instances in self.services.items():
                for instance_id in self.overdue(dict(instances), now):
                    instance = instances.pop(instance_id, None)
                    if instance is not None:
                        dropped.append(f"{service}/{instance_id}")
                        self._bump(service, "expired", instance)
            for service in [s for s, instances in self.services.items() if not instances]:
                del self.services[service]
        return dropped

    def _reap_forever(self, every: float) -> None:
        while True:
            time.sleep(every)
            self.expire()

    def snapshot(self, service: str) -> dict:
        instances = sorted(self.services.get(service, {}).values(), key=lambda i: i["id"])
        now = time.time()
        return {"service": service, "epoch": self.epoch, "version": self.versions.get(service, 0),
                "instances": [{**i, "expires_in": round(i["ttl"] - (now - i["last_heartbeat"]), 3)} for i in instances]}

    def wait_for_change(self, service: str, epoch: str, version: int, wait: float) -> dict:
        """Return as soon as the service's list differs from (epoch, version), or after `wait` seconds."""
        deadline = time.monotonic() + wait
        with self.changed:
            while epoch == self.epoch and version == self.versions.get(service, 0) and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return self.snapshot(service)


def _check_name(service: str) -> None:
    if not NAME.match(service):
        raise ApiError(400, "a service name is 1-64 lowercase letters, digits, '-' or '_', starting with a letter",
                       field="service")


def _check_metadata(metadata: dict) -> None:
    """Bounded, and what the balancer reads from it (a weight) valid, so no entry can spoil a caller's list."""
    if len(json.dumps(metadata)) > MAX_METADATA:
        raise ApiError(400, f"field 'metadata' must be at most {MAX_METADATA} bytes as JSON", field="metadata")
    if not is_weight(metadata.get("weight", 1)):
        raise ApiError(400, "metadata 'weight' must be a number above 0 and at most 1000", field="metadata")


def _close_on_sigterm(registry: Registry) -> None:
    """On a clean stop (SIGTERM) close the registry first, then stop as before."""
    previous = signal.getsignal(signal.SIGTERM)

    def closing(signum, frame):
        registry.close()
        if callable(previous):
            previous(signum, frame)
        else:
            sys.exit(0)

    try:
        signal.signal(signal.SIGTERM, closing)
    except ValueError:  # not the main thread (an app built inside a test): nothing to stop cleanly
        pass


def create_app(config: dict):
    app = create_service("registry", config)
    registry = Registry(overdue=load_object(config["expiry"]) if config.get("expiry") else overdue)
    _close_on_sigterm(registry)
    app.extensions["registry"] = registry

    # Writes need the launch secret: without it, anyone on the machine could register http://attacker for
    # catalog, or deregister the real instances. (Production registries do the same with ACL tokens and mTLS.)
    @app.post("/services/<service>/instances")
    def register(service):
        require_admin()
        _check_name(service)
        body = read_json(id=Str(min=1, max=100), url=Str(min=1, max=300),
                         ttl=Number(required=False, default=3.0, min=0.1, max=MAX_TTL),
                         metadata=Obj(required=False, default={}))
        try:
            url = instance_url(body["url"])
        except ValueError as exc:
            raise ApiError(400, f"field 'url': {exc}", field="url") from None
        _check_metadata(body["metadata"])
        new = registry.register(service, body["id"], url, float(body["ttl"]), body["metadata"])
        return registry.snapshot(service), 201 if new else 200

    @app.put("/services/<service>/instances/<instance_id>/heartbeat")
    def heartbeat(service, instance_id):
        require_admin()
        instance = registry.heartbeat(service, instance_id)
        return {"id": instance_id, "ttl": instance["ttl"]}

    @app.delete("/services/<service>/instances/<instance_id>")
    def deregister(service, instance_id):
        require_admin()
        registry.deregister(service, instance_id)
        return registry.snapshot(service)

    @app.get("/services")
    def all_services():
        with registry.changed:
            return {"epoch": registry.epoch,
                    "services": {s: [i["id"] for i in sorted(v.values(), key=lambda i: i["id"])]
                                 for s, v in sorted(registry.services.items())}}

    @app.get("/events")
    def events():
        """What happened lately, oldest first: instances registered, deregistered, expired."""
        return {"epoch": registry.epoch, "events": list(registry.events)}

    @app.get("/services/<service>")
    def one_service(service):
        _check_name(service)
        try:
            wait = float(request.args.get("wait", 0))
            version = int(request.args.get("version", -1))
        except ValueError:
            raise ApiError(400, "query parameters 'wait' (seconds) and 'version' (integer) must be numbers")
        if not 0 <= wait <= MAX_WAIT:
            raise ApiError(400, f"query parameter 'wait' must be between 0 and {MAX_WAIT:g} seconds", field="wait")
        if wait:
            g.not_a_hop = True  # a watch held open for seconds is not a request to draw or time in the monitor
        return registry.wait_for_change(service, request.args.get("epoch", ""), version, wait)

    return app
