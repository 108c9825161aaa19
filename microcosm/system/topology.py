"""A topology: which components run, how many instances of each, and how they are wired, as data.

    from microcosm.system import Component, Topology, url, urls
    shop = Topology(
        Component("redis"),
        Component("catalog", count=2),                                         # catalog-1, catalog-2
        Component("catalog-lb", "balancer", upstream="catalog", backends=urls("catalog")),
        Component("gateway", upstreams={"catalog": url("catalog-lb")}, rate_limit=False),
    )
    shop.order()           # [redis, catalog, catalog-lb, gateway]: what must run before what
    microcosm.up(shop)

A `Component` is a name, the service it runs (default: its name; a built-in, a module or a .py file), a count
and its launch options. An option's value may name another component: `url("x")` (x's URL, x has one
instance), `urls("x")` (the URLs of all its instances), `link("x")` (the URL a browser opens). Those names are
the wiring, and the order follows from them: a component starts once everything it names runs. `after=` adds an
order without a URL. `then=[(method, path, body)]` are admin requests sent once the whole system runs: wiring
that needs both ends up (the web origin learns the gateway's URL, after the gateway learned the origin's).

What a built-in service must be given (services.NEEDS: orders needs a catalog, carts a Redis ...) is filled in
from the component of that name when the options do not say. Every service records its hops in Redis and
registers with the registry: when the topology has them, they start first. A topology is checked when it is
made: an unknown service, a bad count, a name nobody runs, a URL of a component with several instances, or a
cycle is a `TopologyError` that says which component and what to change.
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass

from ..services import NEEDS
from ..services.loader import BUILTIN

INFRASTRUCTURE = ("redis", "zookeeper")  # started by microcosm.redis() / microcosm.zookeeper(), one of each
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class TopologyError(ValueError):
    """A topology that cannot run, and what to change."""


@dataclass(frozen=True)
class Ref:
    """The address of a running component, filled in when the component that names it is launched."""

    component: str
    every: bool = False  # all instances' URLs, as a list
    browser: bool = False  # the URL a browser opens (through jupyter-server-proxy on a hub)

    def __repr__(self) -> str:
        return f"{'urls' if self.every else 'link' if self.browser else 'url'}({self.component!r})"


def url(component: str) -> Ref:
    """The URL of `component` (one instance), or the address of Redis / ZooKeeper."""
    return Ref(component)


def urls(component: str) -> Ref:
    """The URLs of all instances of `component`, as a list (a balancer's backends)."""
    return Ref(component, every=True)


def link(component: str) -> Ref:
    """The URL a browser opens for `component`: the same as url() on a laptop, the proxied one on a hub."""
    return Ref(component, browser=True)


def refs_in(value) -> list[Ref]:
    """Every Ref inside an option's value (dicts, lists and tuples looked into)."""
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in refs_in(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in refs_in(v)]
    return []


class Component:
    """One component of a topology: `Component(name, service=name, count=1, after=(), then=(), **options)`."""

    def __init__(self, name: str, service: str | None = None, count: int = 1, *, after=(), then=(), **options):
        self.name, self.service, self.count = name, service or name, count
        self.after, self.then, self.options = tuple(after), tuple(tuple(step) for step in then), dict(options)

    @property
    def infrastructure(self) -> bool:
        return self.service in INFRASTRUCTURE

    def instance_names(self) -> list[str]:
        """catalog for one instance; catalog-1 ... catalog-N for N (the names microcosm.scale gives)."""
        return [self.name] if self.count == 1 else [f"{self.name}-{i}" for i in range(1, self.count + 1)]

    def refs(self) -> list[Ref]:
        return refs_in(self.options)

    def needs(self) -> list[str]:
        """The components that must run before this one starts."""
        return list(dict.fromkeys([r.component for r in self.refs()] + list(self.after)))

    def _key(self):
        return self.name, self.service, self.count, self.after, repr(self.then), repr(sorted(self.options.items()))

    def __eq__(self, other) -> bool:
        return isinstance(other, Component) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self) -> str:
        parts = [repr(self.name)] + ([repr(self.service)] if self.service != self.name else [])
        parts += [f"count={self.count}"] if self.count != 1 else []
        parts += [f"{k}={v!r}" for k, v in self.options.items()]
        return f"Component({', '.join(parts)})"


