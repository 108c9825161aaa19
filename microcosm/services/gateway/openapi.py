"""The public API, described: an OpenAPI 3 document generated from the routing table.

`GET /openapi.json` on the gateway answers `openapi_document(routes, server)`. Since it is made from the same
table the gateway routes with, it cannot drift from what the gateway does: each route's prefix (and
everything below it) with its methods, which of them need a bearer token and with which scopes (`security`),
and the errors the gateway itself may answer (401/403 for a token, 429 for the rate limit, 503/504 for a
service down or slow); then the routes the gateway answers itself: stock (translation.py), the product page (composition.py)
and the phone's home screen (bff.py). Tools turn such a document into documentation, client libraries and tests.
"""
from __future__ import annotations

from flask import Blueprint, request

from .routing import PUBLIC, Route


def openapi_document(routes: list[Route], server: str) -> dict:
    error = {"$ref": "#/components/responses/Error"}

    def operation(summary: str, scopes, extra: dict | None = None) -> dict:
        op = {"summary": summary, "responses": {"200": {"description": "the service's answer"},
                                                "429": error, "503": error, "504": error}}
        if scopes is not PUBLIC:
            op["security"] = [{"bearer": list(scopes)}]
            op["responses"].update({"401": error, "403": error})
        else:
            op["security"] = []
        op.update(extra or {})
        return op

    paths: dict = {}
    for r in routes:
        for path in (r.prefix, r.prefix + "/{rest}"):
            item = {m.lower(): operation(f"{r.summary} ({m} {r.path} at {r.service})".strip(), s)
                    for m, s in r.methods.items()}
            if path.endswith("{rest}"):
                for op in item.values():
                    op["parameters"] = [{"name": "rest", "in": "path", "required": True,
                                         "schema": {"type": "string"}, "description": "the rest of the path"}]
            paths[path] = item
    sku = [{"name": "sku", "in": "path", "required": True, "schema": {"type": "integer"}}]
    paths["/api/stock/{sku}"] = {
        "get": operation("Stock of one product (JSON here; XML at the legacy stock service)", PUBLIC, {"parameters": sku}),
        "post": operation("Move stock in or out", ["stock:write"], {
            "parameters": sku, "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["delta"], "properties": {"delta": {"type": "integer"}}}}}}}),
    }
    paths["/api/product-page/{id}"] = {"get": operation(
        "A product with its stock, fetched in parallel; partial=true and missing=[...] when a part is down", PUBLIC,
        {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]})}
    paths["/api/mobile/home"] = {"get": operation(  # bff.py: one compact answer for one phone screen
        "A phone's home screen in one answer: products (id, name, price), the cart's count, the latest order's "
        "status; partial=true when carts or orders is down", ["carts:read", "orders:read"],
        {"parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 20}},
                        {"name": "order", "in": "query", "schema": {"type": "integer", "minimum": 1}}]})}
    return {
        "openapi": "3.0.3",
        "info": {"title": "microcosm public API", "version": "1.0",
                 "description": "Everything a client can call, through the gateway."},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {"Error": {"description": "a JSON error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error", "message", "status"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                               "status": {"type": "integer"}, "request_id": {"type": "string"},
                               "reason": {"type": "string"}}}}}}},
        },
    }


def routes(gateway) -> Blueprint:
    bp = Blueprint("gateway_openapi", __name__)

    @bp.get("/openapi.json")
    def openapi():
        return openapi_document(gateway.routes, request.host_url.rstrip("/"))

    return bp
