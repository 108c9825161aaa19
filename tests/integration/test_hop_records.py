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


def test_a_batch_redis_refuses_is_dropped_and_counted_and_the_next_one_is_recorded(redis_server):
    """The sender packs its XADDs itself: a refused batch (here the stream's key holds a string) must be counted as
    dropped, leave its connection in step, and every field of the next batch arrive as the service gave it."""
    from microcosm.traffic.hops import HopRecorder, read_hops

    stream = f"test:hops:{uuid.uuid4().hex[:8]}"
    client = redis_server.client()
    client.set(stream, "not a stream")
    recorder = HopRecorder(redis_server.url, stream=stream)
    try:
        recorder.record(request_id="r1", hop="h1", callee="x", status=200, ms=1.0)
        deadline = time.monotonic() + 10
        while recorder.stats()["dropped"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert recorder.stats()["dropped"] == 1 and recorder.stats()["redis_ok"] is False
        client.delete(stream)
        odd = {"request_id": "r2", "hop": "h2", "parent": None, "callee": "x", "status": 201, "ms": 0.5,
               "lost": True, "path": "/é/" + "p" * 600, "bytes": 12}
        recorder.record(**odd)
        while not client.exists(stream) and time.monotonic() < deadline + 10:
            time.sleep(0.02)
        hops, _ = read_hops(client, stream=stream)
        assert len(hops) == 1, hops
        hop = hops[0]
        assert (hop["request_id"], hop["hop"], hop["parent"], hop["status"], hop["lost"], hop["bytes"]) == \
            ("r2", "h2", "", 201, "True", "12")
        assert hop["path"] == "/é/" + "p" * 509 + "…"  # kept to 512 characters, as record() cuts it
        assert recorder.stats()["sent"] == 1 and recorder.stats()["redis_ok"] is True
    finally:
        recorder._stopping = True
        client.delete(stream)



def test_an_error_reply_amid_a_batch_fails_it_and_a_long_batch_is_recorded_whole(redis_server):
    """The replies of a batch are read from the socket by one hiredis Reader: an error reply between two good ones
    fails the batch (the sender drops and counts it), the next batch is recorded as sent, and a batch of 500
    hops, whose replies may take more than one read, arrives whole and in order."""
    from microcosm.traffic.hops import HopRecorder, read_hops

    stream = f"test:hops:{uuid.uuid4().hex[:8]}"
    client = redis_server.client()
    recorder = HopRecorder(redis_server.url, stream=stream, flush_every=3600)  # batches sent by this test only
    try:
        with pytest.raises(Exception, match="wrong number of arguments"):  # an XADD without fields: refused
            recorder._send([{"request_id": "a", "status": 200}, {}, {"request_id": "b", "status": 200}])
        recorder._send([{"request_id": f"long{i}", "path": "/p" * 100, "status": 200} for i in range(500)])
        hops, _ = read_hops(client, stream=stream)
        assert [h["request_id"] for h in hops] == ["a", "b"] + [f"long{i}" for i in range(500)]
    finally:
        recorder._stopping = True
        client.delete(stream)
