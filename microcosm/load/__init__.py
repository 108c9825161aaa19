"""Load you can make: Locust scenarios run from cells (see runner.py); one steady caller in a background
thread, while a cell does something else (background.py).

The names below are imported from runner.py on first use (PEP 562), so importing the package is free: the
`microcosm` package imports it at start, and only a cell that runs a load test loads the runner.
"""
from __future__ import annotations

__all__ = ["load", "scenarios", "LoadResult"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import runner

    value = getattr(runner, name)
    globals()[name] = value
    return value
