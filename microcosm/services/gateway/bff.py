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

import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from flask import Blueprint, current_app, g

from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, ApiError, UpstreamError, call, query_int
from .routing import ID_MAX

log = logging.getLogger("microcosm.gateway")
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
        headers.update({REQUEST_ID: g.request_id, CALLER: "gateway", CALLER_INSTANCE: current_app.config["INSTANCE"],
                        PARENT_HOP: g.hop})  # the worker threads have no request context: the ids go by hand

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

        parts = {"products": workers.submit(products), "cart_count": workers.submit(cart_count),
                 "latest_order": workers.submit(latest_order)}
        screen, missing = {"user": user}, []
        for name, future in parts.items():
            try:
                screen[name] = future.result()
            except ApiError as exc:
                if name == "products":  # no products, no screen
                    raise
                missing.append(name)
                screen[name] = None
                log.info("mobile home for %s without %s: %s", user, name, exc.description)
        screen["partial"], screen["missing"] = bool(missing), missing
        return screen

    return bp
