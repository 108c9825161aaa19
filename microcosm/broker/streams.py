"""Redis Streams as the broker: publish an event, make a consumer group, and the dead-letter stream.

A stream is an append-only log in Redis (`XADD`); each consumer group reads it at its own pace and must
acknowledge (`XACK`) what it has handled. What a group keeps failing on goes to the stream's dead-letter stream,
`<stream>.dead`, with the reason, where a cell can look at it and, once the cause is fixed, replay it.
"""
from __future__ import annotations

import redis as redis_lib

from .envelope import Event

MAXLEN = 100_000  # entries kept per stream (approximately): a stream must not grow without bound
DEAD = ".dead"


def connect(url: str):
    """A client for the broker's Redis; short timeouts, so a dead Redis is noticed, not waited on."""
    return redis_lib.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                                    health_check_interval=10)


def publish(r, stream: str, event: Event) -> str:
    """Append `event` to `stream`; returns the entry's id. Once this returns, Redis has it (how durably:
    its appendfsync setting)."""
    return r.xadd(stream, event.fields(), maxlen=MAXLEN, approximate=True)


def ensure_group(r, stream: str, group: str) -> None:
    """Create `group` on `stream` (and the stream) if missing. A new group starts at the stream's beginning:
    events published before the consumers first started are theirs too."""
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
    except redis_lib.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def dead_letter(r, stream: str, group: str, entry_id: str, fields: dict, reason: str, deliveries: int) -> str:
    """Put a failed entry on `<stream>.dead` with why, which group gave up, and after how many deliveries."""
    meta = {"dead_reason": reason[:500], "dead_group": group, "dead_from": entry_id, "dead_deliveries": str(deliveries)}
    safe = {str(k)[:100]: str(v)[:20_000] for k, v in list((fields or {}).items())[:20] if not str(k).startswith("dead_")}
    return r.xadd(stream + DEAD, {**safe, **meta}, maxlen=MAXLEN, approximate=True)


def dead_letters(r, stream: str, count: int = 100) -> list[dict]:
    """What is on the dead-letter stream of `stream`, oldest first: each entry's id and fields."""
    return [{"id": entry_id, **fields} for entry_id, fields in r.xrange(stream + DEAD, count=count)]


def replay(r, stream: str, dead_id: str) -> str:
    """Publish a dead letter again on its stream (same event_id: a consumer that applied it applies it once),
    then remove it from the dead-letter stream; returns the new entry's id."""
    found = r.xrange(stream + DEAD, min=dead_id, max=dead_id)
    if not found:
        raise KeyError(f"no dead letter {dead_id} on {stream + DEAD}")
    fields = {k: v for k, v in found[0][1].items() if not k.startswith("dead_")}
    new_id = r.xadd(stream, fields, maxlen=MAXLEN, approximate=True)
    r.xdel(stream + DEAD, dead_id)
    return new_id
