"""The service registry and discovery, with real processes: join, heartbeat, expire, restart, cache."""
import time

import pytest

from microcosm.discovery import Discovery

TTL = 1.0  # short, so expiry shows within a test; a heartbeat goes every TTL / 3


@pytest.fixture
def registry(launch):
    return launch("registry")


@pytest.fixture
def instances(launch, registry, tmp_path):
    """Three catalog instances sharing one database, each registered with a 1 s TTL."""
    return [launch("catalog", name=f"catalog-{i}", data_dir=str(tmp_path), registry_ttl=TTL) for i in (1, 2, 3)]


@pytest.fixture
def discovery(registry):
    d = Discovery(registry.url, "catalog", wait=2)
    yield d
    d.stop()


def events(registry, kind, instance_id):
    return [e for e in registry.get("/events").json()["events"] if e["event"] == kind and e["id"] == instance_id]


def test_launched_instances_register_themselves(instances, discovery):
    assert discovery.wait_for(lambda found: len(found) == 3)
    assert sorted(discovery.urls()) == sorted(i.url for i in instances)
    assert {i["id"] for i in discovery.instances()} == {"catalog-1", "catalog-2", "catalog-3"}


def test_a_killed_instance_leaves_within_its_ttl_plus_one_heartbeat(instances, discovery, registry):
    assert discovery.wait_for(lambda found: len(found) == 3)
    killed_at = time.time()
    instances[0].kill()
    assert discovery.wait_for(lambda found: "catalog-1" not in {i["id"] for i in found}, timeout=15)
    expired = events(registry, "expired", "catalog-1")
    assert len(expired) == 1
    # the bound, on the registry's own clock: gone within TTL plus one heartbeat interval of the kill
    assert expired[0]["at"] - killed_at <= TTL + TTL / 3
    # and never early: not before its TTL had passed since the last heartbeat it sent
    assert expired[0]["at"] - expired[0]["last_heartbeat"] > TTL


def test_a_clean_stop_deregisters_at_once(instances, discovery, registry):
    assert discovery.wait_for(lambda found: len(found) == 3)
    instances[1].stop()
    assert events(registry, "deregistered", "catalog-2") and not events(registry, "expired", "catalog-2")
    assert discovery.wait_for(lambda found: len(found) == 2)


def test_discovery_serves_the_last_known_instances_while_the_registry_is_down(instances, discovery, registry):
    assert discovery.wait_for(lambda found: len(found) == 3)
    registry.kill()
    deadline = time.monotonic() + 10
    while discovery.registry_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not discovery.registry_up and len(discovery.instances()) == 3


def test_a_restarted_registry_catches_up_from_heartbeats(instances, discovery, registry):
    assert discovery.wait_for(lambda found: len(found) == 3)
    registry.kill()
    registry.restart()  # empty: it keeps no state
    assert discovery.wait_for(lambda found: len(found) == 3 and discovery.registry_up, timeout=15)
    assert {e["id"] for e in registry.get("/events").json()["events"] if e["event"] == "registered"} == \
        {"catalog-1", "catalog-2", "catalog-3"}


def test_a_new_instance_is_heard_of_by_long_poll_not_by_polling_the_list(launch, registry, discovery, tmp_path):
    assert discovery.wait_for(lambda found: True)
    launch("catalog", name="catalog-9", data_dir=str(tmp_path))
    registered = events(registry, "registered", "catalog-9")[0]["at"]
    assert discovery.wait_for(lambda found: "catalog-9" in {i["id"] for i in found}, timeout=10)
    assert discovery.last_refresh - registered < 1.0  # the long poll returned on the change, not on its timeout


@pytest.mark.parametrize("method, path, body, status, words", [
    ("POST", "/services/catalog/instances", {"id": "x"}, 400, "'url' is required"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "not a url"}, 400, "must look like http://host:port"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "ftp://a:1"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1", "ttl": -1}, 400, "at least 0.1"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1", "ttl": "long"}, 400, "must be a number"),
    ("POST", "/services/catalog/instances", {"id": 5, "url": "http://127.0.0.1:1"}, 400, "must be a string"),
    ("POST", "/services/Not%20A%20Name/instances", {"id": "x", "url": "http://127.0.0.1:1"}, 400, "service name"),
    ("PUT", "/services/ghosts/instances/nobody/heartbeat", None, 404, "register again"),
    ("DELETE", "/services/ghosts/instances/nobody", None, 404, "not registered"),
    ("GET", "/services/catalog?wait=99", None, 400, "'wait' must be between"),
    ("GET", "/services/catalog?version=new", None, 400, "must be numbers"),
    # URLs by the balancer's own rule (an entry it could not use would freeze its list)
    ("POST", "/services/catalog/instances", {"id": "x", "url": "https://127.0.0.1:1"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:99999"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1/admin"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://user@127.0.0.1:1"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1?x=1"}, 400, "must look like"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1", "ttl": 3600}, 400, "at most 300"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1", "metadata": {"weight": 1e9}}, 400,
     "'weight'"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1", "metadata": {"weight": "9"}}, 400,
     "'weight'"),
    ("POST", "/services/catalog/instances", {"id": "x", "url": "http://127.0.0.1:1", "metadata": {"a": "x" * 3000}},
     400, "at most 2048 bytes"),
])
def test_bad_registrations_get_a_json_4xx(registry, method, path, body, status, words):
    answer = registry.request(method, path, json=body, timeout=5)  # with the launch secret: the input is wrong
    assert answer.status_code == status and words in answer.json()["message"]


def test_one_service_holds_a_bounded_number_of_instances(registry):
    for i in range(64):
        assert registry.post("/services/crowd/instances", json={"id": f"i{i}", "url": f"http://127.0.0.1:{2000 + i}",
                                                                 "ttl": 60}).status_code == 201
    answer = registry.post("/services/crowd/instances", json={"id": "one-more", "url": "http://127.0.0.1:3000"})
    assert answer.status_code == 507 and "64 instances" in answer.json()["message"]
    assert registry.delete("/services/crowd/instances/i0").status_code == 200  # room again for one
    assert registry.post("/services/crowd/instances", json={"id": "one-more", "url": "http://127.0.0.1:3000"}).status_code == 201


def test_a_duplicate_instance_id_at_another_url_is_a_conflict(registry):
    first = {"id": "dup", "url": "http://127.0.0.1:1111"}
    assert registry.post("/services/catalog/instances", json=first).status_code == 201
    assert registry.post("/services/catalog/instances", json=first).status_code == 200  # same again: a refresh
    answer = registry.post("/services/catalog/instances", json={"id": "dup", "url": "http://127.0.0.1:2222"})
    assert answer.status_code == 409 and answer.json()["field"] == "id"
