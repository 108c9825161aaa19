"""Freshness plug-ins for the edge's plug-point tests (freshness="this_file.py:Name")."""
from microcosm.services.cdn import Freshness


class Buggy(Freshness):
    """Overrides two methods: every stored answer is stale at once, and computing the age of a 404 fails
    (a bug that shows on some answers only)."""

    def lifetime(self, stored):
        return 0

    def age(self, stored, now):
        if stored.status == 404:
            raise ZeroDivisionError("oops")
        return super().age(stored, now)


class NoMethods:
    pass
