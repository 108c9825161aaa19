"""The same scorecard from the services' side: the hop records (microcosm/traffic/hops.py) a service wrote for
the requests it answered, as observations `slo.scorecard` can judge.

    card = scorecard(answered(redis.client(), "catalog", t0, t1))    # whoever sent them: Locust, a page, a cell

What it cannot see, and the shoppers' own record can: a request to a dead service leaves no hop (nothing
answered it), and a frozen one's hop comes only once it answers after `resume`. Each hop's time is the
service's own, without the network and the queue before it: for the same requests, never more than the time
the client waited. Hops reach Redis in batches about a tenth of a second after the answer.
"""
from __future__ import annotations

from ..traffic.hops import STREAM, parse
from .shoppers import Observation

LATE = 5.0  # seconds after `until` a hop of the window may still be added to the stream (batches, a slow Redis)


def answered(client, service: str, since: float, until: float, *, stream: str = STREAM,
             count: int = 100_000) -> list[Observation]:
    """Observations of the requests `service` (a service's name, or one instance's) answered that started in
    [since, until), read from the hop stream (stream ids are the milliseconds they were added at)."""
    entries = client.xrange(stream, min=str(int(since * 1000)), max=str(int((until + LATE) * 1000)), count=count)
    out = []
    for _, fields in entries:
        hop = parse(fields)
        if service not in (hop.get("callee"), hop.get("instance")) or hop.get("kind") not in (None, "", "call"):
            continue
        if since <= hop["ts"] < until:
            out.append(Observation(hop["ts"], f"{hop.get('method', '')} {hop.get('path', '')}", hop["status"],
                                   hop["ms"]))
    return out