class Topology:
    """Components and their wiring, checked when made. `order()` is the start order."""

    def __init__(self, *components: Component):
        if len(components) == 1 and isinstance(components[0], (list, tuple)):
            components = tuple(components[0])
        self.components: dict[str, Component] = {}
        for c in components:
            if not isinstance(c, Component):
                raise TopologyError(f"a topology is made of Component(...), got {c!r:.80}")
            if c.name in self.components:
                raise TopologyError(f"two components are called {c.name!r}: give each its own name")
            self.components[c.name] = c
        for c in self.components.values():
            _check_component(c)
            _fill_needs(c, self.components)
        self._check_names_and_refs()
        self._order = self._sort()

    @classmethod
    def from_dict(cls, spec: dict) -> "Topology":
        """{"redis": 1, "catalog": 2, "lb": {"service": "balancer", "backends": urls("catalog")}}: a name and its
        count, or its options (service, count, after, then and the launch options)."""
        if not isinstance(spec, dict):
            raise TopologyError(f"a topology is a Topology or a dict of name -> options, got {type(spec).__name__}")
        components = []
        for name, options in spec.items():
            if isinstance(options, int) and not isinstance(options, bool):
                options = {"count": options}
            if not isinstance(options, dict):
                raise TopologyError(f"{name!r}: its options are a count or a dict, got {options!r:.80}")
            components.append(Component(name, **options))
        return cls(*components)

    # --- reading it ------------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Component:
        return self.components[name]

    def __iter__(self):
        return iter(self.components.values())

    def __len__(self) -> int:
        return len(self.components)

    def __contains__(self, item) -> bool:
        """`"redis" in topology`: a component of that name (or that Component) is in it."""
        return item in self.components if isinstance(item, str) else item in self.components.values()

    def __eq__(self, other) -> bool:
        return isinstance(other, Topology) and list(self) == list(other)

    def needs(self, name: str) -> list[str]:
        """What must run before `name`: what its options name, its `after`, and Redis and the registry."""
        c = self.components[name]
        implied = [] if c.infrastructure else [n for n in ("redis", "registry") if n in self.components and n != name]
        return list(dict.fromkeys(implied + c.needs()))

    def order(self) -> list[Component]:
        """The components in an order that starts each after what it needs (independent ones in any order)."""
        return list(self._order)

    def instance_count(self) -> int:
        return sum(c.count for c in self)

    # --- making another from it ------------------------------------------------------------------------------
    def only(self, *names: str) -> "Topology":
        """These components and everything they need (and Redis and the registry when this topology has them)."""
        unknown = [n for n in names if n not in self.components]
        if unknown:
            raise TopologyError(f"no component {unknown[0]!r} here; the components are: {', '.join(self.components)}")
        keep, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name not in keep:
                keep.add(name)
                todo += self.needs(name)
        return Topology(*[c for c in self if c.name in keep])

    def scaled(self, **counts: int) -> "Topology":
        """The same with other counts: `SYSTEM.scaled(catalog=3)` (a name with '-' is written with '_')."""
        names = {n.replace("-", "_"): n for n in self.components}
        unknown = [k for k in counts if k not in names]
        if unknown:
            raise TopologyError(f"no component {unknown[0]!r} here; the components are: {', '.join(self.components)}")
        wanted = {names[k]: v for k, v in counts.items()}
        return Topology(*[Component(c.name, c.service, wanted.get(c.name, c.count), after=c.after, then=c.then,
                                    **c.options) for c in self])

    # --- checks ----------------------------------------------------------------------------------------------
    def _check_names_and_refs(self) -> None:
        instances: dict[str, str] = {}
        for c in self:
            for instance in c.instance_names():
                if instance in instances:
                    raise TopologyError(f"{c.name!r} and {instances[instance]!r} would both run an instance called "
                                        f"{instance!r}: rename one of them")
                instances[instance] = c.name
            steps_refs = [r for step in c.then for r in refs_in(list(step))]
            for ref in c.refs() + steps_refs + [Ref(a) for a in c.after]:
                target = self.components.get(ref.component)
                if target is None:
                    raise TopologyError(f"{c.name!r} needs {ref.component!r}, which is not in the topology: add "
                                        f"Component({ref.component!r}) or change {c.name!r}'s options")
                if target.count > 1 and not ref.every:
                    raise TopologyError(f"{c.name!r} asks for the one URL of {ref.component!r}, which runs "
                                        f"{target.count} instances: use urls({ref.component!r}) (a list), or put a "
                                        f"balancer in front of it and name the balancer")

    def _sort(self) -> list[Component]:
        """Depth-first topological sort; a cycle is an error that spells it out."""
        done: list[Component] = []
        state: dict[str, str] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                cycle = path[path.index(name):] + [name]
                raise TopologyError(f"a cycle: {' -> '.join(cycle)} (each needs the next to run first); break it "
                                    f"with then=[...], a request sent once everything runs")
            state[name] = "visiting"
            for dep in self.needs(name):
                visit(dep, path + [name])
            state[name] = "done"
            done.append(self.components[name])

        for name in self.components:
            visit(name, [])
        return done

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(c.service)}</td><td>{c.count}</td>"
                       f"<td>{html.escape(', '.join(self.needs(c.name)))}</td></tr>" for c in self.order())
        return ("<table><thead><tr><th>component</th><th>service</th><th>instances</th><th>starts after</th></tr>"
                f"</thead><tbody>{rows}</tbody></table>")

    def __repr__(self) -> str:
        return "Topology(\n" + "".join(f"    {c!r},\n" for c in self) + ")"


