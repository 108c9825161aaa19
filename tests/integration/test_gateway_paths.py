"""A public path maps to exactly one upstream path: every route of a live gateway, in front of real carts,
catalog, orders and legacy stock (and an echo service that reports the raw request line it received), against
every way of encoding a walk out of the path we could think of.

Requests go out over a raw socket: `requests` and `http.client` normalise or refuse some of these paths
before they leave, and the point is to send exactly these bytes. Each refused request must be a JSON 400 (or
404 for an internal `_` route), and the upstreams must show that nothing got through: bob's cart is intact
after alice's DELETE and PUT attempts, carts' /_chaos is untouched, and the echo service saw no request.
"""
from __future__ import annotations

import os

import pytest

from microcosm import trust
from microcosm.services.gateway import paths
from raw_http import raw_request

BOBS_CART = {"user": "bob", "items": [{"product_id": 7, "quantity": 3}]}


@pytest.fixture
def bob(world):
    """bob's cart holds one item, put there directly at carts (not through the gateway)."""
    world.carts.delete("/carts/bob")
    assert world.carts.put("/carts/bob/items/7", json={"quantity": 3}).status_code == 200
    return world


def admin_headers() -> dict:
    secret = os.environ.get(trust.ENV)
    return {trust.ADMIN_HEADER: secret} if secret else {}


def echo_seen(world) -> list:
    return world.echo.get("/seen").json()["seen"]


def assert_nothing_got_through(world, echo_before: int) -> None:
    """bob's cart as it was, carts still serving and its chaos settings untouched, no request at the echo."""
    cart = world.carts.get("/carts/bob")
    assert cart.status_code == 200 and cart.json() == BOBS_CART, cart.text
    chaos = world.carts.get("/_chaos", headers=admin_headers())
    if chaos.status_code == 200:  # with the launch secret in this process's environment
        assert chaos.json() == {"delay_ms": 0, "fail_next": 0, "fail_rate": 0.0, "fail_status": 503}
    seen = echo_seen(world)
    assert seen[echo_before:] == [], seen[echo_before:]


def assert_json_refusal(status, headers, body, expected: tuple) -> None:
    assert status in expected, (status, body)
    assert headers["Content-Type"].startswith("application/json"), body
    assert body["status"] == status and body["message"] and body["error"], body


