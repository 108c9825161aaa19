"""The web shop in a real Chromium against real services (issue 15, chapter 09).

The page comes from the `web` origin and calls the gateway, another origin, which allows it by CORS; behind
the gateway: identity (logging in and renewing tokens through the gateway), catalog, carts, orders with
events (chapter 07) and inventory, which confirms or rejects each order by an event. The tests drive the page
as a user does (labels, buttons, the alert region) and read what the user would see:

- the whole journey: products listed, signing in, two products added, checking out with an Idempotency-Key,
  one order going pending -> confirmed and the other pending -> rejected (out of stock); the token kept in
  memory only, and renewed with the refresh token when the gateway says it has expired; signing out;
- the gateway or a service refusing, shown in words: a wrong password, a service failing (503), the browser
  offline, an order's answer lost (and checking out again places no second order: the same Idempotency-Key);
  and a rate limit (429, with the wait the gateway asks for), then the gateway stopped.

Screenshots go to test-artifacts/web/.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from microcosm.clients import journey
from microcosm.clients.journey import WAIT_MS, WATCH_STATUSES, open_shop, sign_in  # the steps a journey takes
from microcosm.runtime.infra import RedisServer
from microcosm.services.web import GATEWAY_ROUTES
from microcosm.testing import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ADMIN = "admin-secret-for-web-shop-tests-0123456789"
PASSWORD = "correct horse battery"
CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}  # logins in seconds are not what is tested
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
ACCESS_TTL = 4    # s: short, so the journey outlives its first token
STOCK = {1: 50, 2: 1, 3: 50, 4: 50}  # the Kettle (2): only one left, so an order of three is rejected


class World:
    """The running system and the page's origin."""


@pytest.fixture(scope="module")
def world(launch_for_module, tmp_path_factory):
    tag, root = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("shop")

    def start(service, name, **config):
        return launch_for_module(service, f"shop-{name}-{tag}", traffic=False, data_dir=str(root / name), **config)

    w = World()
    w.tag = tag
    # events on a Redis of the module's own: in the test process's Redis, an earlier module's orders.events may
    # hold entries that inventory's group still owes (a consumer stopped mid-way), and its claim of a stale
    # OrderPlaced for *that* order 1 made this order 1 a duplicate (dead-lettered, pending forever)
    w.broker = RedisServer(f"shop-broker-{tag}").start()
    events = {"events": w.broker.url, "claim_idle": 1.0}
    w.identity = start("identity", "identity", admin_secret=ADMIN, publish_delay=1.0, argon2=CHEAP_ARGON2,
                       access_ttl=ACCESS_TTL)
    w.catalog = start("catalog", "catalog")
    w.inventory = start("inventory", "inventory", stock={str(k): v for k, v in STOCK.items()}, **events)
    w.orders = start("orders", "orders", catalog_url=w.catalog.url, **events)
    w.carts = start("carts", "carts", orders_url=w.orders.url, key_prefix=f"shop-{tag}:carts:")
    w.web = start("web", "web", poll_ms=300)
    w.upstreams = {"catalog": w.catalog.url, "orders": w.orders.url, "carts": w.carts.url,
                   "identity": w.identity.url}
    w.gateway = start("gateway", "gateway", identity_url=w.identity.url, cors_origins=[w.web.url],
                      routes=GATEWAY_ROUTES, upstreams=w.upstreams, rate_limit_prefix=f"shop-{tag}:")
    assert w.web.put("/_web/config", json={"gateway_url": w.gateway.url}).status_code == 200
    for user in ("ada", "grace"):
        assert w.identity.post("/users", json={"username": user, "password": PASSWORD}).status_code == 201
    yield w
    launch_for_module.stop_all()  # the services before their broker
    w.broker.stop()
    w.broker.forget()


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def problem(page) -> str:
    """The alert region's text once it shows ('' when hidden)."""
    alert = page.get_by_role("alert")
    return alert.inner_text() if alert.is_visible() else ""


def wait_problem(page, *words):
    from playwright.sync_api import expect

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=WAIT_MS)
    text = alert.inner_text()
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in the alert: {text!r}"
    return text


def real_errors(page) -> list[str]:
    """Console errors and uncaught exceptions, but not Chromium's line for each refused answer (a 4xx/5xx is
    logged as 'Failed to load resource' whatever the page does with it)."""
    return [e for e in page.console_errors if not e.startswith("Failed to load resource")]


