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
    assert model.edges() == [  # rates over the 5 s since the first hop (less than the window)
        {"from": "client", "to": "orders", "kind": "call", "count": 5, "errors": 0, "rps": 1.0,
         "classes": {"2xx": 5}, "now": {"2xx": 5}},
        {"from": "orders", "to": "catalog", "kind": "call", "count": 5, "errors": 1, "rps": 1.0,
         "classes": {"2xx": 4, "5xx": 1}, "now": {"2xx": 4, "5xx": 1}},
    ]
    lat = model.latency()
    assert lat["orders"]["requests"] == 5 and lat["orders"]["p50"] == 12 and lat["orders"]["p99"] == 14
    assert lat["catalog"]["errors"] == 1


def test_the_window_forgets_old_hops_for_rates_but_counts_stay_and_the_inspector_keeps_requests():
    model = TrafficModel(window=10)
    model.add([hop("old", "x", "", "client", "orders", ts=100)], now=100)
    model.add([hop("new", "y", "", "client", "orders", ts=200)], now=200)
    assert model.edges()[0]["count"] == 2 and model.edges()[0]["rps"] == 0.1
    assert len(model.recent) == 1
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
    assert "5xx 1" in svg


def test_a_burst_is_a_burst_over_a_short_window():
    """16 requests in the last second read as 16/s with a 1 s window, not as 1.6/s averaged over 10 s."""
    model = TrafficModel(window=1)
    model.started = 0
    model.add([hop(f"q{i}", f"q{i}", "", "client", "gateway", ts=100 + i / 16) for i in range(16)], now=101)
    assert model.edges()[0]["rps"] == 16
    model.window = 10
    model.expire(101)
    assert model.edges()[0]["rps"] == 1.6


def test_status_classes_count_429s_and_refused_calls_apart():
    model = TrafficModel()
    model.add([hop("a", "a", "", "client", "gateway", status=200, ts=1),
               hop("b", "b", "", "client", "gateway", status=429, ts=1),
               hop("c", "c", "", "client", "gateway", status=404, ts=1),
               hop("d", "d", "", "client", "gateway", status=503, ts=1),
               {**hop("e", "e", "", "balancer", "catalog", status=502, ts=1, instance="catalog-3"),
                "error": "connection refused"}], now=2)
    edges = {(e["from"], e["to"]): e for e in model.edges()}
    assert edges[("client", "gateway")]["classes"] == {"2xx": 1, "4xx": 1, "429": 1, "5xx": 1}
    assert edges[("balancer", "catalog-3")]["classes"] == {"refused": 1}
    assert edges[("client", "gateway")]["errors"] == 1 and edges[("balancer", "catalog-3")]["errors"] == 1
    svg = topology_svg(model)
    assert "429 1" in svg and "refused 1" in svg


def test_control_plane_traffic_is_hidden_until_asked_for():
    model = TrafficModel()
    model.declare("registry", "registry")
    model.add([hop("a", "a", "", "client", "catalog", ts=1),
               {**hop("h", "h", "", "catalog", "registry", ts=1), "method": "PUT",
                "path": "/services/catalog/instances/catalog/heartbeat"},
               {**hop("j", "j", "", "gateway", "identity", ts=1), "path": "/.well-known/jwks.json"}], now=2)
    assert [(e["from"], e["to"]) for e in model.edges()] == [("client", "catalog")]
    assert "registry" in model.nodes() and "identity" not in model.nodes()  # running, but no traffic drawn
    assert model.hidden_control() == 2 and "2 control-plane hops hidden" in topology_svg(model)
    model.control = True
    assert {(e["from"], e["to"]) for e in model.edges()} == {
        ("client", "catalog"), ("catalog", "registry"), ("gateway", "identity")}
    assert model.hidden_control() == 0


