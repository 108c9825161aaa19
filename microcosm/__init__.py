"""microcosm: a microservices system you build in notebooks, one small process at a time.

    import microcosm
    catalog = microcosm.launch("catalog")      # its own process, on a free port, ready
    catalog.get("/products").json()
    microcosm.running()                        # what this kernel started
    microcosm.stop_all()
    system = microcosm.up()                    # the whole system at once (microcosm/system/); then microcosm.down()
    microcosm.export()                         # the same system as Compose and Kubernetes files (microcosm/export/)

`import microcosm` itself loads almost nothing: each name below is imported the first time it is used
(PEP 562's module `__getattr__`). A service process (`python -m microcosm.serve`) or the guard that starts
Redis and ZooKeeper (`python -m microcosm.runtime.guard`) imports this file on its way to its own module, and
should not pay for the notebook's side (widgets, Locust runner, Redis client) to do it.
"""
from __future__ import annotations

import importlib

from . import load as _load_package  # the subpackage, now (it is light), so the name `load` stays the function

del load  # noqa: F821 - the import bound the subpackage here; `microcosm.load` is the function `load.load`
from . import export as _export_package  # light: its modules load when export() runs

del export  # noqa: F821 - likewise: `microcosm.export` is the function `export.export`

__version__ = "0.1.0"

_WHERE = {  # name -> the module that defines it
    "launch": ".runtime.service", "scale": ".runtime.service", "Service": ".runtime.service",
    "running": ".runtime.process", "stop_all": ".runtime.process", "LaunchError": ".runtime.process",
    "redis": ".runtime.infra", "zookeeper": ".runtime.infra", "MissingDependency": ".runtime.infra",
    "check_environment": ".runtime.doctor",
    "monitor": ".traffic.monitor",
    "load": ".load.runner",
    "up": ".system", "down": ".system", "Topology": ".system", "Component": ".system",
    "export": ".export",
}
__all__ = ["launch", "scale", "running", "stop_all", "redis", "zookeeper", "check_environment", "monitor", "load",
           "Service", "LaunchError", "MissingDependency", "up", "down", "Topology", "Component", "export"]


def __getattr__(name: str):
    """Import `name` on first use, then keep it here so the next use costs nothing."""
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    else:  # a subpackage or module: microcosm.services, microcosm.trust, ...
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise  # the module exists but something it imports is missing: say so
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