def test_the_whole_journey_from_products_to_a_confirmed_order(chromium_page, world):
    from playwright.sync_api import expect

    page = chromium_page
    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.headers)))
    open_shop(page, world.web.url)
    names = page.locator("#products li .name").all_inner_texts()
    assert names == ["Lamp", "Kettle", "Notebook", "Headphones"]
    shot(page, "01-products")

    sign_in(page, "ada", PASSWORD)
    expect(page.locator("#session")).to_have_text("Signed in as ada.", timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_hidden()  # the sign-in form gives way to the cart
    assert page.get_by_label("Password").input_value() == ""  # the password is not kept, even in the page
    shot(page, "02-signed-in")

    page.get_by_label("Quantity of Lamp").fill("2")
    page.get_by_role("button", name="Add Lamp to cart").click()
    expect(page.locator("#cart-items tr")).to_have_count(1, timeout=WAIT_MS)
    page.get_by_label("Quantity of Kettle").fill("3")
    page.get_by_role("button", name="Add Kettle to cart").click()
    expect(page.locator("#cart-items tr")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#cart-total")).to_have_text("Total: 169.97")  # 2 x 25.00 + 3 x 39.99
    assert world.carts.get("/carts/ada").json()["items"] == [{"product_id": 1, "quantity": 2},
                                                             {"product_id": 2, "quantity": 3}]
    shot(page, "03-cart")

    page.evaluate(WATCH_STATUSES)
    page.get_by_role("button", name="Check out").click()
    expect(page.locator("#orders li")).to_have_count(2, timeout=WAIT_MS)
    shot(page, "04-checked-out")
    expect(page.locator("#orders .status[data-status=pending]")).to_have_count(0, timeout=WAIT_MS)
    statuses = {li.get_attribute("data-order-id"): li.locator(".status").get_attribute("data-status")
                for li in page.locator("#orders li").all()}
    lamp, kettle = (page.locator("#orders li", has_text=name).get_attribute("data-order-id")
                    for name in ("Lamp", "Kettle"))
    assert statuses == {lamp: "confirmed", kettle: "rejected"}
    seen = page.evaluate("() => window.seenStatuses")
    assert seen[lamp] == ["pending", "confirmed"] and seen[kettle] == ["pending", "rejected"], seen
    expect(page.locator("#cart-empty")).to_be_visible()
    assert world.carts.get("/carts/ada").json()["items"] == []
    assert world.orders.get(f"/orders/{lamp}").json()["status"] == "confirmed"
    assert problem(page) == ""
    shot(page, "05-confirmed")

    posts = [h for m, u, h in sent if m == "POST" and u.endswith("/api/orders")]
    keys = [h.get("idempotency-key", "") for h in posts]
    assert len(posts) == 2 and all(len(k) == 32 for k in keys) and keys[0] != keys[1]
    preflights = {k: v for k, v in world.gateway.metrics()["routes"].items() if k.startswith("OPTIONS ")}
    assert any("204" in v["statuses"] for v in preflights.values()), preflights  # CORS was really used

    # tokens in memory only; an expired one is renewed with the refresh token when the gateway refuses it
    assert page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    renewed = int(page.locator("#session").get_attribute("data-renewals"))
    # the page believes its token is good for an hour (a clock that runs behind), so only the gateway's 401
    # tells it the token expired
    page.evaluate("() => { shop.session.expiresAt = Date.now() + 3600 * 1000; }")
    time.sleep(ACCESS_TTL + 1)
    page.get_by_role("button", name="Refresh cart").click()
    expect(page.locator("#session")).not_to_have_attribute("data-renewals", str(renewed), timeout=WAIT_MS)
    expect(page.locator("#cart-empty")).to_be_visible()
    assert problem(page) == ""
    refusals = world.gateway.metrics()["routes"].get("GET /api/carts/<path:rest>", {}).get("statuses", {})
    assert refusals.get("401", 0) >= 1, refusals  # the gateway did refuse the expired token

    page.get_by_role("button", name="Log out").click()  # the refresh token's family revoked at the provider
    expect(page.locator("#session")).to_have_text("Not signed in.", timeout=WAIT_MS)
    expect(page.get_by_label("Username")).to_be_visible()
    assert page.evaluate("() => shop.session") is None
    expect(page.locator("#notice")).to_have_text("Signed out.", timeout=WAIT_MS)  # the revoke was answered
    revoked = lambda: world.gateway.metrics()["routes"].get("POST /api/revoke", {}).get("statuses", {})
    assert wait_until(lambda: revoked() == {"200": 1}, timeout=10), revoked()  # counted just after it answers
    assert real_errors(page) == []


def test_refusals_are_shown_in_words(chromium_page, world):
    from playwright.sync_api import expect

    page = chromium_page
    open_shop(page, world.web.url)
    sign_in(page, "grace", "not her password")
    text = wait_problem(page, "wrong username or password")
    expect(page.locator("#session")).to_have_text("Not signed in.")
    shot(page, "error-wrong-password")

    page.get_by_role("button", name="Add Lamp to cart").click()  # not signed in: told so, nothing sent
    wait_problem(page, "sign in first")

    sign_in(page, "grace", PASSWORD)
    expect(page.locator("#session")).to_have_text("Signed in as grace.", timeout=WAIT_MS)
    expect(page.get_by_role("alert")).to_be_hidden()

    world.catalog.chaos(fail_next=1)  # the catalog fails once: the gateway passes its 503 on
    try:
        page.get_by_role("button", name="Refresh products").click()
        text = wait_problem(page, "503", "back end failed", "failure injected", "request id")
    finally:
        world.catalog.chaos()
    shot(page, "error-503")

    page.context.set_offline(True)
    try:
        page.get_by_role("button", name="Add Notebook to cart").click()
        text = wait_problem(page, "could not add notebook to your cart", "offline")
        shot(page, "error-offline")
    finally:
        page.context.set_offline(False)
    page.get_by_role("button", name="Add Notebook to cart").click()
    expect(page.locator("#cart-items tr")).to_have_count(1, timeout=WAIT_MS)
    expect(page.get_by_role("alert")).to_be_hidden()

    # a lost answer: the order reaches orders, its answer never reaches the page; checking out again sends
    # the same Idempotency-Key, and orders answers with the first order instead of placing a second
    before = {o["id"] for o in world.orders.get("/orders").json()["orders"]}

    def lose_the_answer(route):
        route.fetch()  # sent on to the gateway, which places the order ...
        route.abort("connectionreset")  # ... and the page gets no answer

    page.route("**/api/orders", lose_the_answer, times=1)
    page.get_by_role("button", name="Check out").click()
    wait_problem(page, "could not check out", "cannot reach the gateway")
    shot(page, "error-lost-answer")
    placed = [o for o in world.orders.get("/orders").json()["orders"] if o["id"] not in before]
    assert len(placed) == 1 and page.locator("#orders li").count() == 0  # placed, but the page cannot know
    page.get_by_role("button", name="Check out").click()
    expect(page.locator("#orders li")).to_have_count(1, timeout=WAIT_MS)
    expect(page.get_by_role("alert")).to_be_hidden()
    assert page.locator("#orders li").get_attribute("data-order-id") == str(placed[0]["id"])
    again = [o for o in world.orders.get("/orders").json()["orders"] if o["id"] not in before]
    assert [o["id"] for o in again] == [placed[0]["id"]], "the retried checkout placed a second order"
    expect(page.locator("#cart-empty")).to_be_visible()
    assert text and real_errors(page) == []


def test_a_rate_limit_and_a_stopped_gateway_are_shown_in_words(chromium_page, world, launch):
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:8]
    page = chromium_page
    web = launch("web", f"shop-web-tight-{tag}", traffic=False, poll_ms=300)
    page.goto(web.url + "/")  # an origin not yet told where the gateway is says so
    wait_problem(page, "does not know where the gateway is", "/_web/config")
    tight = launch("gateway", f"shop-gateway-tight-{tag}", traffic=False, identity_url=world.identity.url,
                   cors_origins=[web.url], routes=GATEWAY_ROUTES, upstreams=world.upstreams,
                   rate_limit={"capacity": 3, "refill_per_s": 0.01}, rate_limit_prefix=f"shop-tight-{tag}:")
    assert web.put("/_web/config", json={"gateway_url": tight.url}).status_code == 200
    open_shop(page, web.url)  # one request of the address's three
    assert problem(page) == ""
    refresh = page.get_by_role("button", name="Refresh products")
    for _ in range(6):  # two more go through, then the bucket is empty
        refresh.click()
        expect(refresh).to_be_enabled(timeout=WAIT_MS)
        if problem(page):
            break
    text = wait_problem(page, "429", "too many requests", "wait")
    assert "load the products" in text
    shot(page, "error-429")

    tight.stop()
    refresh.click()
    expect(page.get_by_role("alert")).to_contain_text("cannot reach the gateway", timeout=WAIT_MS)
    shot(page, "error-gateway-stopped")
    assert page.locator("#products li").count() == 4  # what it had stays on screen
    assert real_errors(page) == []


def test_a_whole_journey_runs_from_where_an_event_loop_runs(chromium_here, world):
    """journey.run, as chapter 09 calls it from a kernel: inside a running asyncio loop (where Playwright's sync
    API refuses to start) it drives the browser from its own thread and brings back what the page showed."""
    assert world.identity.post("/users", json={"username": "linus", "password": PASSWORD}).status_code == 201

    async def from_a_kernel():
        return journey.run(world.web.url, "linus", PASSWORD, cart={"Lamp": 1, "Kettle": 3}, gateway=world.gateway.url)

    trip = asyncio.run(from_a_kernel())
    assert trip.errors == []
    assert len(trip.shots) == 4 and all(png.startswith(b"\x89PNG\r\n") for _, png in trip.shots)
    placed = {o["id"]: o for o in world.orders.get("/orders", params={"limit": 1000}).json()["orders"]
              if str(o["id"]) in trip.statuses}
    assert sorted(o["product_id"] for o in placed.values()) == [1, 2]
    for order_id, order in placed.items():  # what the page showed is what orders says
        expected = "confirmed" if order["product_id"] == 1 else "rejected"
        assert trip.statuses[str(order_id)] == order["status"] == expected
        assert trip.seen[str(order_id)] == ["pending", expected]
    assert [c for c in trip.calls if c[:2] == ("POST", "/api/orders")] == [("POST", "/api/orders", 202)] * 2
    assert len(set(trip.checkouts)) == 2 and all(len(rid) >= 16 for rid in trip.checkouts)
    assert all(url.startswith("/api/") for _, url, _ in trip.calls)  # only the gateway's calls were kept
