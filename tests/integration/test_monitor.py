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


def test_the_gateway_fetching_the_jwks_is_drawn_as_its_own_control_plane_call(launch, redis_server):
    """The fetch happens inside the gateway's request, so the provider's hop names the gateway (not a
    'client'), and the monitor files it under the control plane: hidden by default, counted when asked."""
    identity = launch("identity")
    gateway = launch("gateway", identity_url=identity.url, rate_limit=False)
    monitor = Monitor(redis_server.client(decode_responses=False), live=False)
    assert identity.post("/users", json={"username": "ada", "password": "correct horse battery"}).status_code == 201
    token = identity.post("/token", data={"grant_type": "password", "username": "ada",
                                          "password": "correct horse battery"}).json()["access_token"]
    gateway.get("/api/orders", headers={"Authorization": f"Bearer {token}"})  # checks the token: fetches the JWKS
    deadline = time.monotonic() + 10
    while not monitor.model.classes_between("gateway", "identity") and time.monotonic() < deadline:
        time.sleep(0.1)
        monitor.refresh()
    assert monitor.model.classes_between("gateway", "identity") == {"2xx": 1}
    drawn = {(monitor.model.service_of[e["from"]], monitor.model.service_of[e["to"]]) for e in monitor.model.edges()}
    assert ("gateway", "identity") not in drawn and ("client", "identity") in drawn  # /users and /token are drawn
    assert monitor.model.hidden_control() >= 1
    monitor.model.control = True
    assert ("gateway", "identity") in {(monitor.model.service_of[e["from"]], monitor.model.service_of[e["to"]])
                                       for e in monitor.model.edges()}
