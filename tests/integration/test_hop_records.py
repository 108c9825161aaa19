"""Every hop a request makes is recorded in Redis, with its place in the call tree, off the request's path."""
import time
import uuid

import pytest

from microcosm.traffic.hops import newest_hops


def hops_of(redis_server, request_id, expected, timeout=10.0):
    """The recorded hops of one request, once `expected` of them have arrived."""
    client = redis_server.client(decode_responses=False)
    deadline = time.monotonic() + timeout
    while True:
        hops = [h for h in newest_hops(client, 2000) if h["request_id"] == request_id]
        if len(hops) >= expected or time.monotonic() > deadline:
            return {h["callee"]: h for h in hops}
        time.sleep(0.05)


@pytest.fixture
def chain(launch, redis_server):
    """client -> carts -> orders -> catalog: three services, three hops per checked-out item."""
    catalog = launch("catalog")
    orders = launch("orders", catalog_url=catalog.url)
    carts = launch("carts", orders_url=orders.url)
    return carts, orders, catalog


def checkout(carts, user):
    carts.put(f"/carts/{user}/items/3", json={"quantity": 2})
    rid = uuid.uuid4().hex
    return rid, carts.post(f"/carts/{user}/checkout", headers={"X-Request-ID": rid})


def test_a_three_hop_chain_records_every_hop_with_its_parent(chain, redis_server):
    carts, orders, catalog = chain
    rid, answer = checkout(carts, "hop-ok")
    assert answer.status_code == 201
    hops = hops_of(redis_server, rid, 3)
    assert set(hops) == {"carts", "orders", "catalog"}
    c, o, k = hops["carts"], hops["orders"], hops["catalog"]
    assert (c["caller"], c["parent"], c["method"], c["path"], c["status"]) == ("client", "", "POST", "/carts/hop-ok/checkout", 201)
    assert (o["caller"], o["parent"], o["status"]) == ("carts", c["hop"], 201)
    assert (k["caller"], k["parent"], k["path"], k["status"]) == ("orders", o["hop"], "/products/3", 200)
    assert len({c["hop"], o["hop"], k["hop"]}) == 3
    assert all(h["ms"] > 0 and h["ts"] > 0 for h in hops.values())
    assert c["ms"] >= o["ms"] >= k["ms"]  # each hop contains the one it caused
    assert k["instance"] == catalog.name and o["caller_instance"] == carts.name


def test_an_upstream_failure_is_recorded_as_an_error_on_every_hop(chain, redis_server):
    carts, orders, catalog = chain
    catalog.chaos(fail_next=1, fail_status=500)
    rid, answer = checkout(carts, "hop-fail")
    assert answer.status_code == 502
    hops = hops_of(redis_server, rid, 3)
    assert {name: h["status"] for name, h in hops.items()} == {"carts": 502, "orders": 502, "catalog": 500}


def test_a_dead_upstream_is_recorded_by_its_caller(chain, redis_server):
    carts, orders, catalog = chain
    catalog.kill()
    rid, answer = checkout(carts, "hop-dead")
    assert answer.status_code == 502
    hops = hops_of(redis_server, rid, 3)
    dead = hops["catalog"]
    assert dead["status"] == 503 and dead["instance"] == "" and "unreachable" in dead["error"]
    assert dead["parent"] == hops["orders"]["hop"] and hops["orders"]["status"] == 503


def test_requests_keep_succeeding_while_redis_is_down_and_recording_resumes(launch, redis_server):
    catalog = launch("catalog")
    orders = launch("orders", catalog_url=catalog.url)
    redis_server.kill()
    statuses = [orders.post("/orders", json={"product_id": 1, "quantity": 1}).status_code for _ in range(30)]
    assert statuses == [201] * 30
    redis_server.restart()
    rid = uuid.uuid4().hex
    deadline = time.monotonic() + 15
    hops = {}
    while len(hops) < 2 and time.monotonic() < deadline:  # the recorder retries with backoff (at most 1 s)
        orders.post("/orders", json={"product_id": 1, "quantity": 1}, headers={"X-Request-ID": rid})
        hops = hops_of(redis_server, rid, 2, timeout=1.5)
    assert set(hops) == {"orders", "catalog"}
