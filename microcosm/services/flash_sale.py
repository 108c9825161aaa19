"""flash_sale: the last items of a sale, reserved through several instances at once, with or without a lock
(chapter 08).

    sale = microcosm.scale("flash_sale", 3, lock=False)      # three instances, one stock, in Redis
    sale[0].put("/_sale/sneakers", json={"stock": 5})        # admin: 5 on sale (the counts start again)
    POST /reservations {"item": "sneakers"}                  201 reserved, 409 sold out
    GET  /sale/sneakers                                      stock left, reservations accepted, oversold
    sale = microcosm.scale("flash_sale", 3, lock=True)       # the same, each reservation under a ZooKeeper lock

A reservation reads the stock, works for `work_ms` (charging the card, say), and writes the stock minus one.
Two instances that read the same stock both say yes: more reservations accepted than there were items, an
**oversell**, counted in `GET /sale/<item>`. With `lock=True` an instance takes the item's lock in ZooKeeper
(coordination/locks.py, on kazoo's Lock recipe: an ephemeral sequential node under
/microcosm/locks/flash_sale/<item>; the lowest number holds the lock, every other waits for the node just
before its own) around read, work and write.

**Why GET then SET.** Redis could take one item atomically (DECR, WATCH/MULTI, a Lua script), and where the
store can do the whole step itself, do that: no lock needed. This service stands for the case where it cannot:
the stock lives behind something that offers only "read" and "write" (a legacy stock system, a REST resource
without ETags or If-Match), or the step between reading and writing involves another system (the card) that no
one store's transaction covers. So the stock is a real Redis key that this service only ever reads with GET
and writes with SET, and the race is the real one. (The tally of reservations accepted is an INCR: it is the
audit, not the decision.)

**Why a lock in Redis alone is not enough for correctness.** A lock made of `SET key me NX PX 5000` expires
by the clock, not when its holder is done: a holder paused longer than that (a GC pause, SIGSTOP, a slow
disk) wakes up still inside its critical section while another holds the lock, and writes. One Redis is also
a single point that, with a replica, can fail over and forget the lock. ZooKeeper does better on the second
point (a lock is a node committed by a majority, released when its holder's session ends) but not on the first:
a holder paused past its session timeout has lost the lock without knowing it. No lock alone can stop a
write that is already on its way.

**What fencing adds.** Each time the lock is granted it comes with a number that only grows (here the lock
node's sequence number, `lock_token` in the answer). The store remembers the highest number it has seen and
refuses a write that carries a lower one, so the woken holder's late write is refused instead of applied. That
needs the store to check the token (journal does, see coordination/fencing.py); a store with plain GET and SET,
like this one, cannot, which is why production keeps such a step inside one store that can.

Options: `lock` (default False), `work_ms` (default 10: the window between read and write), `lock_timeout`
(seconds to wait for the lock, default 5, then 503), `session_timeout` (ZooKeeper session, default 3 s: a
SIGKILLed holder blocks the item that long), `key_prefix` (Redis, default "flash_sale:"), `group` (the lock's
subtree, default "flash_sale"), `redis_url` and `zk` (default: this kernel's Redis and ZooKeeper).

    POST   /reservations    {"item", "quantity": 1..10 (default 1), "customer": optional}   201 / 404 / 409 / 503
    GET    /sale/<item>     {"item", "stock", "initial", "reserved", "oversold"}: the shared counts
    GET    /counts          this instance's counts: accepted, sold_out, lock_unavailable, errors, lock waits
    PUT    /_sale/<item>    {"stock": n}: put n on sale, the counts from zero (admin: the launch secret)
    DELETE /_sale/<item>    end the sale (admin)
"""
from __future__ import annotations

import atexit
import re
import threading
import time

import redis
from kazoo.exceptions import KazooException

from ..coordination import group_path
from ..coordination.locks import LockUnavailable, held
from .base import ApiError, Int, Str, create_service, error_response, read_json, require_admin

ITEM = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # a plain name: safe in a Redis key and a ZooKeeper path
MAX_STOCK = 1_000_000


class Counts:
    """This instance's counts, kept in memory (they start again with the process)."""

    FIELDS = ("accepted", "sold_out", "lock_unavailable", "errors", "locks_taken")

    def __init__(self):
        self.lock = threading.Lock()
        self.values = dict.fromkeys(self.FIELDS, 0)
        self.lock_wait_ms = 0.0

    def add(self, field: str) -> None:
        with self.lock:
            self.values[field] += 1

    def waited(self, ms: float) -> None:
        """A lock taken after `ms` milliseconds of waiting."""
        with self.lock:
            self.values["locks_taken"] += 1
            self.lock_wait_ms += ms

    def snapshot(self) -> dict:
        with self.lock:
            taken = self.values["locks_taken"]
            return {**self.values, "lock_wait_ms_avg": round(self.lock_wait_ms / taken, 3) if taken else None}


def lock_waits(counts: dict) -> str:
    """What this instance's ZooKeeper session has done, as the traffic monitor shows it: locks and their waits."""
    if not counts["locks_taken"]:
        return "no lock taken yet"
    return f"{counts['locks_taken']} locks, wait {counts['lock_wait_ms_avg']:.1f} ms avg"


def checked_item(item: str, field: str = "item") -> str:
    if not ITEM.fullmatch(item):
        raise ApiError(400, f"{field} must be 1-40 lower-case letters, digits or '-', starting with a letter or "
                            f"digit, got {item[:60]!r}", field=field)
    return item


