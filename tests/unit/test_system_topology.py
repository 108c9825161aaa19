"""A topology is checked when it is made: what cannot run is a TopologyError that names the component and says
what to change; what can run has a start order in which everything comes after what it needs."""
from __future__ import annotations

import pytest

from microcosm.system import SYSTEM, Component, Topology, TopologyError, url, urls
from microcosm.system.bring_up import as_topology


def positions(topology: Topology) -> dict[str, int]:
    return {c.name: i for i, c in enumerate(topology.order())}


def test_the_whole_system_starts_everything_after_what_it_needs():
    order = positions(SYSTEM)
    for c in SYSTEM:
        for dep in SYSTEM.needs(c.name):
            assert order[dep] < order[c.name], (dep, c.name)
    assert order["redis"] < order["registry"] < order["catalog"] < order["catalog-lb"] < order["orders"]
    assert order["web"] < order["cdn"] < order["gateway"]  # the gateway allows the CDN's origin (CORS)
    assert {"identity", "catalog-lb", "orders", "carts", "cdn", "web"} <= set(SYSTEM.needs("gateway"))
    assert SYSTEM["catalog"].instance_names() == ["catalog-1", "catalog-2"]
    assert SYSTEM.instance_count() == 14


def test_redis_and_the_registry_come_first_without_being_named():
    shop = Topology(Component("catalog"), Component("registry"), Component("redis"))
    assert [c.name for c in shop.order()] == ["redis", "registry", "catalog"]
    assert shop.needs("registry") == ["redis"] and shop.needs("redis") == []


def test_a_component_is_in_a_topology_by_its_name():
    shop = Topology(Component("redis"), Component("catalog"))
    assert "redis" in shop and shop["catalog"] in shop
    assert "registry" not in shop and Component("orders") not in shop


def test_a_built_in_services_needs_are_filled_from_the_component_of_that_name():
    shop = Topology(Component("redis"), Component("carts"), Component("catalog"), Component("orders"))
    assert shop["carts"].options["redis_url"] == url("redis")
    assert shop["orders"].options["catalog_url"] == url("catalog")
    assert positions(shop)["catalog"] < positions(shop)["orders"]


def test_an_unknown_service_names_the_built_in_ones():
    with pytest.raises(TopologyError, match=r"'shop': unknown service 'warehouse'.*catalog.*gateway"):
        Topology(Component("shop", "warehouse"))


def test_a_missing_python_file_is_named():
    with pytest.raises(TopologyError, match=r"'mine': no file .*nowhere\.py"):
        Topology(Component("mine", "/nowhere/nowhere.py"))


@pytest.mark.parametrize("count", [0, -1, 2.5, "2", True, 17, None])
def test_a_bad_count_is_refused(count):
    with pytest.raises(TopologyError, match=r"'catalog': count is a whole number of instances from 1 to 16"):
        Topology(Component("catalog", count=count))


def test_redis_and_zookeeper_are_one_server_each():
    with pytest.raises(TopologyError, match="'zookeeper' is this kernel's one zookeeper server"):
        Topology(Component("zookeeper", count=3))


def test_a_component_nobody_runs_is_named_with_the_one_that_needs_it():
    with pytest.raises(TopologyError, match=r"'gateway' needs 'identity', which is not in the topology"):
        Topology(Component("redis"), Component("gateway", identity_url=url("identity")))
    with pytest.raises(TopologyError, match=r"'orders' needs 'catalog'"):
        Topology(Component("orders"))  # orders must know a catalog (services.NEEDS), and none runs
    with pytest.raises(TopologyError, match=r"'carts' needs 'redis'"):
        Topology(Component("carts"))


