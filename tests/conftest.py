"""Fixtures shared by every test: services launched for real, stopped after each test."""
import pytest

import microcosm
from microcosm.runtime import process


@pytest.fixture
def launch():
    """microcosm.launch, with everything the test started stopped at its end (infrastructure stays)."""
    launched = []

    def _launch(service, name=None, **kwargs):
        instance = microcosm.launch(service, name, **kwargs)
        launched.append(instance)
        return instance

    yield _launch
    for instance in reversed(launched):
        instance.stop()
        instance.forget()


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
