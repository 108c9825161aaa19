"""The whole system at once: a topology (what runs, how many, wired how), `up()` and `down()`, and the
terminal command `python -m microcosm up|status|down`.

    topology.py   Component, Topology, url/urls/link: the declaration, checked when it is made
    whole.py      SYSTEM: the whole system, what up() starts when it is given nothing
    bring_up.py   up() and down(): start in dependency order, in parallel where nothing is in between
    handle.py     System: the running processes by name, and their table (link, pid, RSS)
    cli.py        the terminal command: a supervisor in the foreground (or detached), found by a state file
"""
from .bring_up import SystemStartError, current, down, up
from .handle import System
from .topology import Component, Topology, TopologyError, link, url, urls


def __getattr__(name: str):
    if name == "SYSTEM":  # imports the web service's routes (and Flask): only when it is asked for
        from .whole import SYSTEM

        return SYSTEM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Component", "SYSTEM", "System", "SystemStartError", "Topology", "TopologyError", "current", "down",
           "link", "up", "url", "urls"]
