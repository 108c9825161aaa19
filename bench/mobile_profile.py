"""Web vs mobile: bytes, round trips and time to a useful screen over a slow link (chapter 09's figures).

    python bench/mobile_profile.py [--quick] [--delay-ms 100] [--bandwidth 20000] [--products 20] [--repeat 3]

Real processes: identity, catalog (with `--products` products), carts, orders, a gateway (CORS for one
origin), and the network proxy `netem` in front of the gateway with `--delay-ms` each way and `--bandwidth`
bytes/s. One user with a cart of 3 items and one order. The home screen loaded as the web page loads it (3
calls in turn; also with the CORS preflights a browser sends with an empty preflight cache) and as the mobile
app does (one call to the backend for frontend, /api/mobile/home), through the proxy, by
microcosm/clients/profiles.py. Bytes and round trips are the proxy's own counts; seconds (the median of
`--repeat` runs) are measured by the client and depend on the machine: compare the ratios.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from common import machine_line  # noqa: E402

import requests  # noqa: E402

import microcosm  # noqa: E402
from identity_helpers import ADMIN, CHEAP_ARGON2, user_token  # noqa: E402
from microcosm.clients import profiles  # noqa: E402

ORIGIN = "http://shop.example"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one run per profile")
    p.add_argument("--delay-ms", type=int, default=100, help="latency added each way (ms)")
    p.add_argument("--bandwidth", type=int, default=20_000, help="bytes per second each way")
    p.add_argument("--products", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    repeat = 1 if args.quick else args.repeat
    tag, root, started = uuid.uuid4().hex[:6], tempfile.mkdtemp(prefix="bench-mobile-"), []

    def start(service, name, **config):
        started.append(microcosm.launch(service, f"bench-mobile-{name}-{tag}", traffic=False, **config))
        return started[-1]

    try:
        identity = start("identity", "identity", data_dir=f"{root}/identity", admin_secret=ADMIN,
                         publish_delay=1.0, argon2=CHEAP_ARGON2)
        carts = start("carts", "carts", key_prefix=f"bench-mobile-{tag}:carts:")
        catalog = start("catalog", "catalog", data_dir=f"{root}/catalog")
        orders = start("orders", "orders", catalog_url=catalog.url, data_dir=f"{root}/orders")
        gateway = start("gateway", "gateway", identity_url=identity.url, rate_limit=False, cors_origins=[ORIGIN],
                        upstreams={"carts": carts.url, "catalog": catalog.url, "orders": orders.url})
        for i in range(args.products):
            catalog.post("/products", json={"name": f"Product {i}: a sturdy everyday thing",
                                            "price_cents": 199 + 50 * i})
        token = user_token(identity, "ada")
        auth = {"Authorization": f"Bearer {token}"}
        requests.put(f"{gateway.url}/api/carts/ada/items/1", json={"quantity": 2}, headers=auth).raise_for_status()
        requests.put(f"{gateway.url}/api/carts/ada/items/2", json={"quantity": 1}, headers=auth).raise_for_status()
        placed = requests.post(f"{gateway.url}/api/orders", json={"product_id": 1, "quantity": 1}, headers=auth)
        placed.raise_for_status()
        netem = start("netem", "netem", upstream=gateway.url, delay_up_ms=args.delay_ms, delay_down_ms=args.delay_ms,
                      bandwidth=args.bandwidth)
        print(machine_line())
        print(f"link: {args.delay_ms} ms each way, {args.bandwidth} bytes/s; {args.products} products; "
              f"median of {repeat} run(s)\n")
        for preflight in (False, True):
            figures = profiles.compare(netem, token, "ada", order=placed.json()["id"], preflight=preflight,
                                       repeat=repeat, origin=ORIGIN)
            print("web with CORS preflights (empty preflight cache)" if preflight else "web without preflights")
            print(profiles.table(figures))
            print(profiles.verdict(figures), "\n")
    finally:
        for service in reversed(started):
            service.stop()


if __name__ == "__main__":
    main()