def test_one_url_of_several_instances_is_refused_with_what_to_do_instead():
    with pytest.raises(TopologyError, match=r"'orders' asks for the one URL of 'catalog', which runs 2 instances: "
                                            r"use urls\('catalog'\).*balancer"):
        Topology(Component("catalog", count=2), Component("orders", catalog_url=url("catalog")))
    ok = Topology(Component("catalog", count=2), Component("lb", "balancer", upstream="catalog",
                                                           backends=urls("catalog")))
    assert ok.needs("lb") == ["catalog"]


def test_a_cycle_is_spelled_out():
    with pytest.raises(TopologyError, match=r"a cycle: (a -> c -> b -> a|c -> b -> a -> c|b -> a -> c -> b) "
                                            r"\(each needs the next to run first\)"):
        Topology(Component("a", "catalog", after=["c"]), Component("b", "catalog", after=["a"]),
                 Component("c", "catalog", after=["b"]))  # a needs c, c needs b, b needs a


def test_then_steps_name_components_without_ordering_them():
    both = Topology(Component("web", then=[("PUT", "/_web/config", {"gateway_url": url("gateway")})]),
                    Component("redis"), Component("gateway", cors_origins=[url("web")]))
    assert positions(both)["web"] < positions(both)["gateway"]  # no cycle: then= runs once both are up
    with pytest.raises(TopologyError, match=r"'web' needs 'gateway'"):
        Topology(Component("web", then=[("PUT", "/_web/config", {"gateway_url": url("gateway")})]))
    with pytest.raises(TopologyError, match=r"each step of then= is \(method, '/path', json body\)"):
        Topology(Component("web", then=[("GET", "/x", {})]))


def test_names_are_checked_and_instances_never_share_one():
    with pytest.raises(TopologyError, match="two components are called 'catalog'"):
        Topology(Component("catalog"), Component("catalog"))
    with pytest.raises(TopologyError, match=r"would both run an instance called 'catalog-1'"):
        Topology(Component("catalog", count=2), Component("catalog-1", "catalog"))
    for bad in ("Catalog", "../x", "", "a b", "x" * 41):
        with pytest.raises(TopologyError, match="component name"):
            Topology(Component(bad, "catalog"))
    with pytest.raises(TopologyError, match="made of Component"):
        Topology("catalog")


def test_only_keeps_what_a_component_needs_and_scaled_changes_counts():
    part = SYSTEM.only("orders")
    assert {c.name for c in part} == {"redis", "registry", "catalog", "catalog-lb", "orders"}
    bigger = SYSTEM.scaled(catalog=3, catalog_lb=1)
    assert bigger["catalog"].count == 3 and bigger.instance_count() == SYSTEM.instance_count() + 1
    with pytest.raises(TopologyError, match="no component 'warehouse' here"):
        SYSTEM.only("warehouse")
    with pytest.raises(TopologyError, match="count is a whole number"):
        SYSTEM.scaled(catalog=0)


def test_a_dict_or_a_list_is_a_topology_too():
    from_dict = as_topology({"redis": {}, "catalog": {"count": 2},
                             "lb": {"service": "balancer", "upstream": "catalog", "backends": urls("catalog")}})
    from_list = as_topology([Component("redis"), Component("catalog", count=2),
                             Component("lb", "balancer", upstream="catalog", backends=urls("catalog"))])
    assert from_dict == from_list and from_dict != SYSTEM
    assert as_topology(None) is SYSTEM
    with pytest.raises(TopologyError, match="up\\(\\) takes a Topology"):
        as_topology("catalog")
    assert as_topology({"redis": 1, "catalog": 2}) == Topology(Component("redis"), Component("catalog", count=2))
    with pytest.raises(TopologyError, match="'catalog': its options are a count or a dict"):
        Topology.from_dict({"catalog": "two"})


def test_a_topology_shows_its_start_order_as_a_table():
    page = SYSTEM._repr_html_()
    assert page.index("<td>redis</td>") < page.index("<td>catalog-lb</td>") < page.index("<td>gateway</td>")
    assert "Component('catalog', count=2)" in repr(SYSTEM)
