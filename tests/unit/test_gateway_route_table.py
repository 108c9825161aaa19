"""routing.RouteTable: the asyncio front finds a path's route by prefix, as the Flask app's URL map would, and
leaves to the URL map every prefix another rule of the app could also match (front/plain.py's by_url_map)."""
from __future__ import annotations

import pytest

from microcosm.services.gateway.app import create_app
from microcosm.services.gateway.front.plain import by_url_map
from microcosm.services.gateway.routing import DEFAULT_ROUTES, Route, RouteTable


def route(prefix: str) -> Route:
    return Route(prefix, "svc", "/", {"GET": None})


@pytest.mark.parametrize("segments, expected", [
    (["api", "orders", "7"], ("/api/orders", "/api/orders/<path:rest>")),
    (["api", "orders"], ("/api/orders", "/api/orders")),
    (["api", "carts", "ada", "items", "1"], ("/api/carts", "/api/carts/<path:rest>")),
    (["api"], None),
    ([], None),
    (["api", "order"], None),
    (["api", "Orders", "7"], None),  # static parts are compared as they are, as werkzeug does
    (["x", "api", "orders"], None),
])
def test_a_path_is_matched_by_its_prefix_and_the_url_rule_it_falls_under(segments, expected):
    found = RouteTable(DEFAULT_ROUTES).match(segments)
    assert (found[0].prefix, found[1]) == expected if expected else found is None


def test_the_longest_prefix_wins():
    table = RouteTable([route("/api"), route("/api/deep/er")])
    assert table.match(["api", "deep", "er", "1"])[0].prefix == "/api/deep/er"
    assert table.match(["api", "deep", "1"])[0].prefix == "/api"


def test_the_url_rules_are_two_per_route_named_as_the_blueprint_names_them():
    rules = list(RouteTable(DEFAULT_ROUTES[:1]).url_rules())
    assert [(r, e) for r, e, _ in rules] == [("/api/products", "route_0"),
                                             ("/api/products/<path:rest>", "route_0_rest")]


@pytest.mark.parametrize("prefix", ["/api/x/", "/api//x", "api/x", "/api/<id>", "/api/caf%C3%A9"])
def test_a_prefix_that_is_not_a_plain_path_is_left_to_the_url_map(prefix):
    table = RouteTable([route(prefix)])
    assert not table.plain(table.routes[0])
    assert by_url_map(table, []) == {prefix}


@pytest.mark.parametrize("routes, left", [
    ([], set()),  # the default table: nothing else of the app's can match under its prefixes
    ([{"prefix": "/api"}], {"/api", "/api/products", "/api/orders", "/api/carts"}),  # /api holds /api/stock/<sku>...
    ([{"prefix": "/api/stock"}], {"/api/stock"}),  # translation's /api/stock/<int:sku> is under it
    ([{"prefix": "/api/products/special"}], {"/api/products", "/api/products/special"}),  # nested prefixes
    ([{"prefix": "/api/mobile"}], {"/api/mobile"}),  # the BFF's static /api/mobile/home is under it
    ([{"prefix": "/api/mob"}], set()),  # a segment is compared whole
])
def test_a_prefix_another_rule_of_the_app_could_match_is_left_to_the_url_map(routes, left):
    config = {"rate_limit": False, "upstreams": {"catalog": "http://127.0.0.1:9"},
              "routes": [{"service": "svc", "path": "/", "methods": {"GET": None}, **r} for r in routes]}
    app = create_app(config)
    table = RouteTable(app.extensions["gateway.parts"].routes)
    own = {f"gateway_routes.{endpoint}" for _, endpoint, _ in table.url_rules()}
    assert by_url_map(table, [r.rule for r in app.url_map.iter_rules() if r.endpoint not in own]) == left


def test_a_converter_where_a_prefix_goes_on_leaves_it_to_the_url_map():
    table = RouteTable([route("/api/products"), route("/shop/items")])
    assert by_url_map(table, ["/<path:anything>"]) == {"/api/products", "/shop/items"}
    assert by_url_map(table, ["/api/<int:id>"]) == {"/api/products"}
    assert by_url_map(table, ["/api/prod<x>"]) == {"/api/products"}  # a converter inside a segment too
    assert by_url_map(table, ["/api"]) == set()  # a static rule above the prefix matches only itself

