"""catalog: the products and their prices. Owns its SQLite database.

Product reads may be kept by any cache for `max_age` seconds (config, default 10) and carry an ETag, so a cache
holding an older copy asks "still this one?" and gets a 304 without a body (conditional.py)."""
import sqlite3
from pathlib import Path


from .base import ApiError, Int, Str, create_service, found, query_int, read_json
from .conditional import cacheable
from .storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0)
);
"""
STARTER_PRODUCTS = [("Lamp", 2500), ("Kettle", 3999), ("Notebook", 450), ("Headphones", 7999)]


def create_app(config: dict):
    app = create_service("catalog", config)
    max_age = config.get("max_age", 10)  # seconds a cache may keep a product read without asking again
    db = Database(Path(config["data_dir"]) / "catalog.db", SCHEMA)
    if config.get("seed", True) and not db.one("SELECT id FROM products LIMIT 1"):
        for name, price in STARTER_PRODUCTS:
            db.execute("INSERT INTO products (name, price_cents) VALUES (?, ?)", name, price)

    @app.get("/products")
    @cacheable(max_age)
    def list_products():
        limit = query_int("limit", 100, 1, 1000)
        return {"products": db.query("SELECT * FROM products ORDER BY id LIMIT ?", limit)}

    @app.get("/products/<int:product_id>")
    @cacheable(max_age)
    def get_product(product_id: int):
        return found(db.one("SELECT * FROM products WHERE id = ?", product_id), f"no product with id {product_id}")

    @app.post("/products")
    def add_product():
        body = read_json(name=Str(min=1, max=100), price_cents=Int(min=0, max=100_000_000))
        try:
            new_id = db.execute("INSERT INTO products (name, price_cents) VALUES (?, ?)",
                                body["name"], body["price_cents"])
        except sqlite3.IntegrityError:
            raise ApiError(409, f"a product named '{body['name']}' already exists", field="name")
        return db.one("SELECT * FROM products WHERE id = ?", new_id), 201

    @app.put("/products/<int:product_id>")
    def set_price(product_id: int):
        """A new price: the product's representation changes, and so does its ETag."""
        body = read_json(price_cents=Int(min=0, max=100_000_000))
        db.execute("UPDATE products SET price_cents = ? WHERE id = ?", body["price_cents"], product_id)
        return found(db.one("SELECT * FROM products WHERE id = ?", product_id), f"no product with id {product_id}")

    return app
