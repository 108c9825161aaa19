"""The monitor's model: what it knows after known traffic (not pixels)."""
from microcosm.traffic.model import TrafficModel
from microcosm.traffic.render import topology_svg, waterfall


def hop(rid, hop_id, parent, caller, callee, status=200, ms=1.0, ts=1000.0, instance=None):
    return {"request_id": rid, "hop": hop_id, "parent": parent, "caller": caller, "caller_instance": caller,
            "callee": callee, "instance": callee if instance is None else instance, "method": "GET", "path": "/",
            "status": status, "ms": ms, "ts": ts, "error": ""}


def test_nodes_edges_and_counts_after_known_traffic():
    model = TrafficModel(window=10)
    hops = []
    for i in range(5):
        hops += [hop(f"r{i}", f"a{i}", "", "client", "orders", 201, 10 + i, 1000 + i),
                 hop(f"r{i}", f"b{i}", f"a{i}", "orders", "catalog", 500 if i == 4 else 200, 2, 1000.001 + i)]
    model.add(hops, now=1005)
    assert model.nodes() == {"client": ["client"], "catalog": ["catalog"], "orders": ["orders"]}
    assert model.edges() == [
        {"from": "client", "to": "orders", "count": 5, "errors": 0, "rps": 0.5},
        {"from": "orders", "to": "catalog", "count": 5, "errors": 1, "rps": 0.5},
    ]
    lat = model.latency()
    assert lat["orders"]["requests"] == 5 and lat["orders"]["p50"] == 12 and lat["orders"]["p99"] == 14
    assert lat["catalog"]["errors"] == 1


def test_the_window_forgets_old_hops_but_the_inspector_keeps_requests():
    model = TrafficModel(window=10)
    model.add([hop("old", "x", "", "client", "orders", ts=100)], now=100)
    model.add([hop("new", "y", "", "client", "orders", ts=200)], now=200)
    assert model.edges()[0]["count"] == 1
    assert set(model.requests) == {"old", "new"}


def test_a_trace_is_the_call_tree_depth_first_and_the_slowest_is_found():
    model = TrafficModel()
    model.add([hop("r", "c", "b", "orders", "catalog", ts=3, ms=1), hop("r", "a", "", "client", "carts", ts=1, ms=9),
               hop("r", "b", "a", "carts", "orders", ts=2, ms=5), hop("q", "z", "", "client", "carts", ts=1, ms=2)],
              now=5)
    assert [(h["callee"], h["depth"]) for h in model.trace("r")] == [("carts", 0), ("orders", 1), ("catalog", 2)]
    assert model.slowest(2) == ["r", "q"]
    assert "carts → orders" in waterfall(model, "r").replace("&nbsp;", "")


def test_the_topology_draws_every_instance_and_marks_errors():
    model = TrafficModel()
    model.declare("catalog", "catalog-2")
    model.add([hop("r", "a", "", "client", "catalog", status=503, instance="catalog-1", ts=1)], now=2)
    svg = topology_svg(model)
    assert svg.startswith("<svg") and "catalog-1" in svg and "catalog-2" in svg and "#cf222e" in svg
