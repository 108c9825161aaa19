"""Backend for frontend: one compact answer with what one phone screen needs.

The web shop's home screen asks the gateway three times (`/api/products`, `/api/carts/<user>`,
`/api/orders/<id>`) and gets every field of every product, every item of the cart and the whole order. Over a
slow mobile link each of those is a round trip, and every byte waits for the bandwidth. The mobile app asks
once, `GET /api/mobile/home?limit=6&order=<its latest order id>`, with the user's token, and the gateway asks
the three services in parallel, next to them, and keeps only what the screen shows:

    {"user": "ada", "products": [{"id": 1, "name": "tea", "price_cents": 350}, ...],
     "cart_count": 3, "latest_order": {"id": 7, "status": "confirmed"}, "partial": false, "missing": []}

The products are the screen: catalog down is a 503 (a 502 for a wrong answer). The cart count and the
order's status are worth showing only if they come: carts or orders down or slow gives `null` for that part
with `"partial": true` and its name in `missing`. No `order` given, or no such order, is `"latest_order": null`.
Parameters: `limit` (products, 1 to 20, default 6), `order` (an order id, optional); a bad one is a 400.
It needs a valid token with `carts:read` and `orders:read`, like the web screen's own calls.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from flask import Blueprint

from ..base import UpstreamError, call, query_int
from .composition import gather, hop_headers
from .routing import ID_MAX

PRODUCT_FIELDS = ("id", "name", "price_cents")  # what a phone's product tile shows


def routes(gateway, config: dict) -> Blueprint:
    bp = Blueprint("gateway_bff", __name__)
    timeouts = {"products": 1.0, "cart": 0.5, "order": 0.5, **(config.get("bff_timeouts") or {})}
    workers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="gateway-bff")

    @bp.get("/api/mobile/home")
    def mobile_home():
        claims, headers = gateway.admit({"GET": ["carts:read", "orders:read"]})
        limit = query_int("limit", 6, 1, 20)
        order_id = query_int("order", None, 1, ID_MAX)
        user = claims["sub"]
        headers = hop_headers(headers)

        def get(service: str, path: str, part: str, **params):
            answer = call("GET", f"{gateway.upstreams.pick(service)}{path}", upstream=service, headers=headers,
                          params=params or None, timeout=timeouts[part])
            if answer.status_code == 404:
                return None
            if answer.status_code != 200:
                raise UpstreamError(service, f"{service} answered {answer.status_code}", 502)
            return answer.json()

        def products():
            found = get("catalog", "/products", "products", limit=limit) or {"products": []}
            return [{k: p.get(k) for k in PRODUCT_FIELDS} for p in found["products"]]

        def cart_count():
            cart = get("carts", f"/carts/{quote(user, safe='')}", "cart")
            return sum(item["quantity"] for item in cart["items"]) if cart else 0

        def latest_order():
            order = get("orders", f"/orders/{order_id}", "order") if order_id else None
            return {"id": order["id"], "status": order["status"]} if order else None

        screen = gather({"products": workers.submit(products), "cart_count": workers.submit(cart_count),
                         "latest_order": workers.submit(latest_order)}, required="products",
                        what=f"mobile home for {user}")
        return {"user": user, **screen}

    return bp
