"""A topology as containers: each component's command, port, configuration and storage, with every reference
resolved to a DNS name. compose.py and kubernetes.py both write from this plan.

What changes in the move is how a component finds another. On one machine `launch()` gives each instance a free
port on 127.0.0.1, and `url("catalog-lb")` becomes http://127.0.0.1:41234. In containers each component is a
name on a network: Docker's embedded DNS (Compose) or the cluster's DNS (a Kubernetes Service) answers
`catalog-lb` with an address, and every service listens on the same port, 8000, inside its own network
namespace: `url("catalog-lb")` becomes http://catalog-lb:8000. Service discovery by DNS. `urls("catalog")`,
the list of a component's instances, becomes that one name too: the Service (kube-proxy) or Docker's DNS spreads
the connections over the replicas, which is what our balancer does on one machine.

What does not change: the same code, the same configuration keys, the same /health, the same launch secret
(given to every container from a Secret, never from a ConfigMap).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..system.topology import Component, Ref, Topology
from . import ExportError  # defined in the package's __init__, which `import microcosm` loads (it must stay light)

SERVICE_PORT, REDIS_PORT, ZOOKEEPER_PORT = 8000, 6379, 2181
DATA = "/data"  # a service's data_dir inside its container
IMAGE = "microcosm:0.1.0"  # what the Dockerfile builds
REDIS_IMAGE = "redis:7.2-alpine"
ZOOKEEPER_IMAGE = "zookeeper:3.8"

# Services whose data lives in files under data_dir (SQLite, keys): a volume each, never autoscaled (a new replica
# would not see the others' writes unless the volume is shared, and SQLite on a network file system is unsafe:
# production gives such a service a database server). `grep -rn data_dir microcosm/services` finds them.
KEEPS_DATA = frozenset({"catalog", "orders", "identity", "inventory", "notifications", "ledger", "journal",
                        "legacy_stock"})  # (reporter and flash_sale keep theirs in Redis and ZooKeeper)
IN_MEMORY = frozenset({"registry"})  # its state is in its memory: one replica, never autoscaled
# web's data_dir holds only what PUT /_web/config saved; the export gives those settings at start (see _then)
# Options a browser reads, not a service: an origin in CORS is what the page's browser sends (the public link)
BROWSER_SIDE = frozenset({"cors_origins"})
PUBLIC = ("gateway", "cdn", "web")  # services a browser reaches: published (Compose), behind the Ingress (Kubernetes)


@dataclass
class Unit:
    """One component, as containers."""

    name: str
    service: str  # what runs: a built-in service, a module, "redis" or "zookeeper"
    replicas: int
    port: int
    config: dict = field(default_factory=dict)  # the JSON given to create_app(config); empty for infrastructure
    needs: list[str] = field(default_factory=list)  # what must answer before it starts (Compose's depends_on)
    public: bool = False

    @property
    def infrastructure(self) -> bool:
        return self.service in ("redis", "zookeeper")

    @property
    def keeps_data(self) -> bool:
        return self.service == "redis" or self.service in KEEPS_DATA or (
            not self.infrastructure and "." in self.service)  # your own module: assume it keeps data

    @property
    def stateless(self) -> bool:
        """Any replica can answer any request, and a new one needs nothing from the others: it may autoscale."""
        return not (self.infrastructure or self.keeps_data or self.service in IN_MEMORY)


def dns(name: str) -> str:
    """A component's name on the network: a DNS label (Kubernetes' names too), '_' written '-'."""
    label = name.replace("_", "-")
    if not label[-1].isalnum():
        raise ExportError(f"{name!r} cannot be a name on the network (a DNS label ends with a letter or digit): "
                          f"rename the component")
    return label


def public_names(topology: Topology) -> list[str]:
    """The components a browser reaches: gateways and CDN edges, and a web origin no CDN stands in front of."""
    behind_cdn = {r.component for c in topology if c.service == "cdn" for r in c.refs()}
    return [c.name for c in topology if c.service in PUBLIC and not (c.service == "web" and c.name in behind_cdn)]


def zookeeper_name(topology: Topology) -> str:
    """ZooKeeper's name on the network (the component that runs it, if any)."""
    return dns(next((c.name for c in topology if c.service == "zookeeper"), "zookeeper"))


