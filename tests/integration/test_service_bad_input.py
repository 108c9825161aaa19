"""Every bad request gets a 4xx with a JSON error that says what is wrong, from a real running service."""
import json

import pytest
import requests

JSON = {"Content-Type": "application/json"}

# (service, method, path, body or raw bytes, headers, status, words the message must contain, field)
CASES = [
    ("catalog", "POST", "/products", b"{not json", JSON, 400, "not valid JSON", None),
    ("catalog", "POST", "/products", b"[1, 2]", JSON, 400, "must be a JSON object", None),
    ("catalog", "POST", "/products", {"name": "Mug"}, None, 400, "'price_cents' is required", "price_cents"),
    ("catalog", "POST", "/products", {"name": "Mug", "price_cents": "12"}, None, 400, "must be an integer", "price_cents"),
    ("catalog", "POST", "/products", {"name": "Mug", "price_cents": True}, None, 400, "must be an integer", "price_cents"),
    ("catalog", "POST", "/products", {"name": 7, "price_cents": 12}, None, 400, "must be a string", "name"),
    ("catalog", "POST", "/products", {"name": "", "price_cents": 12}, None, 400, "at least 1", "name"),
    ("catalog", "POST", "/products", {"name": "Mug", "price_cents": -1}, None, 400, "at least 0", "price_cents"),
    ("catalog", "POST", "/products", {"name": "Mug", "price_cents": 1, "colour": "red"}, None, 400, "unknown field 'colour'", "colour"),
    ("catalog", "POST", "/products", {"name": "Lamp", "price_cents": 1}, None, 409, "already exists", "name"),
    ("catalog", "POST", "/products", b"name=Mug", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json", None),
    ("catalog", "POST", "/products", b'{"name": "' + b"x" * 70_000 + b'"}', JSON, 413, "", None),
    ("catalog", "GET", "/products/999", None, None, 404, "no product with id 999", None),
    ("catalog", "GET", "/products/abc", None, None, 404, "no route", None),
    ("catalog", "GET", "/products/99999999999999999999", None, None, 404, "no route", None),  # beyond SQLite's range
    ("orders", "GET", "/orders/99999999999999999999", None, None, 404, "no route", None),
    ("carts", "PUT", "/carts/ann/items/99999999999999999999", {"quantity": 1}, None, 404, "no route", None),
    ("catalog", "GET", "/products?limit=lots", None, None, 400, "'limit'", "limit"),
    # digits that str.isdigit() accepts and int() does not, or that int() accepts and are no plain number
    ("catalog", "GET", "/products?limit=%C2%B2", None, None, 400, "integer from 1 to 1000", "limit"),
    ("catalog", "GET", "/products?limit=1_0", None, None, 400, "integer from 1 to 1000", "limit"),
    ("catalog", "GET", "/products?limit=%2010", None, None, 400, "integer from 1 to 1000", "limit"),
    ("catalog", "GET", "/products?limit=99999999999999999999999", None, None, 400, "integer from 1 to 1000", "limit"),
    ("orders", "GET", "/orders?limit=%D9%A3", None, None, 400, "integer from 1 to 1000", "limit"),
    ("orders", "GET", "/orders?limit=-1", None, None, 400, "integer from 1 to 1000", "limit"),
    ("catalog", "GET", "/nowhere", None, None, 404, "no route /nowhere", None),
    ("catalog", "DELETE", "/products", None, None, 405, "does not accept DELETE", None),
    ("orders", "POST", "/orders", {"product_id": 1}, None, 400, "'quantity' is required", "quantity"),
    ("orders", "POST", "/orders", {"product_id": 1, "quantity": 0}, None, 400, "at least 1", "quantity"),
    ("orders", "POST", "/orders", {"product_id": 1.5, "quantity": 1}, None, 400, "must be an integer", "product_id"),
    ("orders", "POST", "/orders", {"product_id": 999, "quantity": 1}, None, 422, "no product with id 999", "product_id"),
    ("orders", "POST", "/orders", b"", JSON, 400, "not valid JSON", None),
    ("orders", "GET", "/orders/12345", None, None, 404, "no order", None),
    ("orders", "PUT", "/orders/1", {}, None, 405, "allowed: GET", None),
    ("carts", "PUT", "/carts/ann/items/1", {"quantity": "two"}, None, 400, "must be an integer", "quantity"),
    ("carts", "PUT", "/carts/not%20ok/items/1", {"quantity": 1}, None, 400, "user must be", "user"),
    ("carts", "DELETE", "/carts/ann/items/77", None, None, 404, "not in ann's cart", None),
    ("carts", "PUT", "/_chaos", {"delay_ms": -5}, None, 400, "at least 0", "delay_ms"),
]


@pytest.fixture
def services(catalog, orders, carts):
    return {"catalog": catalog, "orders": orders, "carts": carts}


def test_every_bad_request_gets_a_json_4xx_that_says_what_is_wrong(services):
    failures = []
    for service, method, path, body, headers, status, words, field in CASES:
        kwargs = {"headers": headers or {}}
        if isinstance(body, bytes):
            kwargs["data"] = body
        elif body is not None:
            kwargs["json"] = body
        if path.startswith("/_"):  # an admin route: the input is what is wrong, so send the launch secret
            answer = services[service].request(method, path, timeout=10, **kwargs)
        else:
            answer = requests.request(method, services[service].url + path, timeout=10, **kwargs)
        case = f"{service} {method} {path} {str(body)[:40]}"
        try:
            error = answer.json()
        except json.JSONDecodeError:
            failures.append(f"{case}: not JSON: {answer.text[:80]!r}")
            continue
        if answer.status_code != status:
            failures.append(f"{case}: status {answer.status_code}, expected {status}: {error}")
        elif error.get("status") != status or not error.get("error") or words not in error.get("message", ""):
            failures.append(f"{case}: error body does not say {words!r}: {error}")
        elif field and error.get("field") != field:
            failures.append(f"{case}: field {error.get('field')!r}, expected {field!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("query", ["sku=%C2%B2", "sku=1_0", "sku=-1", "sku=99999999999999999999999999", "sku=",
                                   "sku=%FF"])
