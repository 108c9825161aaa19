"""A shopper's journey through the web shop, in a real Chromium driven by Playwright (chapter 09).

    from microcosm.clients import journey
    trip = journey.run(shop.url, "ada", PASSWORD, cart={"Lamp": 2, "Kettle": 3})
    trip.shots        # [(caption, PNG bytes)], one per step: show them with IPython.display.Image
    trip.statuses     # order id -> every status its badge showed, in order: ["pending", "confirmed"]
    trip.checkouts    # the X-Request-ID of each POST /api/orders: find them in the monitor

The page is driven as a person drives it: by labels, button names and what the page shows (Playwright's
`get_by_label`, `get_by_role`), never by calling its script. The steps (each a function, so the browser tests
take the same ones): open the shop and wait for the products, sign in, put each product of `cart` in the cart,
check out, and wait until no order is pending any more (the events of chapter 07 confirm or reject each one).

The browser is Debian's Chromium (/usr/bin/chromium), headless; `playwright install` (which downloads browsers)
is never needed. `missing()` says why a journey cannot run here (no Chromium, no Playwright), or None.

Playwright's synchronous API refuses to run where an asyncio loop is running, and a Jupyter kernel has one.
`run()` therefore drives the browser from a worker thread of its own and waits for it: call it from a cell or
from a test alike.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    # without these Chromium keeps dialling out, and on a closed network its connections are refused
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]
WAIT_MS = 20_000  # for what the page shows after a few calls, on a loaded 2-core machine
VIEWPORT = {"width": 1100, "height": 800}

# Every status an order's badge showed, in order, per order id (recorded in the page as it changes)
WATCH_STATUSES = """() => {
  window.seenStatuses = {};
  const record = () => document.querySelectorAll('#orders li').forEach(li => {
    const seen = (window.seenStatuses[li.dataset.orderId] ||= []);
    const status = li.querySelector('.status').dataset.status;
    if (seen[seen.length - 1] !== status) seen.push(status);
  });
  new MutationObserver(record).observe(document.getElementById('orders'), {childList: true, subtree: true});
}"""


def missing(chromium: str | None = None) -> str | None:
    """Why no journey can run on this machine, or None when Chromium (at `chromium`, default CHROMIUM) and
    Playwright are both here."""
    chromium = chromium or CHROMIUM
    if not os.access(chromium, os.X_OK):
        return f"{chromium} is missing: install Debian's chromium package (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (from PyPI) is not installed: bash scripts/setup.sh installs it into .venv"
    return None


# --- the steps, on a Playwright page --------------------------------------------------------------------------
def open_shop(page, url: str) -> None:
    """Load the shop and wait until it lists its products (public: no need to sign in for them)."""
    page.goto(url.rstrip("/") + "/")
    page.wait_for_selector("#products li", timeout=WAIT_MS)


def sign_in(page, username: str, password: str) -> None:
    """Fill in the sign-in form and press Log in (returns at once: wait for what the page shows)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def add_to_cart(page, product: str, quantity: int = 1) -> None:
    """Put `quantity` of the product named `product` in the cart, and wait until the cart shows it."""
    from playwright.sync_api import expect

    rows = page.locator("#cart-items tr", has_text=product)
    page.get_by_label(f"Quantity of {product}").fill(str(quantity))
    page.get_by_role("button", name=f"Add {product} to cart").click()
    expect(rows).to_have_count(1, timeout=WAIT_MS)


def check_out(page, orders: int) -> None:
    """Press Check out and wait until the page lists `orders` orders (pending at first: see `settled`)."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Check out").click()
    expect(page.locator("#orders li")).to_have_count(orders, timeout=WAIT_MS)


def settled(page) -> dict:
    """Wait until no order on the page is pending; order id -> the status its badge shows now."""
    from playwright.sync_api import expect

    expect(page.locator("#orders .status[data-status=pending]")).to_have_count(0, timeout=WAIT_MS)
    return {li.get_attribute("data-order-id"): li.locator(".status").get_attribute("data-status")
            for li in page.locator("#orders li").all()}


# --- a whole journey -------------------------------------------------------------------------------------------
@dataclass
class Journey:
    shots: list = field(default_factory=list)       # (caption, PNG bytes), in the order taken
    statuses: dict = field(default_factory=dict)    # order id -> its status at the end
    seen: dict = field(default_factory=dict)        # order id -> every status its badge showed, in order
    checkouts: list = field(default_factory=list)   # X-Request-ID of each POST /api/orders the page sent
    calls: list = field(default_factory=list)       # (method, path, status) of every call to the gateway
    seconds: float = 0.0                            # from opening the page to the last order settled
    errors: list = field(default_factory=list)      # console errors and uncaught exceptions in the page


def _journey(url: str, username: str, password: str, cart: dict, gateway: str | None) -> Journey:
    from playwright.sync_api import expect, sync_playwright

    trip = Journey()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                    and trip.errors.append(m.text))
            page.on("pageerror", lambda e: trip.errors.append(str(e)))

            def answered(response):
                request = response.request
                path = response.url.split("://", 1)[-1].split("/", 1)[-1]
                if gateway and not response.url.startswith(gateway):
                    return
                trip.calls.append((request.method, "/" + path.split("?")[0], response.status))
                if request.method == "POST" and path.split("?")[0].endswith("api/orders"):
                    trip.checkouts.append(response.headers.get("x-request-id", ""))

            page.on("response", answered)
            started = time.monotonic()

            def shot(caption):
                trip.shots.append((caption, page.screenshot(full_page=True)))

            open_shop(page, url)
            shot("1. the products, listed before signing in")
            sign_in(page, username, password)
            expect(page.locator("#session")).to_have_text(f"Signed in as {username}.", timeout=WAIT_MS)
            for product, quantity in cart.items():
                add_to_cart(page, product, quantity)
            shot(f"2. signed in as {username}, {len(cart)} products in the cart")
            page.evaluate(WATCH_STATUSES)
            check_out(page, len(cart))
            shot("3. just after pressing Check out")
            trip.statuses = settled(page)
            trip.seconds = time.monotonic() - started
            trip.seen = page.evaluate("() => window.seenStatuses")
            shot("4. the events confirmed or rejected each order")
        finally:
            browser.close()
    return trip


def run(url: str, username: str, password: str, cart: dict | None = None, gateway: str | None = None,
        timeout: float = 120.0) -> Journey:
    """The whole journey on the shop at `url` (its origin: `shop.url`), in a worker thread (see above).

    `cart`: product name -> quantity (default: two lamps). `gateway`: the gateway's URL, to keep only its calls
    in `calls` (default: every call the page made). Raises what went wrong in the browser (a Playwright
    TimeoutError names what the page never showed)."""
    problem = missing()
    if problem:
        raise RuntimeError(problem)
    result: dict = {}

    def work():
        try:
            result["trip"] = _journey(url, username, password, cart or {"Lamp": 2}, gateway)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="microcosm-journey", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the journey did not end within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["trip"]


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Journey", "add_to_cart", "check_out", "missing", "open_shop", "run",
           "settled", "sign_in"]
