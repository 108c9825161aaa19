"""What a shared cache may store (RFC 9111 §3, §3.5), and why not when it may not.

`refusal(...)` is None when the answer may be stored, else the reason in a few words (the edge logs it and
the tests read it from `X-Cache-Reason`). In order:

- only answers to GET (a HEAD is answered from a stored GET; POST answers are cacheable in theory, but no
  cache stores them in practice and neither does this one);
- only final statuses this cache understands: 206 (ranges) and 304 are not stored, nor any status not listed;
- not when the request or the answer says `no-store` (unless the answer says `must-understand` and the
  status is one understood here, §5.2.2.3);
- not `private` (a shared cache never stores one user's answer for another; `private="Set-Cookie"` is taken
  as plain `private`, which §5.2.2.7 allows);
- not when the request carried `Authorization`, unless the answer says `public`, `s-maxage` or
  `must-revalidate` (§3.5);
- not `Vary: *` (it matches no later request, §4.1);
- and only with a way to know its freshness: `public`, `max-age`, `s-maxage`, `Expires`, or a status that is
  heuristically cacheable (§3, last condition); and, without explicit freshness, with a validator (ETag or
  Last-Modified), or it could never be reused.
"""
from __future__ import annotations

from .fields import field_names
from .freshness import HEURISTICALLY_CACHEABLE

UNDERSTOOD = frozenset({200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501})


def refusal(method: str, request_headers, request_cc: dict, status: int, response_headers, cc: dict) -> str | None:
    """None if a shared cache may store this answer, else why not. Headers are multidicts (or Stored)."""
    if method != "GET":
        return f"answers to {method[:20]} are not stored"
    if status not in UNDERSTOOD:
        return f"status {status} is not stored"
    if "no-store" in request_cc:
        return "the request said no-store"
    if "no-store" in cc and "must-understand" not in cc:
        return "no-store"
    if "private" in cc:
        return "private"
    if "authorization" in {k.lower() for k in request_headers.keys()} and not (
            {"public", "s-maxage", "must-revalidate"} & cc.keys()):
        return "the request carried Authorization"
    vary = [name for value in response_headers.getall("Vary", []) for name in field_names(value)]
    if "*" in vary:
        return "Vary: *"
    explicit = {"public", "max-age", "s-maxage"} & cc.keys() or "Expires" in response_headers
    if not explicit and status not in HEURISTICALLY_CACHEABLE:
        return f"no freshness information, and status {status} is not heuristically cacheable"
    if not explicit and "Last-Modified" not in response_headers and "ETag" not in response_headers:
        return "no freshness information and no validator: it could never be reused"
    return None