# --- the table: every route x every encoding ---------------------------------------------------------------------
# (public path of a resource alice may reach, methods to try). {walk} is replaced by each walk below.
ROUTES = {
    "carts": ("/api/carts/alice{walk}", ["GET", "PUT", "DELETE"]),
    "carts-root": ("/api/carts{walk}", ["GET", "DELETE"]),
    "carts-items": ("/api/carts/alice{walk}/items/7", ["PUT", "DELETE"]),
    "products": ("/api/products/1{walk}", ["GET", "POST"]),
    "products-root": ("/api/products{walk}", ["GET", "POST"]),
    "orders": ("/api/orders/1{walk}", ["GET", "POST"]),
    "echo": ("/api/echo/x{walk}", ["GET", "PUT", "DELETE"]),
    "owner-echo": ("/api/mine/alice{walk}", ["GET", "DELETE"]),
    "stock": ("/api/stock/1{walk}", ["GET", "POST"]),
    "product-page": ("/api/product-page/1{walk}", ["GET"]),
}
# each walk as it goes into the request line (latin-1 for raw bytes), and the refusal expected: 400 for a path
# that could mean more than one thing, 404 for a segment naming an internal route ('_'), never forwarded
WALKS = {
    "dot-dot lower": ("/%2e%2e/bob", 400),
    "dot-dot upper": ("/%2E%2E/bob", 400),
    "dot-dot mixed": ("/%2e%2E/bob", 400),
    "dot-dot raw": ("/../bob", 400),
    "dot-dot half encoded": ("/.%2e/bob", 400),
    "dot-dot other half": ("/%2e./bob", 400),
    "dot raw": ("/./bob", 400),
    "dot encoded": ("/%2e/bob", 400),
    "two levels to chaos": ("/%2e%2e/%2e%2e/_chaos", 400),
    "two levels raw to chaos": ("/../../_chaos", 400),
    "encoded slash lower": ("%2f..%2fbob", 400),
    "encoded slash upper": ("%2F..%2Fbob", 400),
    "encoded slash and dots": ("%2F%2E%2E%2Fbob", 400),
    "double-encoded dots": ("/%252e%252e/bob", 400),
    "double-encoded slash": ("%252F..%252Fbob", 400),
    "triple-encoded dots": ("/%25252e%25252e/bob", 400),
    "double-encoded upper": ("/%252E%252E/bob", 400),
    "semicolon dot-dot (Tomcat)": ("/..;/bob", 400),
    "semicolon param": (";jsessionid=1/bob", 400),
    "semicolon encoded": ("%3B/bob", 400),
    "backslash raw": ("\\..\\bob", 400),
    "backslash encoded lower": ("%5c..%5cbob", 400),
    "backslash encoded upper": ("%5C..%5Cbob", 400),
    "NUL encoded": ("%00/bob", 400),
    "NUL raw": ("\x00/bob", 400),
    "NUL before dots": ("/%00../bob", 400),
    "tab raw": ("\t/bob", 400),
    "CR LF encoded": ("%0d%0aX-Injected:%201", 400),
    "DEL encoded": ("/%7f", 400),
    "C1 control encoded": ("/%C2%85", 400),
    "empty segment": ("//bob", 400),
    "trailing slash": ("/", 400),
    "trailing double slash": ("//", 400),
    "lone percent": ("/%", 400),
    "bad escape": ("/%zz", 400),
    "short escape": ("/%2", 400),
    "not UTF-8": ("/%ff%fe", 400),
    "overlong UTF-8 dot": ("/%c0%ae%c0%ae/bob", 400),
    "underscore segment": ("/_chaos", 404),
    "underscore encoded": ("/%5Fchaos", 404),
    "underscore balancer": ("/_balancer/backends", 404),
}
CASES = [(route, walk) for route in ROUTES for walk in WALKS]


@pytest.mark.parametrize("route,walk", CASES, ids=[f"{r}:{w}" for r, w in CASES])
def test_no_encoding_walks_out_of_any_route(bob, route, walk):
    world = bob
    template, methods = ROUTES[route]
    raw, status = WALKS[walk]
    target, expected = template.format(walk=raw), (status,)
    for method in methods:
        echo_before = len(echo_seen(world))
        body = b'{"quantity": 1}' if method in ("PUT", "POST") else b""
        headers = {**world.alice, **({"Content-Type": "application/json"} if body else {})}
        status, answer_headers, answer = raw_request(world.gateway.url, method, target, headers, body)
        assert_json_refusal(status, answer_headers, answer, expected)
        assert_nothing_got_through(world, echo_before)


# --- what does get through, gets through as exactly one path ------------------------------------------------------
@pytest.mark.parametrize("public,upstream", [
    ("/api/echo/a/b", "/echo/a/b"),
    ("/api/echo/%41%42", "/echo/AB"),  # decoded, encoded again: the same single segment
    ("/api/echo/a%20b/%C3%A9", "/echo/a%20b/%C3%A9"),
    ("/api/echo/a+b/x~y.z-w_v", "/echo/a%2Bb/x~y.z-w_v"),
    ("/api/echo/...", "/echo/..."),  # three dots are a name, not a dot segment
    ("/api/echo/x%2Ey", "/echo/x.y"),
    ("/api/echo/%E2%80%A4%E2%80%A4", "/echo/%E2%80%A4%E2%80%A4"),  # one-dot leaders: not dots, passed on encoded
    ("/api/echo", "/echo"),
    # a query string is not a path: it goes on as sent
    ("/api/echo?q=%2e%2e/x&r=a%20b", "/echo?q=%2e%2e/x&r=a%20b"),
    # what may not be raw is encoded (raw control characters never get this far: see the test below)
    ("/api/echo?q=%&r=%zz&s=a|b^c{d}", "/echo?q=%25&r=%25zz&s=a%7Cb%5Ec%7Bd%7D"),
    ("/api/echo?q=%0d%0aX-Injected:%201", "/echo?q=%0d%0aX-Injected:%201"),
    ("/api/echo?q=1#fragment", "/echo?q=1"),  # the fragment is the client's, never sent on
    ("/api/prefixed/a%2Bb", "/behind/p/a%2Bb"),  # the upstream URL's own path comes first
])
def test_a_safe_path_reaches_the_upstream_as_exactly_one_path(world, public, upstream):
    status, _, answer = raw_request(world.gateway.url, "GET", public, world.alice)
    assert status == 200, answer
    assert answer["raw"] == upstream
    assert "X-Injected" not in answer["headers"]
    assert paths.segments(answer["raw"].split("?")[0])  # and it is a path the gateway itself would accept


