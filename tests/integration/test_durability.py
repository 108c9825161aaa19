"""A process killed with SIGKILL and started again still has every write it acknowledged."""
from concurrent.futures import ThreadPoolExecutor


def test_catalog_and_orders_keep_every_acknowledged_write_through_sigkill(catalog, orders):
    def place(i):
        return orders.post("/orders", json={"product_id": 1 + i % 4, "quantity": 1 + i % 3})

    def add(i):
        return catalog.post("/products", json={"name": f"Thing {i}", "price_cents": 100 + i})

    with ThreadPoolExecutor(8) as pool:
        placed = [a.json() for a in pool.map(place, range(60)) if a.status_code == 201]
        added = [a.json() for a in pool.map(add, range(30)) if a.status_code == 201]
    assert len(placed) == 60 and len(added) == 30

    orders.kill()
    catalog.kill()
    catalog.restart()
    orders.restart()

    kept_orders = {o["id"]: o for o in orders.get("/orders?limit=1000").json()["orders"]}
    assert all(kept_orders.get(o["id"]) == o for o in placed)
    kept_products = {p["id"]: p for p in catalog.get("/products?limit=1000").json()["products"]}
    assert all(kept_products.get(p["id"]) == p for p in added)


def test_a_cart_survives_its_service_being_killed(carts):
    carts.put("/carts/ada/items/2", json={"quantity": 3})
    carts.kill()
    carts.restart()
    assert carts.get("/carts/ada").json()["items"] == [{"product_id": 2, "quantity": 3}]


def test_a_cart_survives_redis_being_killed_thanks_to_the_append_only_file(carts, redis_server):
    for user in ("bo", "cy", "di"):
        assert carts.put(f"/carts/{user}/items/1", json={"quantity": 5}).status_code == 200
    redis_server.kill()
    assert carts.get("/carts/bo").status_code == 503  # the store is down: a clear error, not a hang
    redis_server.restart()
    for user in ("bo", "cy", "di"):
        assert carts.get(f"/carts/{user}").json()["items"] == [{"product_id": 1, "quantity": 5}]
