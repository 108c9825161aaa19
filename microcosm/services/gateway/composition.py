"""Composition: one request from the client, several to the services, in parallel, and one answer.

A product page needs the product (from `catalog`) and how many are left (from the legacy `stock` service).
Rather than two round trips from a phone, the client asks once, `GET /api/product-page/<id>`, and the gateway
asks both services at the same time on a pool of threads, each call with its own timeout
(`composition_timeouts`, default `{"product": 1.0, "stock": 0.5}` seconds), so the page takes as long as
the slower of the two, and a stuck service is cut off by its part's timeout:

    {"product": {...}, "stock": {"sku": 1, "quantity": 40, ...}, "partial": false, "missing": []}

Which parts are optional is a decision made per endpoint. Without the product there is no page: no such
product is a 404, catalog down a 503 (or 502 for a wrong answer). Without the stock level the page is still
worth showing ("availability unknown"), so stock down or slow gives `"stock": null`, `"partial": true,
"missing": ["stock"]`, and the client can say so rather than show a wrong "0 in stock". No stock record at
all is an answer, not a failure: `"stock": null` with `partial` false.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app, g

from ..base import CALLER, CALLER_INSTANCE, PARENT_HOP, REQUEST_ID, ApiError, UpstreamError, call
from .routing import ID_MAX, PUBLIC
from .translation import stock_from_xml

log = logging.getLogger("microcosm.gateway")


def routes(gateway, config: dict) -> Blueprint:
    """/api/product-page/<id>: a product and its stock level, fetched in parallel."""
    bp = Blueprint("gateway_composition", __name__)
    part_timeouts = {"product": 1.0, "stock": 0.5, **(config.get("composition_timeouts") or {})}
    workers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="gateway-compose")

    @bp.get(f"/api/product-page/<int(max={ID_MAX}):product_id>")
    def product_page(product_id: int):
        _, headers = gateway.admit({"GET": PUBLIC})
        headers = hop_headers(headers)

        def product():
            answer = call("GET", f"{gateway.upstreams.pick('catalog')}/products/{product_id}", upstream="catalog",
                          headers=headers, timeout=part_timeouts["product"])
            if answer.status_code == 404:
                raise ApiError(404, f"no product with id {product_id}")
            if answer.status_code != 200:
                raise UpstreamError("catalog", f"catalog answered {answer.status_code}", 502)
            return answer.json()

        def stock_level():
            answer = call("GET", f"{gateway.upstreams.pick('stock')}/stock", upstream="stock", headers=headers,
                          params={"sku": product_id}, timeout=part_timeouts["stock"])
            try:
                return stock_from_xml(answer)
            except ApiError as exc:
                if exc.code == 404:
                    return None  # no record is an answer, not a failure
                raise

        return gather({"product": workers.submit(product), "stock": workers.submit(stock_level)},
                      required="product", what=f"product page {product_id}")

    return bp


def hop_headers(headers: dict) -> dict:
    """`headers` with this request's ids added, for calls made from worker threads: they have no request
    context, so the request id and the hop the calls belong to go by hand."""
    headers.update({REQUEST_ID: g.request_id, CALLER: "gateway", CALLER_INSTANCE: current_app.config["INSTANCE"],
                    PARENT_HOP: g.hop})
    return headers


def gather(parts: dict, required: str, what: str) -> dict:
    """The answers of the `parts` ({name: future}), each under its name, with `partial` and `missing`.

    The `required` part's error is the whole answer's (no product, no page); any other part that fails is `None`
    and named in `missing`, so the client can say what it could not show."""
    answer, missing = {}, []
    for name, future in parts.items():
        try:
            answer[name] = future.result()
        except ApiError as exc:
            if name == required:
                raise
            missing.append(name)
            answer[name] = None
            log.info("%s without %s: %s", what, name, exc.description)
    answer["partial"], answer["missing"] = bool(missing), missing
    return answer

