"""Real Redis and a real ZooKeeper, one of each per kernel, or the ones named in the environment."""
import pytest

import microcosm
from microcosm.runtime import infra


def test_redis_is_a_real_server_started_once_with_its_append_only_file(redis_server):
    assert microcosm.redis() is redis_server
    client = redis_server.client()
    assert client.ping() and client.info("server")["redis_version"]
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("bind")["bind"] == "127.0.0.1"


def test_zookeeper_is_a_real_server_that_kazoo_can_use(zookeeper_server):
    assert microcosm.zookeeper() is zookeeper_server
    zk = zookeeper_server.client()
    try:
        zk.ensure_path("/microcosm/test")
        zk.set("/microcosm/test", b"hello")
        assert zk.get("/microcosm/test")[0] == b"hello"
        assert zk.server_version()[0] == 3
    finally:
        zk.stop()
        zk.close()


def test_environment_variables_attach_to_running_servers(monkeypatch, redis_server, zookeeper_server):
    monkeypatch.setenv("MICROCOSM_REDIS_URL", redis_server.url)
    monkeypatch.setenv("MICROCOSM_ZK_HOSTS", zookeeper_server.hosts)
    attached = microcosm.redis()
    assert isinstance(attached, infra.AttachedRedis) and attached.client().ping()
    zk = microcosm.zookeeper()
    assert isinstance(zk, infra.AttachedZooKeeper)
    client = zk.client()
    assert client.connected
    client.stop()


def test_a_missing_redis_binary_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(microcosm.MissingDependency, match="redis-server is not installed. Install it with: .*install"):
        infra.RedisServer(name="redis-missing").start()


def test_a_missing_java_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(microcosm.MissingDependency, match="Java is not installed"):
        infra.ZooKeeperServer(name="zk-missing").start()