def plan(topology: Topology, links: dict[str, str], zookeeper_hosts: str) -> list[Unit]:
    """The units of `topology`, in start order. `links` are the public URLs (a browser's, for link(...)); a
    reference to ZooKeeper becomes `zookeeper_hosts` (one server in Compose, the ensemble in Kubernetes)."""
    public = set(public_names(topology))
    units = []
    for c in topology.order():
        if c.service.endswith(".py"):
            raise ExportError(f"{c.name!r} runs the file {c.service}, which is not in the image: make it a module "
                              f"of an installed package and name the module (service='mypackage.reviews')")
        port = {"redis": REDIS_PORT, "zookeeper": ZOOKEEPER_PORT}.get(c.service, SERVICE_PORT)
        unit = Unit(dns(c.name), c.service, c.count, port, needs=[dns(n) for n in topology.needs(c.name)],
                    public=c.name in public)
        if not c.infrastructure:
            unit.config = _config(c, topology, links, zookeeper_hosts)
        if any(u.name == unit.name for u in units):
            raise ExportError(f"{c.name!r} and another component are both {unit.name!r} on the network ('_' is "
                              f"written '-'): rename one of them")
        units.append(unit)
    return units


def address(ref: Ref, topology: Topology, links: dict[str, str], zookeeper_hosts: str):
    """What a reference becomes in containers: a DNS name and the fixed port (a list for urls(...))."""
    target = topology[ref.component]
    if target.service == "redis":
        found = f"redis://{dns(target.name)}:{REDIS_PORT}/0"
    elif target.service == "zookeeper":
        found = zookeeper_hosts
    elif ref.browser:
        if ref.component not in links:
            raise ExportError(f"link({ref.component!r}) is the URL a browser opens, but {ref.component!r} is not "
                              f"published: only {', '.join(PUBLIC)} components are")
        found = links[ref.component]
    else:
        found = f"http://{dns(target.name)}:{SERVICE_PORT}"
    return [found] if ref.every else found


def resolve(value, topology: Topology, links: dict[str, str], zookeeper_hosts: str):
    """`value` with every Ref replaced by its address in containers (dicts and lists looked into)."""
    if isinstance(value, Ref):
        return address(value, topology, links, zookeeper_hosts)
    if isinstance(value, dict):
        return {k: resolve(v, topology, links, zookeeper_hosts) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, topology, links, zookeeper_hosts) for v in value]
    return value


def _config(c: Component, topology: Topology, links: dict[str, str], zookeeper_hosts: str) -> dict:
    config = {k: resolve(_as_links(v, links) if k in BROWSER_SIDE else v, topology, links, zookeeper_hosts)
              for k, v in c.options.items()}
    config.update(_then(c, topology, links, zookeeper_hosts))
    config["data_dir"] = DATA
    if c.count == 1:  # where others reach it, as it tells the registry (and identity its tokens' issuer)
        config.setdefault("url", f"http://{dns(c.name)}:{SERVICE_PORT}")  # several replicas: each its own address
    redis = next((x for x in topology if x.service == "redis"), None)
    if redis is not None and "traffic_redis" not in config and config.pop("traffic", True):
        config["traffic_redis"] = f"redis://{dns(redis.name)}:{REDIS_PORT}/0"  # where hops are recorded, as launch does
    config.pop("traffic", None)
    registry = next((x for x in topology if x.service == "registry"), None)
    if registry is not None and c.service != "registry":
        config.setdefault("registry_url", f"http://{dns(registry.name)}:{SERVICE_PORT}")
    return config


def _as_links(value, links: dict[str, str]):
    """References to public components as the links a browser uses (the others as they are)."""
    if isinstance(value, Ref) and value.component in links:
        return Ref(value.component, every=value.every, browser=True)
    if isinstance(value, (list, tuple)):
        return [_as_links(v, links) for v in value]
    return value


def _then(c: Component, topology: Topology, links: dict[str, str], zookeeper_hosts: str) -> dict:
    """A `then=` request is sent by up() once everything runs; nobody sends it in a cluster. A PUT of settings
    (the web origin's PUT /_web/config) is given as launch options instead: the service reads them at start."""
    settings = {}
    for method, path, body in c.then:
        if method != "PUT" or not isinstance(body, dict):
            raise ExportError(f"{c.name!r}: its then= step {method} {path} is sent once the system runs, and an "
                              f"exported system has nobody to send it; only a PUT of settings can be exported "
                              f"(given at start as launch options)")
        settings.update(resolve(body, topology, links, zookeeper_hosts))
    return settings
