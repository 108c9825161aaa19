"""What kind of traffic a hop is: its status class, and whether it carries the system's work or keeps the
system running (the control plane).

Status classes are what an edge counts: 2xx, 3xx, 4xx (other than 429), 429 (refused by a rate limit), 5xx
(the callee answered with an error) and "refused" (the callee never answered: connection refused, reset or
timed out, recorded by the caller because the callee could not record anything).

The control plane is the traffic that keeps the system running rather than serving a user: registrations,
heartbeats and watches at the registry, JWKS and discovery fetches at the identity provider. The monitor
folds it away by default, so the data path stays readable.
"""
from __future__ import annotations

CLASSES = ("2xx", "3xx", "4xx", "429", "5xx", "refused")
FAILED = frozenset({"5xx", "refused"})  # what counts as a failure of the callee (4xx is the caller's fault)
MONITOR_CALLER = "microcosm-monitor"  # the monitor's own status reads: never drawn


def status_class(hop: dict) -> str:
    status = int(hop.get("status") or 0)
    if hop.get("error") and (status >= 500 or status == 0) and recorded_by_caller(hop):
        return "refused"  # the callee never answered (dead, stuck, unreachable)
    if status == 429:
        return "429"
    if status >= 500 or status == 0:
        return "5xx"
    if status >= 400:
        return "4xx"
    if status >= 300:
        return "3xx"
    return "2xx"


def recorded_by_caller(hop: dict) -> bool:
    """A hop the caller wrote because the callee could not: `calls.record_failed_call` leaves the instance
    empty; the balancer names the backend it tried, with itself as the caller."""
    return not hop.get("instance") or hop.get("caller") == "balancer"


def is_control(hop: dict) -> bool:
    """Registry traffic (register, heartbeat, watch, listing) and identity metadata (JWKS, discovery)."""
    path = hop.get("path") or ""
    return hop.get("callee") == "registry" or path.startswith("/.well-known/")


def is_own(hop: dict) -> bool:
    """The monitor's own reads of status routes: not traffic of the system it watches."""
    return hop.get("caller") == MONITOR_CALLER