def test_legacy_stock_refuses_odd_numbers_in_its_own_xml(launch, query):
    stock = launch("legacy_stock", "stock-odd-numbers")
    answer = requests.get(f"{stock.url}/stock?{query}", timeout=10)
    assert answer.status_code in (400, 404) and b"<error>" in answer.content, answer.text
    for delta in ("%C2%B2", "1_0", "0x10", "99999999999999999999", "+-1"):
        moved = requests.post(f"{stock.url}/stock", data=f"sku=1&delta={delta}", timeout=10,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert moved.status_code == 400 and b"BAD_DELTA" in moved.content, (delta, moved.text)


def test_an_order_for_a_dead_catalog_is_a_fast_json_503_not_a_hang(orders, catalog):
    catalog.kill()
    answer = orders.post("/orders", json={"product_id": 1, "quantity": 1}, timeout=10)
    assert answer.status_code == 503
    assert answer.json()["upstream"] == "catalog"
    assert "unreachable" in answer.json()["message"]
    catalog.restart()
    assert orders.post("/orders", json={"product_id": 1, "quantity": 1}).status_code == 201


def test_a_slow_catalog_gives_a_504_after_orders_timeout(launch, catalog):
    orders = launch("orders", catalog_url=catalog.url, upstream_timeout=0.3)
    catalog.chaos(delay_ms=3000)
    answer = orders.post("/orders", json={"product_id": 1, "quantity": 1}, timeout=10)
    assert answer.status_code == 504
    assert "did not answer within 0.3 s" in answer.json()["message"]


def test_a_dead_redis_is_a_json_503_from_carts(launch, redis_server):
    carts = launch("carts", name="carts-dead-redis", redis_url="redis://127.0.0.1:1/0")
    answer = carts.get("/carts/ann")
    assert answer.status_code == 503
    assert "Redis" in answer.json()["message"]
