"""Fixtures shared by every test: services launched for real, stopped after each test."""
import socket

import pytest

import microcosm
from launching import Launched
from microcosm.runtime import process
from microcosm.runtime.infra import RedisServer


@pytest.fixture
def launch():
    """microcosm.launch, with everything the test started stopped at its end (infrastructure stays)."""
    launched = Launched()
    yield launched
    launched.stop_all()


@pytest.fixture(scope="module")
def launch_for_module():
    """microcosm.launch for what a whole module shares: all it started is stopped when the module is done."""
    launched = Launched()
    yield launched
    launched.stop_all()


@pytest.fixture
def catalog(launch):
    return launch("catalog")


@pytest.fixture
def orders(launch, catalog):
    return launch("orders", catalog_url=catalog.url)


@pytest.fixture
def carts(launch):
    return launch("carts")


@pytest.fixture(autouse=True, scope="module")
def redis_emptied_for_each_module():
    """Each test module starts with this process's Redis empty (when it is running; it is not started here).

    Services of an earlier module leave streams, consumer groups and keys behind: an inventory's consumer group
    that still owes an OrderPlaced for that module's order 1 hands it to this module's inventory, whose order 1
    then looks like a duplicate. A Redis named by MICROCOSM_REDIS_URL is not ours to empty."""
    server = process.started("redis")
    if isinstance(server, RedisServer) and server.alive:
        with server.client() as client:
            client.flushall()
    yield


@pytest.fixture
def refused_url():
    """refused_url() -> a loopback URL whose connections are refused, for as long as the test runs.

    The port stays bound (never listening) until the test ends: a port only free "a moment ago" can be handed
    to a service launched next, or be picked as the local port of an outgoing connection to itself (a TCP
    self-connect, which succeeds), and the "dead" upstream then answers."""
    held = []

    def make() -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield make
    for sock in held:
        sock.close()


@pytest.fixture
def redis_server():
    """This test process's real Redis (started once, started again if a test stopped it)."""
    return microcosm.redis()


@pytest.fixture
def zookeeper_server():
    """This test process's real ZooKeeper (started once, started again if a test stopped it)."""
    return microcosm.zookeeper()


def pytest_sessionfinish(session, exitstatus):
    process.stop_all()
