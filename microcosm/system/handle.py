"""What `microcosm.up()` returns: the running system, its services by name, and a table of what runs.

    system = microcosm.up()
    system["gateway"]          # the gateway's Service handle (.url, .get(...), .logs(), .stop() ...)
    system.catalog_lb          # the same by attribute ('-' written '_')
    system["catalog"]          # a component of several instances: the list of them
    system["catalog-2"]        # one instance by its own name
    system                     # in a notebook: a table of name, component, link, pid, RSS, status
"""
from __future__ import annotations

import html
import time

from ..runtime.process import Process
from .topology import Topology


class System:
    """A topology's running processes, by component, in start order."""

    def __init__(self, topology: Topology):
        self.topology = topology
        self.instances: dict[str, list] = {}  # component name -> its instances (Service, RedisServer, ...)
        self.start_seconds: float | None = None  # how long up() took, until every component answered
        self.began = time.perf_counter()
        self.timings: dict[str, tuple[float, float]] = {}  # instance -> (launched, ready), seconds into up()

    # --- by name ---------------------------------------------------------------------------------------------
    def __getitem__(self, name: str):
        if name in self.instances:
            found = self.instances[name]
            return found[0] if self.topology[name].count == 1 else list(found)
        for instances in self.instances.values():
            for instance in instances:
                if getattr(instance, "name", None) == name:
                    return instance
        raise KeyError(f"no component or instance {name!r} in this system; the components are: "
                       f"{', '.join(self.instances)}")

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ("topology", "instances", "start_seconds", "began", "timings"):
            raise AttributeError(name)
        try:
            return self[name.replace("_", "-")] if name.replace("_", "-") in self.instances else self[name]
        except KeyError as error:
            raise AttributeError(str(error)) from None

    def __contains__(self, name: str) -> bool:
        return name in self.instances

    def __dir__(self):
        return sorted(set(super().__dir__()) | {n.replace("-", "_") for n in self.instances})

    def processes(self) -> list[Process]:
        """Every process of the system this kernel runs (an attached Redis or ZooKeeper is someone else's)."""
        return [p for instances in self.instances.values() for p in instances if isinstance(p, Process)]

    @property
    def alive(self) -> bool:
        """Every component of the topology runs."""
        return len(self.instances) == len(self.topology) and all(
            getattr(p, "alive", False) for instances in self.instances.values() for p in instances)

    # --- display ---------------------------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        out = []
        for component in self.topology.order():
            for p in self.instances.get(component.name, []):
                where = getattr(p, "link", None) or getattr(p, "url", None) or getattr(p, "address", "")
                rss = p.rss_mb() if isinstance(p, Process) else None
                out.append({"name": getattr(p, "name", component.name), "component": component.name,
                            "service": component.service, "url": where, "pid": p.pid,
                            "rss_mb": rss, "status": p.status})
        return out

    def timeline(self):
        """When each instance was launched and answered, seconds into up(), and what it waited for: the order."""
        from ..show import table

        rows = []
        for component in self.topology.order():
            for name in component.instance_names():
                if name in self.timings:
                    launched, ready = self.timings[name]
                    rows.append((name, ", ".join(self.topology.needs(component.name)) or "-", f"{launched:.2f}",
                                 f"{ready:.2f}"))
        return table(rows, ["instance", "waited for", "launched at (s)", "ready at (s)"])

    def table(self) -> "SystemTable":
        return SystemTable(self.rows(), self.start_seconds)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


class SystemTable:
    """Rows of {name, component, url, pid, rss_mb, status}: HTML with links in Jupyter, aligned text elsewhere."""

    columns = ("name", "component", "url", "pid", "RSS MB", "status")

    def __init__(self, rows: list[dict], start_seconds: float | None = None):
        self.rows, self.start_seconds = rows, start_seconds

    def total_rss_mb(self) -> float:
        return sum(r["rss_mb"] or 0 for r in self.rows)

    def summary(self) -> str:
        running = sum(r["status"] in ("running", "attached") for r in self.rows)
        text = f"{running} of {len(self.rows)} processes running, {self.total_rss_mb():.0f} MB RSS in all"
        return text + (f", up in {self.start_seconds:.1f} s" if self.start_seconds is not None else "")

    def _cells(self, r: dict) -> tuple:
        return (r["name"], r["component"], r["url"] or "", r["pid"] or "",
                "" if r["rss_mb"] is None else f"{r['rss_mb']:.0f}", r["status"])

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in self.columns)
        body = ""
        for r in self.rows:
            cells = [html.escape(str(v)) for v in self._cells(r)]
            if str(r["url"]).startswith(("http", "/")):
                cells[2] = f"<a href='{html.escape(r['url'], quote=True)}' target='_blank'>{cells[2]}</a>"
            colour = "#1a7f37" if r["status"] in ("running", "attached") else "#cf222e"
            cells[5] = f"<span style='color:{colour}'>●</span> {cells[5]}"
            body += "<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>"
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{html.escape(self.summary())}</p>")

    def __repr__(self) -> str:
        rows = [self.columns] + [tuple(str(v) for v in self._cells(r)) for r in self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines + [self.summary()])
