"""A service's link to the broker: its outbox relay, its consumers, and a route that shows them.

    events = EventLink(app, db, config)              # config["events"]: the broker Redis's URL
    events.consume("orders.events", "inventory", {"OrderPlaced": reserve})   # reserve(conn, event): applied once
    with db.transaction() as conn:                   # the service's data and its event, together
        ...
        events.add(conn, "inventory.events", event("StockReserved", {...}))
    events.published()                               # after the commit: the relay publishes now

`GET /_events` says how far behind everything is (the outbox's unpublished rows, each consumer's counts, each
group's lag and pending entries); `PUT /_events {"relay_paused": true}` (launch secret only) holds events in
the outbox, so a cell can kill the service between its commit and the publish.
"""
from __future__ import annotations

from flask import Blueprint

from ..services.chaos import require_admin
from ..traffic.hops import new_hop_id
from ..services.inputs import Bool, read_json
from . import applied, outbox
from .consumer import Consumer
from .streams import connect

SCHEMA = applied.SCHEMA + outbox.SCHEMA  # add to the service's own schema


class EventLink:
    def __init__(self, app, db, config: dict):
        self.url, self.db = config["events"], db
        self.instance = str(config.get("name") or app.name)
        self.max_deliveries = int(config.get("max_deliveries", 5))
        self.claim_idle = float(config.get("claim_idle", 5.0))
        self.service, self.hops = app.name, app.extensions.get("hops")
        self.relay = outbox.Relay(db, self.url, observe=self._published if self.hops else None).start()
        self.consumers: list[Consumer] = []
        app.register_blueprint(self._routes())

    # --- hops for the traffic monitor: a publish into a stream, a delivery out of it to a group ---------------
    def _published(self, event, stream: str, ms: float) -> None:
        self.hops.record(request_id=event.request_id, hop=new_hop_id(), parent="", caller=self.service,
                         caller_instance=self.instance, callee=stream, instance=stream, method="PUBLISH",
                         path=event.type, status=200, ms=round(ms, 3), error="", kind="publish")

    def _delivered(self, stream: str, group: str):
        def observe(event_type, request_id, status, ms, lag) -> None:
            self.hops.record(request_id=request_id or new_hop_id(), hop=new_hop_id(), parent="", caller=stream,
                             caller_instance=group, callee=self.service, instance=self.instance, method="DELIVER",
                             path=event_type, status=status, ms=round(ms, 3), error="", kind="deliver",
                             lag="" if lag is None else lag)
        return observe

    def consume(self, stream: str, group: str, handlers: dict, before=None) -> Consumer:
        """Start a consumer of `group` on `stream`, named after this instance. `handlers` map event types to side
        effects `f(conn, event)` in this service's database, each applied once (a batch in one transaction);
        `before(event)`, if given, is work outside the database done first (consumer.py)."""
        consumer = Consumer(self.url, stream, group, self.instance, handlers, db=self.db, before=before,
                            committed=self.relay.wake, max_deliveries=self.max_deliveries,
                            claim_idle=self.claim_idle,
                            observe=self._delivered(stream, group) if self.hops else None).start()
        self.consumers.append(consumer)
        return consumer

    @staticmethod
    def add(conn, stream: str, event) -> None:
        outbox.add(conn, stream, event)

    def published(self) -> None:
        self.relay.wake()

    def status(self) -> dict:
        groups = {}
        try:
            r = connect(self.url)
            for stream in {c.stream for c in self.consumers}:
                for g in r.xinfo_groups(stream):
                    if g["name"] in {c.group for c in self.consumers}:
                        groups[f"{stream}/{g['name']}"] = {"pending": g["pending"], "lag": g.get("lag")}
        except Exception as exc:  # the broker is down: say so, the rest is still true
            groups = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        return {"outbox": {"unpublished": self.relay.pending(), "published": self.relay.published,
                           "relay_paused": self.relay.paused},
                "consumers": [{"stream": c.stream, "group": c.group, "name": c.name, **c.counts}
                              for c in self.consumers],
                "groups": groups}

    def _routes(self) -> Blueprint:
        routes = Blueprint("events", __name__)

        @routes.get("/_events")
        def events_status():
            return self.status()

        @routes.put("/_events")
        def events_control():
            require_admin()
            body = read_json(relay_paused=Bool())
            self.relay.paused = body["relay_paused"]
            if not self.relay.paused:
                self.relay.wake()
            return self.status()

        return routes