@pytest.mark.parametrize("target", ["/api/echo?q=\t\x01", "/api/echo?q=\x7f", "/api/echo?q=a\x00b", "/api/echo/\x01"])
def test_a_request_target_holding_control_characters_is_refused(world, target):
    """RFC 9112 allows none in a request target; the gateway's parser refuses them (as nginx and the balancer
    do), with a 400 in JSON, and nothing reaches the service."""
    before = len(echo_seen(world))
    status, headers, answer = raw_request(world.gateway.url, "GET", target, world.alice)
    assert_json_refusal(status, headers, answer, (400,))
    assert_nothing_got_through(world, before)


def test_the_owner_check_compares_the_whole_decoded_segment(bob):
    world = bob
    for target in ("/api/carts/bob", "/api/carts/ALICE", "/api/carts/alice%20", "/api/carts/alice.",
                   "/api/carts/%61lice%2e", "/api/mine/alicex", "/api/mine/bob/alice"):
        for method in ("GET", "DELETE"):
            status, headers, answer = raw_request(world.gateway.url, method, target, world.alice)
            assert status == 403 and answer["reason"] == "not_owner", (target, answer)
    assert_nothing_got_through(world, len(echo_seen(world)))
    # percent-encoding a letter of one's own name is still one's own name, sent on plainly
    status, _, answer = raw_request(world.gateway.url, "GET", "/api/mine/%61lice/x", world.alice)
    assert status == 200 and answer["raw"] == "/mine/alice/x"


def test_alice_still_reaches_her_own_cart(bob):
    world = bob
    target = "/api/carts/alice/items/7"
    status, _, answer = raw_request(world.gateway.url, "PUT", target,
                                    {**world.alice, "Content-Type": "application/json"}, b'{"quantity": 2}')
    assert status == 200 and answer["items"] == [{"product_id": 7, "quantity": 2}], answer
    status, _, answer = raw_request(world.gateway.url, "DELETE", "/api/carts/alice", world.alice)
    assert status == 200 and answer == {"user": "alice", "items": []}
    assert world.carts.get("/carts/bob").json() == BOBS_CART
    status, _, answer = raw_request(world.gateway.url, "GET", "/api/products/1", {})
    assert status == 200 and answer["name"] == "Lamp"
    status, _, answer = raw_request(world.gateway.url, "GET", "/api/stock/1", {})
    assert status == 200 and answer["sku"] == 1
    status, _, answer = raw_request(world.gateway.url, "GET", "/api/product-page/1", {})
    assert status == 200 and answer["product"]["id"] == 1
    for target, headers in (("/api/products", {}), ("/api/carts/alice", world.alice)):  # HEAD: GET's rules
        status, _, answer = raw_request(world.gateway.url, "HEAD", target, headers)
        assert status == 200 and answer is None


def test_the_request_target_in_absolute_form_is_checked_too(bob):
    world = bob
    target = f"{world.gateway.url}/api/carts/alice/%2e%2e/bob"
    status, headers, answer = raw_request(world.gateway.url, "DELETE", target, world.alice)
    assert_json_refusal(status, headers, answer, (400,))
    assert_nothing_got_through(world, len(echo_seen(world)))
