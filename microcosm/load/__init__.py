"""Load you can make: Locust scenarios run from cells (see runner.py)."""
from .runner import LoadResult, load, scenarios

__all__ = ["load", "scenarios", "LoadResult"]
