"""carts: each user's shopping cart, kept in Redis under this service's own key prefix."""
import re

import redis

from .base import ApiError, Int, UpstreamError, call, create_service, error_response, read_json

USER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def create_app(config: dict):
    app = create_service("carts", config)
    store = redis.Redis.from_url(config["redis_url"], socket_timeout=1, socket_connect_timeout=0.5,
                                 decode_responses=True)
    prefix = config.get("key_prefix", "carts:")

    def key(user: str) -> str:
        if not USER.match(user):
            raise ApiError(400, "user must be 1-64 letters, digits, '-' or '_'", field="user")
        return f"{prefix}{user}"

    @app.errorhandler(redis.RedisError)
    def store_down(exc):
        return error_response(503, f"the cart store (Redis) is unavailable: {type(exc).__name__}")

    def cart(user: str) -> dict:
        items = store.hgetall(key(user))
        return {"user": user, "items": [{"product_id": int(p), "quantity": int(q)} for p, q in sorted(items.items())]}

    @app.get("/carts/<user>")
    def get_cart(user):
        return cart(user)

    @app.put("/carts/<user>/items/<int:product_id>")
    def put_item(user, product_id):
        body = read_json(quantity=Int(min=1, max=1000))
        store.hset(key(user), str(product_id), body["quantity"])
        return cart(user)

    @app.delete("/carts/<user>/items/<int:product_id>")
    def remove_item(user, product_id):
        if not store.hdel(key(user), str(product_id)):
            raise ApiError(404, f"product {product_id} is not in {user}'s cart")
        return cart(user)

    @app.post("/carts/<user>/checkout")
    def checkout(user):
        """Order every item in the cart, one call to orders each (orders asks catalog for the price).

        There is no transaction across services: if orders fails half-way, the items already ordered stay
        ordered and leave the cart, the rest stay in the cart, and the answer says which is which.
        """
        orders_url = config.get("orders_url")
        if not orders_url:
            raise ApiError(503, "carts was launched without orders_url: launch('orders') before launch('carts')")
        items = cart(user)["items"]
        if not items:
            raise ApiError(409, f"{user}'s cart is empty")
        placed = []
        for item in items:
            try:
                answer = call("POST", f"{orders_url.rstrip('/')}/orders", upstream="orders", json=item)
            except UpstreamError as exc:
                failure = {"status": exc.code, "message": exc.description}
            else:
                if answer.status_code == 201:
                    placed.append(answer.json())
                    store.hdel(key(user), str(item["product_id"]))
                    continue
                failure = {"status": answer.status_code, "message": answer.json().get("message", "")}
            status = failure["status"] if failure["status"] < 500 else 502
            raise ApiError(status, f"orders failed for product {item['product_id']}: {failure['message']}",
                           placed=placed, remaining=cart(user)["items"])
        return {"user": user, "orders": placed}, 201

    @app.delete("/carts/<user>")
    def empty_cart(user):
        store.delete(key(user))
        return cart(user)

    return app
