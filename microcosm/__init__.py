"""microcosm: a microservices system you build in notebooks, one small process at a time.

    import microcosm
    catalog = microcosm.launch("catalog")      # its own process, on a free port, ready
    catalog.get("/products").json()
    microcosm.running()                        # what this kernel started
    microcosm.stop_all()
"""
from .runtime.doctor import check_environment
from .runtime.infra import MissingDependency, redis, zookeeper
from .runtime.process import LaunchError, running, stop_all
from .runtime.service import Service, launch, scale
from .traffic.monitor import monitor
from .load import load

__all__ = ["launch", "scale", "running", "stop_all", "redis", "zookeeper", "check_environment", "monitor", "load", "Service", "LaunchError", "MissingDependency"]
__version__ = "0.1.0"
