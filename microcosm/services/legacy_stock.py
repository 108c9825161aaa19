"""stock: a *legacy* warehouse service that speaks XML and form data, not JSON (for the gateway's protocol translation).

    GET  /stock?sku=3                      -> <stock><sku>3</sku><quantity>12</quantity><warehouse>north</warehouse></stock>
    POST /stock  sku=3&delta=-2 (form)     -> the same document with the new quantity

Errors are XML too: <error><code>NOT_FOUND</code><message>...</message></error> with the HTTP status.
Clients never see any of this: the gateway's `/api/stock/<sku>` turns it into JSON both ways.
It registers in the registry as "stock" and owns its SQLite file.
"""
from pathlib import Path
from xml.sax.saxutils import escape

from flask import Response, request

from .base import create_service, whole_number
from .storage import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    sku       INTEGER PRIMARY KEY,
    quantity  INTEGER NOT NULL CHECK (quantity >= 0),
    warehouse TEXT NOT NULL
);
"""
STARTER_STOCK = [(1, 12, "north"), (2, 0, "north"), (3, 250, "south"), (4, 7, "south")]


def xml(tag: str, status: int = 200, **fields) -> Response:
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag}>{inner}</{tag}>\n', status=status,
                    mimetype="application/xml")


def create_app(config: dict):
    app = create_service("stock", config)
    db = Database(Path(config["data_dir"]) / "stock.db", SCHEMA)
    if not db.one("SELECT sku FROM stock LIMIT 1"):
        for row in STARTER_STOCK:
            db.execute("INSERT INTO stock (sku, quantity, warehouse) VALUES (?, ?, ?)", *row)

    def sku_param(source) -> int | Response:
        sku = whole_number(source.get("sku"), 0, 2**62)
        if sku is None:
            return xml("error", 400, code="BAD_SKU", message="sku must be a whole number")
        return sku

    @app.get("/stock")
    def get_stock():
        sku = sku_param(request.args)
        if isinstance(sku, Response):
            return sku
        row = db.one("SELECT * FROM stock WHERE sku = ?", sku)
        if row is None:
            return xml("error", 404, code="NOT_FOUND", message=f"no stock record for sku {sku}")
        return xml("stock", **row)

    @app.post("/stock")
    def move_stock():
        if request.mimetype != "application/x-www-form-urlencoded":
            return xml("error", 415, code="BAD_FORMAT", message="send a form (application/x-www-form-urlencoded)")
        sku = sku_param(request.form)
        if isinstance(sku, Response):
            return sku
        delta = whole_number(request.form.get("delta"), -1_000_000, 1_000_000)
        if delta is None:
            return xml("error", 400, code="BAD_DELTA", message="delta must be a whole number (negative takes stock out)")
        conn = db.connect()
        with conn:
            row = conn.execute("SELECT quantity FROM stock WHERE sku = ?", (sku,)).fetchone()
            if row is None:
                return xml("error", 404, code="NOT_FOUND", message=f"no stock record for sku {sku}")
            if row["quantity"] + delta < 0:
                return xml("error", 409, code="NOT_ENOUGH", message=f"only {row['quantity']} in stock")
            conn.execute("UPDATE stock SET quantity = quantity + ? WHERE sku = ?", (delta, sku))
        return xml("stock", **db.one("SELECT * FROM stock WHERE sku = ?", sku))

    return app
