"""The live monitor, fed by real services through real Redis: its model and what it would show."""
import time

import pytest

import microcosm
from microcosm.traffic.monitor import Monitor


def test_the_monitor_sees_known_traffic(orders, catalog, redis_server):
    monitor = Monitor(redis_server.client(decode_responses=False), live=False)
    for _ in range(10):
        assert orders.post("/orders", json={"product_id": 2, "quantity": 1}).status_code == 201
    deadline = time.monotonic() + 10
    while monitor.model.total < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
        monitor.refresh()
    assert monitor.model.total == 20
    nodes = monitor.model.nodes()
    assert nodes["orders"] == [orders.name] and nodes["catalog"] == [catalog.name]
    edges = {(e["from"], e["to"]): e for e in monitor.model.edges()}
    assert edges[("client", orders.name)]["count"] == 10 and edges[(orders.name, catalog.name)]["count"] == 10
    assert "<svg" in monitor.topology.value and "orders" in monitor.stats.value
    slowest = monitor.show_slowest()
    assert slowest in monitor.pick.options and "POST /orders" in monitor.inspector.value
    bundle = monitor._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "<svg" in bundle["text/html"]


def test_the_monitor_only_shows_traffic_from_after_it_started(orders, redis_server):
    orders.post("/orders", json={"product_id": 1, "quantity": 1})
    time.sleep(0.5)  # let the hop reach Redis
    monitor = Monitor(redis_server.client(decode_responses=False), live=False)
    assert monitor.model.total == 0


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"refresh": -1}])
def test_impossible_monitor_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="positive"):
        microcosm.monitor(**kwargs)
