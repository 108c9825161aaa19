"""Plug-ins for the edge's plug-point tests (freshness="this_file.py:Name", storable="this_file.py:name")."""
from microcosm.services.cdn import Freshness
from microcosm.services.cdn.storable import refusal


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


def stores_private(method, request_headers, request_cc, status, headers, cc):
    """A wrong storable rule: a shared cache that keeps `private` answers."""
    return refusal(method, request_headers, request_cc, status, headers, {k: v for k, v in cc.items()
                                                                          if k != "private"})
