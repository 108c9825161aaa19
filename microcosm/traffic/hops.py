"""Hop records: one per request a service answers (or fails to reach), written to a bounded Redis stream.

A hop says: request id, this hop's id and its parent's (so a request's path is a tree), caller and callee
(service and instance), method, path, status, duration and time. Services record hops *off* the request's
path: `record()` only appends to an in-memory buffer, and a background thread sends batches to Redis. If Redis
is down or slow, batches are dropped (and counted) and requests never wait for it.
"""
from __future__ import annotations

import atexit
import threading
import time
import uuid
from collections import deque

import hiredis
import redis as redis_py

STREAM = "microcosm:hops"
MAX_RECORDS = 20_000  # the stream is trimmed to about this many hops
MAX_FIELD = {"path": 512, "error": 512}  # characters kept per field (never fewer than 128); any other text field: 128
FIELDS = ("request_id", "hop", "parent", "caller", "caller_instance", "callee", "instance",
          "method", "path", "status", "ms", "ts", "error")
# optional, for the chapters to come: kind ("publish" into a stream, "deliver" from it to a consumer group,
# whose name is then the caller_instance; "session": a ZooKeeper session's state, see session_hops.py), lag (the
# group's undelivered entries), cache ("hit", "miss", and from the cdn edge also "stale", "revalidated", "pass"
# for what it passed through uncached) with bytes (body bytes sent to the client) and region (the edge's); a
# session hop's session, state, lost, timeout, holds, token
OPTIONAL_FIELDS = ("kind", "lag", "cache", "bytes", "region", "session", "state", "lost", "timeout", "holds",
                   "token")


def _flat(hop: dict):
    """A hop's fields and values as XADD takes them: numbers and text as they are, None as "", anything else as text."""
    for key, value in hop.items():
        yield key
        yield value if type(value) in _PACKABLE else ("" if value is None else str(value))


_PACKABLE = (str, int, float)


def new_hop_id() -> str:
    return uuid.uuid4().hex[:12]


def _read_replies(connection, count: int):
    """Read `count` replies from a redis-py connection's socket with one hiredis Reader: the first error reply,
    or None. Raises redis's ConnectionError when the socket closes or times out first (socket_timeout)."""
    sock = getattr(connection, "_sock", None)
    if sock is None:
        raise redis_py.ConnectionError("no connection to Redis")
    reader, failed = hiredis.Reader(), None
    while count:
        try:
            data = sock.recv(65536)
        except OSError as exc:
            raise redis_py.ConnectionError(f"reading Redis's replies: {exc}") from None
        if not data:
            raise redis_py.ConnectionError("Redis closed the connection")
        reader.feed(data)
        try:
            while count and (reply := reader.gets()) is not False:
                count -= 1
                if failed is None and isinstance(reply, hiredis.ReplyError):
                    failed = reply
        except hiredis.ProtocolError as exc:
            raise redis_py.ConnectionError(f"Redis's replies could not be read: {exc}") from None
    if reader.has_data():
        raise redis_py.ConnectionError("Redis sent more than the replies to the batch")
    return failed


class HopRecorder:
    """Buffers hops in memory and ships them to Redis in batches from one background thread."""

    def __init__(self, redis_url: str, stream: str = STREAM, max_records: int = MAX_RECORDS,
                 flush_every: float = 0.1, buffer_size: int = 10_000):
        self.stream, self.max_records, self.flush_every = stream, max_records, flush_every
        self.client = redis_py.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.3)
        self.buffer: deque = deque(maxlen=buffer_size)  # full: the oldest unsent hops are dropped
        self.sent = self.dropped = 0
        self.redis_ok = True
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="microcosm-hops", daemon=True)
        self._thread.start()
        atexit.register(self.flush)  # a clean stop sends what is buffered; a crash loses at most ~0.1 s

    def record(self, **hop) -> None:
        """Queue one hop. Never blocks, never raises."""
        hop.setdefault("ts", time.time() - float(hop.get("ms") or 0) / 1000)  # when the hop started
        for key, value in hop.items():  # whatever a client sent (a path, a method), a record stays small
            if isinstance(value, str) and len(value) > 128 and len(value) > MAX_FIELD.get(key, 128):  # 128: the least
                hop[key] = value[:MAX_FIELD.get(key, 128)] + "…"
        if len(self.buffer) == self.buffer.maxlen:
            self.dropped += 1
        self.buffer.append(hop)

    def _take_batch(self, limit: int = 500) -> list[dict]:
        batch = []
        while self.buffer and len(batch) < limit:
            batch.append(self.buffer.popleft())
        return batch

    def _send(self, batch: list[dict]) -> None:
        """One XADD per hop (trimmed to about max_records), all written to Redis at once, then every reply read.

        The commands are packed by hiredis's C code and the replies read by one hiredis Reader fed from the
        socket, not through redis-py's pipeline or its read_response per reply: that machinery cost about 28 us
        of this process's CPU per hop, and the sender thread shares the interpreter with the service it runs in
        (with hop records on, the balancer spent a fifth more CPU per request). A reply that is an error fails
        the batch (RedisError) once all are read; a connection that could not be read to the end is dropped."""
        head = ("XADD", self.stream, "MAXLEN", "~", self.max_records, "*")
        packed = b"".join(hiredis.pack_command(head + tuple(_flat(hop))) for hop in batch)
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command([packed])
            failed = _read_replies(connection, len(batch))
            if failed is not None:
                raise redis_py.ResponseError(str(failed))
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def _run(self) -> None:
        pause = self.flush_every
        while not self._stopping:
            self._wake.wait(pause)
            self._wake.clear()
            batch = self._take_batch()
            if not batch:
                continue
            try:
                self._send(batch)
                self.sent += len(batch)
                self.redis_ok, pause = True, self.flush_every
            except redis_py.RedisError:
                self.dropped += len(batch)  # the view loses the outage; the service keeps answering
                self.redis_ok, pause = False, min(1.0, pause * 2)

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is buffered now (for tests and clean stops)."""
        deadline = time.monotonic() + timeout
        while self.buffer and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.01)

    def stats(self) -> dict:
        return {"sent": self.sent, "dropped": self.dropped, "buffered": len(self.buffer), "redis_ok": self.redis_ok}


def parse(fields: dict) -> dict:
    """A hop as read back from the stream, with numbers as numbers."""
    hop = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in fields.items()}
    hop = {(k.decode() if isinstance(k, bytes) else k): v for k, v in hop.items()}
    hop["status"] = int(hop.get("status") or 0)
    hop["ms"] = float(hop.get("ms") or 0)
    hop["ts"] = float(hop.get("ts") or 0)
    return hop


def read_hops(client, stream: str = STREAM, since: str = "0", count: int = 10_000) -> tuple[list[dict], str]:
    """Hops after stream id `since`, and the last id read (pass it back to read only newer ones)."""
    entries = client.xrange(stream, min=f"({since}" if since != "0" else "-", count=count)
    last = since
    hops = []
    for entry_id, fields in entries:
        last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        hops.append(parse(fields))
    return hops, last


def newest_hops(client, count: int = 1000, stream: str = STREAM) -> list[dict]:
    """The `count` most recent hops, oldest first."""
    return [parse(fields) for _, fields in reversed(client.xrevrange(stream, count=count))]