def test_instances_carry_their_state_share_rate_and_failures():
    model = TrafficModel(window=10)
    model.started = 0
    hops = [hop(f"r{i}", f"h{i}", "", "balancer", "catalog", ts=100 + i / 10, instance=f"catalog-{i % 3 + 1}",
                ms=500 if i % 3 == 1 else 1) for i in range(30)]
    hops.append({**hop("x", "x", "", "balancer", "catalog", status=502, ts=103, instance="catalog-3"),
                 "error": "connection refused"})
    model.add(hops, now=104)
    model.set_states({"catalog-3": "down"})
    info = model.instances()
    assert info["catalog-1"]["state"] == "up" and info["catalog-2"]["state"] == "slow"  # 500 ms vs 1 ms
    assert info["catalog-3"]["state"] == "down" and info["catalog-3"]["failed"] == 1
    assert round(info["catalog-1"]["share"], 2) == 0.32 and info["catalog-1"]["rps"] == 1.0
    svg = topology_svg(model)
    assert 'data-node="catalog-3" data-state="down"' in svg and 'data-node="catalog-2" data-state="slow"' in svg
    assert "1 failed" in svg


def test_sub_millisecond_latency_reads_as_under_one_ms_not_zero():
    model = TrafficModel()
    model.add([hop("r", "a", "", "client", "catalog", ms=0.2, ts=1)], now=2)
    svg = topology_svg(model)
    assert "p50 &lt;1 ms" in svg and "p50 0 ms" not in svg


def test_a_stream_edge_with_lag_and_a_cache_with_its_hit_ratio():
    """Ready for the broker and CDN chapters: producer -> stream -> consumer group, and an edge cache."""
    model = TrafficModel()
    model.add([{**hop("r", "p", "", "orders", "orders-events", ts=1, instance=""), "kind": "publish"},
               {**hop("r", "d", "p", "orders-events", "shipping", ts=1, instance="shipping-1"),
                "caller_instance": "shippers", "kind": "deliver", "lag": "12"}]
              + [{**hop(f"c{i}", f"c{i}", "", "client", "cdn", ts=1, instance="cdn-1"),
                  "cache": "hit" if i < 3 else "miss"} for i in range(4)], now=2)
    assert model.kinds["orders-events"] == "stream" and model.lags("orders-events") == {"shippers": 12}
    assert model.nodes()["orders-events"] == ["shippers"]  # its rows are its consumer groups
    kinds = {(e["from"], e["to"]): e["kind"] for e in model.edges()}
    assert kinds[("orders", "orders-events")] == "publish"
    assert kinds[("orders-events/shippers", "shipping-1")] == "deliver"  # from the group's own node
    assert model.kinds["cdn"] == "cache" and model.hit_ratio("cdn") == 0.75
    svg = topology_svg(model)
    assert "lag 12" in svg and "hit 75%" in svg and 'data-kind="stream"' in svg
    assert svg.count('stroke-dasharray="6 4"') == 2  # asynchronous edges are dashed
    assert svg.count('marker-end="url(#mc-event-') == 2 and svg.count('marker-end="url(#mc-arrow-') == 1