def option(config: dict, name: str, default: float, low: float, high: float) -> float:
    """A numeric launch option, checked when the instance starts (not on the first request)."""
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"flash_sale: {name} must be a number from {low:g} to {high:g}, got {value!r:.40}")
    return float(value)


def create_app(config: dict):
    app = create_service("flash_sale", config)
    name = app.config["INSTANCE"]
    store = redis.Redis.from_url(config["redis_url"], socket_timeout=2, socket_connect_timeout=0.5,
                                 decode_responses=True)
    prefix = str(config.get("key_prefix", "flash_sale:"))
    work_ms = option(config, "work_ms", 10, 0, 10_000)
    lock_timeout = option(config, "lock_timeout", 5.0, 0.01, 60)
    counts = Counts()
    zk = None
    if config.get("lock"):
        if not config.get("zk"):
            raise ValueError("flash_sale with lock=True needs ZooKeeper: pass zk=microcosm.zookeeper().hosts")
        from ..coordination.membership import connect
        from ..traffic.session_hops import report_session

        zk = connect(config["zk"], float(config.get("session_timeout", 3.0)))
        atexit.register(zk.stop)  # a clean stop ends the session: a lock it held goes now, not at expiry
        report_session(app, zk, lambda: {"holds": lock_waits(counts.snapshot())})  # for the traffic monitor
    locks = group_path("locks", str(config.get("group", "flash_sale")))

    def key(kind: str, item: str) -> str:
        return f"{prefix}{kind}:{item}"

    @app.errorhandler(redis.RedisError)
    def store_down(exc):
        counts.add("errors")
        return error_response(503, f"the stock store (Redis) is unavailable: {type(exc).__name__}")

    @app.errorhandler(KazooException)
    def zookeeper_down(exc):
        counts.add("errors")
        return error_response(503, f"ZooKeeper did not answer, no lock: {type(exc).__name__}")

    def on_sale(item: str) -> None:
        if not store.exists(key("initial", item)):
            raise ApiError(404, f"no sale of {item!r}: an admin puts it on sale with PUT /_sale/{item}")

    def take(item: str, quantity: int) -> int | None:
        """Read the stock, work, write it minus `quantity`: the stock left, or None if there was not enough."""
        stock = store.get(key("stock", item))
        if stock is None:  # the sale ended meanwhile
            raise ApiError(404, f"no sale of {item!r}")
        left = int(stock)
        if left < quantity:
            return None
        time.sleep(work_ms / 1000)  # the window: another instance may read the same stock meanwhile
        store.set(key("stock", item), left - quantity)
        store.incrby(key("reserved", item), quantity)
        return left - quantity

    @app.post("/reservations")
    def reserve():
        body = read_json(item=Str(min=1, max=40), quantity=Int(required=False, default=1, min=1, max=10),
                         customer=Str(required=False, default="", max=64))
        item, quantity = checked_item(body["item"]), body["quantity"]
        on_sale(item)  # before any lock: a stranger's made-up items must not become nodes in ZooKeeper
        token = None
        if zk is None:
            left = take(item, quantity)
        else:
            began = time.perf_counter()
            try:
                with held(zk, f"{locks}/{item}", name, lock_timeout) as token:
                    counts.waited((time.perf_counter() - began) * 1000)
                    left = take(item, quantity)
            except LockUnavailable as exc:
                counts.add("lock_unavailable")
                raise ApiError(503, f"no lock on {item!r}: {exc}; try again") from None
        if left is None:
            counts.add("sold_out")
            raise ApiError(409, f"sold out: not {quantity} of {item!r} left", item=item)
        counts.add("accepted")
        answer = {"reserved": True, "item": item, "quantity": quantity, "left": left, "instance": name,
                  "customer": body["customer"], "locked": zk is not None}
        if token is not None:
            answer["lock_token"] = token
        return answer, 201

    @app.get("/sale/<item>")
    def sale(item: str):
        checked_item(item)
        stock, initial, reserved = store.mget(key("stock", item), key("initial", item), key("reserved", item))
        if initial is None:
            raise ApiError(404, f"no sale of {item!r}")
        initial, reserved = int(initial), int(reserved or 0)
        return {"item": item, "stock": int(stock) if stock is not None else None, "initial": initial,
                "reserved": reserved, "oversold": max(0, reserved - initial)}

    @app.get("/counts")
    def instance_counts():
        return {"instance": name, "lock": zk is not None, "work_ms": work_ms, **counts.snapshot()}

    @app.put("/_sale/<item>")
    def put_on_sale(item: str):
        require_admin()
        checked_item(item)
        body = read_json(stock=Int(min=0, max=MAX_STOCK))
        store.mset({key("stock", item): body["stock"], key("initial", item): body["stock"],
                    key("reserved", item): 0})
        return sale(item)

    @app.delete("/_sale/<item>")
    def end_sale(item: str):
        require_admin()
        checked_item(item)
        if not store.delete(key("stock", item), key("initial", item), key("reserved", item)):
            raise ApiError(404, f"no sale of {item!r}")
        if zk is not None:  # the lock's parent node, unless someone still holds or waits for the lock
            try:
                zk.delete(f"{locks}/{item}")
            except KazooException:  # NoNode (never locked), NotEmpty, or no ZooKeeper: it stays, harmless
                pass
        return {"item": item, "ended": True}

    return app
