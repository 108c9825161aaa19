"""Idempotency keys: a POST that is safe to send twice.

A client whose `POST /orders` got no answer (a timeout, a reset connection) cannot know whether the order was
placed. Sending it again might order twice; not sending it might order nothing. The way out: the client makes a
unique key (a UUID) for the order, sends it in an `Idempotency-Key` header, and sends the *same* key with every
retry of that order. orders keeps the key with its answer, in the same transaction as the order:

    first POST with key K                 the order is placed; K, a fingerprint of the request and the answer
                                          are committed with it
    the same POST again with K            the stored answer, same status and body, and no new order
                                          (header `Idempotent-Replayed: true`)
    K again with another body             422: a key names one request, it cannot be reused for another
    two POSTs with K at the same moment   one order: the key is the table's PRIMARY KEY, so only one of the
                                          two transactions can insert it; the other finds it and replays

The rules that keep it safe and small:
- a key is 1 to 255 characters: letters, digits and `- _ . : ~ + / =` (a UUID fits); the quoted form of the IETF
  draft (`Idempotency-Key: "abc"`) is accepted too. Anything else is a 400 that says so.
- keys are per caller: the gateway's `X-User` (or '' when called directly), so one user cannot replay another's.
- a key lives `ttl` seconds (a day by default), and at most `max_keys` are kept (the oldest go first): storage
  is bounded whatever clients send.
- only an answer that placed an order is stored. A request that failed (no such product, catalog down) leaves
  no trace, so the client may retry it with the same key.
"""
from __future__ import annotations

import hashlib
import json
import re
import time

from flask import g, request

from .errors import ApiError

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"  # on a stored answer sent again (Stripe's name for it)
MAX_LENGTH = 255
_GOOD_KEY = re.compile(r"[A-Za-z0-9._:~+/=-]+")

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope       TEXT NOT NULL,     -- whose key: the caller's X-User ('' when called directly)
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,     -- SHA-256 of the request (method, path, body): same key, same request?
    status      INTEGER,           -- the answer, written in the transaction that placed the order
    body        TEXT,
    created_at  REAL NOT NULL,
    PRIMARY KEY (scope, key)       -- the constraint that lets one request, and one only, own a key
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
"""


def key_from(headers) -> str | None:
    """The request's idempotency key (None if it sent none), or a 400 saying what is wrong with it."""
    values = headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"send one {HEADER} header, not {len(values)}", header=HEADER)
    key = values[0].strip()
    if "," in key:  # two headers arrive joined by a comma (HTTP's rule for repeated headers)
        raise ApiError(400, f"send one {HEADER}, not a list of them", header=HEADER)
    if len(key) >= 2 and key[0] == key[-1] == '"':  # the IETF draft's form: a quoted string
        key = key[1:-1]
    if not key:
        raise ApiError(400, f"the {HEADER} header is empty: send a unique key, such as a UUID", header=HEADER)
    if len(key) > MAX_LENGTH:
        raise ApiError(400, f"the {HEADER} is {len(key)} characters long; the limit is {MAX_LENGTH}", header=HEADER)
    if not _GOOD_KEY.fullmatch(key):  # never echoed back: it may hold anything
        raise ApiError(400, f"the {HEADER} may hold only letters, digits and - _ . : ~ + / =", header=HEADER)
    return key


def scope_from(headers) -> str:
    """Whose key it is: the caller the gateway names in X-User ('' without one); a long value is hashed."""
    user = headers.get("X-User", "")
    return user if len(user) <= 128 else hashlib.sha256(user.encode("utf-8", "replace")).hexdigest()


def fingerprint(method: str, path: str, body: dict) -> str:
    """The request a key was first used for, as a SHA-256: the same JSON in another order or spacing is equal."""
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """The keys a service has answered, in its own database (`db`, whose schema includes SCHEMA above).

    A route uses three calls; each does nothing for a request that sent no key:

        body = read_json(...)
        if (earlier := keys.replay(body)) is not None:      # answered before: send the same answer again
            return earlier
        ... the work that needs no write (asking catalog for the price) ...
        with db.transaction() as conn:
            if (earlier := keys.claim(conn)) is not None:   # a twin with the same key got there first
                return earlier
            ... write the order ...
            keys.answer(conn, order, 201)                   # committed with the order, or not at all
    """

    def __init__(self, db, ttl: float = 86400.0, max_keys: int = 100_000):
        if ttl <= 0 or max_keys < 1:
            raise ValueError("idempotency keys need ttl > 0 and max_keys >= 1")
        self.db, self.ttl, self.max_keys = db, float(ttl), int(max_keys)

    def replay(self, body: dict):
        """At the start: read the request's key (a 400 if it is malformed) and, if this request was answered
        before, its answer again (a plain read, no write lock: a retry is answered even while catalog is down)."""
        key = key_from(request.headers)
        g.idempotency = None if key is None else (scope_from(request.headers), key,
                                                  fingerprint(request.method, request.path, body))
        if g.idempotency is None:
            return None
        scope, key, request_fingerprint = g.idempotency
        row = self.db.one("SELECT * FROM idempotency_keys WHERE scope = ? AND key = ?", scope, key)
        return self._answer_of(row, request_fingerprint, time.time()) if row else None

    def claim(self, conn):
        """Inside the transaction that does the work: take the key for this request and return None (go on),
        or return the answer of the request that took it first.

        The INSERT is the whole decision: the PRIMARY KEY lets exactly one transaction insert a key, in this
        process or any other sharing the file. There is no "check, then insert" for two requests to slip
        between."""
        if g.get("idempotency") is None:
            return None
        scope, key, request_fingerprint = g.idempotency
        now = time.time()
        self._forget_old(conn, now)
        inserted = conn.execute(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (scope, key) DO NOTHING", (scope, key, request_fingerprint, now)).rowcount
        if inserted:
            return None
        row = conn.execute("SELECT * FROM idempotency_keys WHERE scope = ? AND key = ?", (scope, key)).fetchone()
        return self._answer_of(dict(row), request_fingerprint, now)  # not expired: _forget_old ran at `now`

    def answer(self, conn, body: dict, status: int) -> None:
        """Store the answer with the key, in the same transaction as the work it describes."""
        if g.get("idempotency") is not None:
            scope, key, _ = g.idempotency
            conn.execute("UPDATE idempotency_keys SET status = ?, body = ? WHERE scope = ? AND key = ?",
                         (status, json.dumps(body), scope, key))

    def _answer_of(self, row: dict, request_fingerprint: str, now: float):
        if row["created_at"] < now - self.ttl:
            return None  # expired: the key is free again (claim deletes the old row)
        if row["fingerprint"] != request_fingerprint:
            raise ApiError(422, f"this {HEADER} was already used for a different request; a key names one "
                                "request: make a new key for a new order", header=HEADER,
                           reason="idempotency_key_reused")
        if row["status"] is None:  # cannot happen: the key and its answer are committed together
            raise ApiError(409, f"the request with this {HEADER} is still being processed", header=HEADER)
        return json.loads(row["body"]), row["status"], {REPLAYED: "true"}  # a Flask answer: body, status, headers

    def _forget_old(self, conn, now: float) -> None:
        """Bounded storage: keys older than ttl go, and beyond max_keys the oldest go (rowids grow with time)."""
        conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (now - self.ttl,))
        newest = conn.execute("SELECT max(rowid) FROM idempotency_keys").fetchone()[0]
        if newest is not None and newest >= self.max_keys:
            conn.execute("DELETE FROM idempotency_keys WHERE rowid <= ?", (newest - self.max_keys + 1,))
