"""A running balancer driven from a cell or a test: the backends to give it, and what its status says.

    from microcosm.services.balancer.control import backends, served
    lb = microcosm.launch("balancer", upstream="catalog", backends=backends(catalogs))
    before = served(lb)            # {"catalog-1": 12, "catalog-2": 11}
    ...
    backend(lb, "catalog-2")       # {"id": "catalog-2", "state": "down", "in_flight": 0, ...}

These read `GET /_balancer/status`, an admin route: `lb` is the notebook's handle on the balancer (a
`microcosm.Service`), whose requests carry the launch secret. The balancer's side is admin.py.
"""
from __future__ import annotations


def backends(instances) -> list[dict]:
    """The balancer's list of backends for these instances: each one's URL, and its name as the backend's id
    (so the balancer's status and `X-Backend` headers say "catalog-2", not a port)."""
    return [{"url": i.url, "id": i.name} for i in instances]


def status(lb) -> dict:
    """Everything the balancer says about itself: strategy, settings, and every backend's entry."""
    answer = lb.get("/_balancer/status")
    answer.raise_for_status()
    return answer.json()


def served(lb) -> dict[str, int]:
    """How many requests each backend has served so far, by backend id."""
    return {b["id"]: b["served"] for b in status(lb)["backends"]}


def backend(lb, backend_id: str) -> dict:
    """One backend's entry in the status: state, in_flight, served, failures, recent_errors, ..."""
    for entry in status(lb)["backends"]:
        if entry["id"] == backend_id:
            return entry
    raise KeyError(f"the balancer has no backend {backend_id!r}")