def _check_component(c: Component) -> None:
    if not isinstance(c.name, str) or not NAME.match(c.name):
        raise TopologyError(f"component name {c.name!r}: lower-case letters, digits, '-' and '_', starting with a "
                            f"letter (it names the processes and their log files)")
    if not isinstance(c.count, int) or isinstance(c.count, bool) or not 1 <= c.count <= 16:
        raise TopologyError(f"{c.name!r}: count is a whole number of instances from 1 to 16, got {c.count!r} "
                            f"(leave a component out of the topology to run none)")
    if c.infrastructure:
        if c.count != 1 or c.options:
            raise TopologyError(f"{c.name!r} is this kernel's one {c.service} server: no count, no options "
                                f"(an ensemble of ZooKeeper servers is microcosm.runtime.ensemble)")
        return
    if not isinstance(c.service, str) or not c.service:
        raise TopologyError(f"{c.name!r}: service is a name, got {c.service!r:.80}")
    if c.service.endswith(".py"):
        if not os.path.isfile(c.service):
            raise TopologyError(f"{c.name!r}: no file {c.service}")
    elif c.service not in BUILTIN and "." not in c.service:
        raise TopologyError(f"{c.name!r}: unknown service {c.service!r}; the built-in ones are "
                            f"{', '.join(sorted(BUILTIN + INFRASTRUCTURE))} (or a module, or a .py file with "
                            f"create_app(config))")
    for step in c.then:
        if len(step) != 3 or step[0] not in ("PUT", "POST", "DELETE") or not str(step[1]).startswith("/"):
            raise TopologyError(f"{c.name!r}: each step of then= is (method, '/path', json body), the method PUT, "
                                f"POST or DELETE; got {step!r:.120}")


def _fill_needs(c: Component, components: dict[str, Component]) -> None:
    """What a built-in service must be given, from the component of that name (services.NEEDS)."""
    for key, provider in NEEDS.get(c.service, {}).items():
        if c.options.get(key) in (None, True, ""):  # orders' events=True means "the broker": Redis
            c.options[key] = Ref(provider)
