"""Fixtures shared by the integration tests: `world`, one live gateway in front of every service.

(`launch`, `launch_for_module` and the infrastructure fixtures come from tests/conftest.py.)
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from identity_helpers import ADMIN, CHEAP_ARGON2, user_token

PATH_ECHO = str(Path(__file__).parent / "services" / "path_echo.py")
PATH_ECHO_ROUTES = [
    {"prefix": "/api/echo", "service": "path_echo", "path": "/echo",
     "methods": {"GET": None, "PUT": [], "POST": [], "DELETE": []}},
    {"prefix": "/api/mine", "service": "path_echo", "path": "/mine", "methods": {"GET": [], "DELETE": []},
     "owner": True},  # like carts: the first segment must be the caller's own name
    {"prefix": "/api/prefixed", "service": "prefixed_echo", "path": "/p", "methods": {"GET": None}},
]


class World:
    """identity, carts, catalog, orders, legacy stock and a path echo service, a gateway in front of them all,
    and alice's Authorization header."""


@pytest.fixture(scope="module")
def world(launch_for_module, tmp_path_factory):
    """One gateway in front of everything, for a whole module (test_gateway_paths, test_gateway_malformed)."""
    tag, root = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("paths")

    def start(service, name, **config):
        return launch_for_module(service, f"paths-{name}-{tag}", traffic=False, **config)

    w = World()
    w.identity = start("identity", "identity", data_dir=str(root / "identity"), admin_secret=ADMIN,
                       publish_delay=1.0, argon2=CHEAP_ARGON2)
    w.carts = start("carts", "carts", key_prefix=f"paths-{tag}:carts:")
    w.catalog = start("catalog", "catalog", data_dir=str(root / "catalog"))
    w.orders = start("orders", "orders", catalog_url=w.catalog.url, data_dir=str(root / "orders"))
    w.stock = start("legacy_stock", "stock", data_dir=str(root / "stock"))
    w.echo = start(PATH_ECHO, "echo")
    w.gateway = start("gateway", "gateway", identity_url=w.identity.url, rate_limit=False, routes=PATH_ECHO_ROUTES,
                      upstreams={"carts": w.carts.url, "catalog": w.catalog.url, "orders": w.orders.url,
                                 "stock": w.stock.url, "path_echo": w.echo.url,
                                 "prefixed_echo": f"{w.echo.url}/behind"})  # an upstream URL with a path
    w.alice = {"Authorization": f"Bearer {user_token(w.identity, 'alice')}"}
    return w


@pytest.fixture(scope="module")
def catalog_and_orders(launch_for_module, tmp_path_factory):
    """(catalog, orders) of their own, for a whole module: each test uses ids or keys of its own."""
    root, tag = tmp_path_factory.mktemp("shop"), uuid.uuid4().hex[:6]
    catalog = launch_for_module("catalog", f"shop-catalog-{tag}", data_dir=str(root / "catalog"), traffic=False)
    orders = launch_for_module("orders", f"shop-orders-{tag}", catalog_url=catalog.url, data_dir=str(root / "orders"),
                               traffic=False)
    return catalog, orders

