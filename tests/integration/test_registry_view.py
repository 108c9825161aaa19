"""microcosm.registry_view: the tables chapter 04 shows of a real registry's list and event log."""
import time
import uuid

from microcosm.registry_view import event_table, events, listing


def test_listing_and_events_show_an_instance_that_registered_and_left(launch):
    registry = launch("registry", f"registry-{uuid.uuid4().hex[:6]}", traffic=False)
    mark = time.time()
    instance = {"id": "catalog-9", "url": "http://127.0.0.1:9", "ttl": 30}
    assert registry.post("/services/catalog/instances", json=instance).status_code == 201
    listed = listing(registry, "catalog")
    assert listed.columns[:3] == ("instance", "url", "TTL (s)")
    assert [row[:3] for row in listed.rows] == [("catalog-9", "http://127.0.0.1:9", 30.0)]
    assert float(listed.rows[0][5].split()[0]) > 29  # expires in: almost the whole TTL, a heartbeat ago
    assert registry.delete("/services/catalog/instances/catalog-9").status_code == 200
    assert listing(registry, "catalog").rows == []

    log = events(registry, mark)
    assert [(e["event"], e["id"]) for e in log] == [("registered", "catalog-9"), ("deregistered", "catalog-9")]
    assert events(registry, time.time() + 60) == []  # nothing from the future
    shown = event_table(log, mark)
    assert [row[1:4] for row in shown.rows] == [("registered", "catalog", "catalog-9"),
                                                ("deregistered", "catalog", "catalog-9")]
    assert all(row[0].startswith("+") and row[0].endswith(" s") for row in shown.rows)  # times since the mark
