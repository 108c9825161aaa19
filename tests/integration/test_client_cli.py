"""`python -m microcosm.clients`, run as a learner runs it in a terminal, against real services and a gateway."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from identity_helpers import CHEAP_ARGON2, PASSWORD, user_token


def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microcosm.clients", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def shop(launch_for_module, tmp_path_factory):
    root, tag = tmp_path_factory.mktemp("client-cli"), uuid.uuid4().hex[:6]

    def start(service, **config):
        return launch_for_module(service, f"cli-{service}-{tag}", data_dir=str(root / service), traffic=False,
                                 **config)

    shop = type("Shop", (), {})()
    shop.identity = start("identity", argon2=CHEAP_ARGON2)
    shop.catalog = start("catalog")
    shop.orders = start("orders", catalog_url=shop.catalog.url)
    shop.gateway = start("gateway", identity_url=shop.identity.url, rate_limit=False,
                         upstreams={"catalog": shop.catalog.url, "orders": shop.orders.url})
    shop.token = user_token(shop.identity, "ada")
    return shop


def test_products_from_the_catalog(shop):
    run = cli("--url", shop.catalog.url, "products", "--stats")
    assert run.returncode == 0, run.stderr
    header, *rows = run.stdout.splitlines()
    assert header.split() == ["id", "name", "price_cents"] and len(rows) >= 3
    assert json.loads(run.stderr.strip().splitlines()[-1])["attempts"] == 1


def test_an_order_through_the_gateway_with_a_key_placed_once(shop):
    gateway = f"{shop.gateway.url}/api"
    key = f"cli-{uuid.uuid4()}"
    first = cli("order", "1", "--quantity", "2", "--key", key,
                env={"MICROCOSM_URL": gateway, "MICROCOSM_TOKEN": shop.token})
    again = cli("--url", gateway, "--token", shop.token, "order", "1", "--quantity", "2", "--key", key)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert json.loads(first.stdout) == json.loads(again.stdout)
    listed = cli("--url", gateway, "--token", shop.token, "orders")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2  # the header and one order
    fetched = cli("--url", gateway, "--token", shop.token, "get", f"/orders/{json.loads(first.stdout)['id']}")
    assert json.loads(fetched.stdout)["quantity"] == 2


def test_login_prints_a_token_that_places_an_order(shop):
    run = cli("--url", shop.identity.url, "login", "ada", env={"MICROCOSM_PASSWORD": PASSWORD})
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip()
    placed = cli("--url", f"{shop.gateway.url}/api", "order", "2", env={"MICROCOSM_TOKEN": token})
    assert placed.returncode == 0 and json.loads(placed.stdout)["product_id"] == 2
    wrong = cli("--url", shop.identity.url, "login", "ada", env={"MICROCOSM_PASSWORD": "not it"})
    assert wrong.returncode == 1 and "/token -> 400" in wrong.stderr and not wrong.stdout


def test_errors_and_exit_statuses(shop):
    refused = cli("--url", shop.orders.url, "order", "999")
    assert refused.returncode == 1 and "no product with id 999" in refused.stderr
    no_token = cli("--url", f"{shop.gateway.url}/api", "orders")
    assert no_token.returncode == 1 and "401" in no_token.stderr
    dead = cli("--url", "http://127.0.0.1:9", "--retries", "1", "products", "--stats")
    assert dead.returncode == 3 and "no answer after 2 attempts" in dead.stderr
    assert cli("products", env={"MICROCOSM_URL": ""}).returncode == 2
    assert cli("--url", shop.catalog.url, "frobnicate").returncode == 2
    no_scheme = cli("--url", "127.0.0.1:9", "products")
    assert no_scheme.returncode == 2 and "http://" in no_scheme.stderr and "Traceback" not in no_scheme.stderr
