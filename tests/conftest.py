"""Fixtures shared by every test: services launched for real, stopped after each test."""
import pytest

import microcosm
from launching import Launched
from microcosm.runtime import process


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
