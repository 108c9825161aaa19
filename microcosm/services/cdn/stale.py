"""Serving a stale answer on purpose (RFC 5861), when the origin allowed it and no directive forbids it.

- `stale-while-revalidate=N` on an answer: for N seconds after it went stale, the edge answers from the
  store at once (X-Cache: STALE) and revalidates in the background, so no client waits for the origin.
- `stale-if-error=N` (on the answer, or on the request): for N seconds after it went stale, when the origin
  cannot be reached or answers 500, 502, 503 or 504, the edge serves the stale answer instead of the error.

Neither applies when the answer says `must-revalidate`, `proxy-revalidate`, `s-maxage` (which implies
proxy-revalidate, RFC 9111 §5.2.2.10) or `no-cache` (§4.2.4: a cache never serves stale against an explicit
directive), nor when the client asked for a validated answer (`no-cache`, `max-age`, `min-fresh`).
"""
from __future__ import annotations

from .fields import delta, revalidation_required

ERRORS = frozenset({500, 502, 503, 504})
CLIENT_WANTS_FRESH = ("no-cache", "max-age", "min-fresh")


def _allowed(stored, request_cc: dict) -> bool:
    return not (revalidation_required(stored.cc) or "no-cache" in stored.cc
                or any(d in request_cc for d in CLIENT_WANTS_FRESH))


def while_revalidating(stored, request_cc: dict, stale_by: float) -> bool:
    """Serve it now and revalidate in the background?"""
    window = delta(stored.cc, "stale-while-revalidate", invalid=None)
    return window is not None and 0 <= stale_by <= window and _allowed(stored, request_cc)


def on_error(stored, request_cc: dict, stale_by: float) -> bool:
    """Serve it instead of the origin's failure?"""
    windows = [w for w in (delta(stored.cc, "stale-if-error", invalid=None),
                           delta(request_cc, "stale-if-error", invalid=None)) if w is not None]
    return bool(windows) and stale_by <= max(windows) and _allowed(stored, request_cc)