def test_a_group_named_like_its_consumer_is_a_node_of_its_own_and_shares_stay_within_100_percent():
    """Chapter 07: group "inventory" on orders.events, consumed by the instance "inventory"; group "orders" on
    inventory.events, consumed by "orders", which also answers the client; two notifications share a group.
    Each delivery is an edge stream/group -> instance (not a call from an instance to itself), every instance
    stays in its own service, and the shares of a service's instances add up to 100%."""
    def deliver(i, stream, group, service, instance, lag):
        return {**hop(f"r{i}", f"d{i}{instance}", "", stream, service, ts=1000 + i / 10, instance=instance),
                "caller_instance": group, "kind": "deliver", "lag": str(lag)}

    hops = []
    for i in range(10):
        hops += [hop(f"r{i}", f"a{i}", "", "client", "orders", 202, ts=1000 + i / 10),
                 {**hop(f"r{i}", f"p{i}", "", "orders", "orders.events", ts=1000 + i / 10, instance="orders.events"),
                  "kind": "publish"},
                 deliver(i, "orders.events", "inventory", "inventory", "inventory", 0),
                 deliver(i, "orders.events", "notifications", "notifications", f"notifications-{i % 2 + 1}", 3),
                 {**hop(f"r{i}", f"q{i}", "", "inventory", "inventory.events", ts=1000 + i / 10,
                        instance="inventory.events"), "kind": "publish"},
                 deliver(i, "inventory.events", "orders", "orders", "orders", 0)]
    model = TrafficModel(window=10)
    model.add(hops, now=1002)
    model.set_groups({"orders.events/notifications": {"lag": 2, "pending": 1}, "bogus": "x"})
    kinds = {(e["from"], e["to"]): e["kind"] for e in model.edges()}
    assert kinds[("orders.events/inventory", "inventory")] == "deliver"
    assert kinds[("inventory.events/orders", "orders")] == "deliver"
    assert all(e["from"] != e["to"] for e in model.edges())  # no delivery drawn as a call to itself
    assert model.service_of["orders"] == "orders" and model.service_of["inventory"] == "inventory"
    assert model.nodes()["orders.events"] == ["inventory", "notifications"]
    assert model.groups("orders.events")["notifications"] == {
        "node": "orders.events/notifications", "lag": 2, "pending": 1, "rps": 5.0}
    assert model.consumers() == {"inventory", "notifications-1", "notifications-2", "orders"}
    instances = model.instances()
    assert "orders.events/inventory" not in instances  # a group is no instance
    shares = {n: i["share"] for n, i in instances.items() if i["share"] is not None}
    assert all(0 <= s <= 1 for s in shares.values()), shares
    assert shares["notifications-1"] + shares["notifications-2"] == 1 and shares["orders"] == 1
    svg = topology_svg(model)
    assert svg.count('data-kind="deliver"') == 4 and svg.count('data-kind="publish"') == 2
    assert "lag 2 · pending 1" in svg and "events through a stream" in svg


def test_the_layout_puts_callers_left_of_callees_and_keeps_every_box_apart():
    from microcosm.traffic.render.layout import layout

    sizes = {n: (100, 40 + 10 * (i % 3)) for i, n in enumerate(
        ["client", "lb", "gateway"] + [f"s{i:02d}" for i in range(20)])}
    edges = [("client", "lb"), ("lb", "gateway")] + [("gateway", f"s{i:02d}") for i in range(8)] \
        + [(f"s{i % 8:02d}", f"s{i:02d}") for i in range(8, 20)] + [("client", "s19"), ("s19", "s00")]
    placed = layout(sizes, edges, first="client")
    boxes = placed.boxes
    assert boxes["client"].layer == 0 and boxes["lb"].layer == 1 and boxes["gateway"].layer == 2
    assert all(boxes[a].layer < boxes[b].layer for a, b in edges if (a, b) not in placed.reversed)
    for a in boxes:
        for b in boxes:
            if a < b:
                pa, pb = boxes[a], boxes[b]
                assert (pa.x + pa.w <= pb.x or pb.x + pb.w <= pa.x or pa.y + pa.h <= pb.y or pb.y + pb.h <= pa.y), (a, b)
    assert placed.routes[("client", "s19")]  # a long edge has lanes through the columns it crosses


def test_classes_between_two_services_sum_over_their_instances_control_plane_included():
    model = TrafficModel()
    model.add([hop("a", "a", "", "client", "gateway", status=429, ts=1, instance="gateway-1"),
               hop("b", "b", "", "client", "gateway", status=200, ts=1, instance="gateway-2"),
               {**hop("j", "j", "", "gateway", "identity", ts=1), "path": "/.well-known/jwks.json"}], now=2)
    assert model.classes_between("client", "gateway") == {"2xx": 1, "429": 1}
    assert model.classes_between("gateway", "identity") == {"2xx": 1}  # hidden from the picture, still counted


def test_instance_states_from_the_kernel_s_processes():
    """Dead: down; stopped and forgotten (scaled down): down; given a delay with chaos(): slow."""
    from types import SimpleNamespace

    from microcosm.traffic.states import InstanceStates

    def proc(name, alive=True, faults=None):
        return SimpleNamespace(kind="service", name=name, service_name="catalog", alive=alive, faults=faults or {})

    processes = [proc("catalog-1"), proc("catalog-2", faults={"delay_ms": 500}), proc("catalog-3", alive=False)]
    states = InstanceStates().read(processes, known={"catalog-1", "catalog-2", "catalog-3", "catalog-4"})
    assert states == {"catalog-2": "slow", "catalog-3": "down", "catalog-4": "down"}
