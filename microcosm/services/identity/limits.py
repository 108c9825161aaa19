"""Limits on guessing: failed logins per account and per address, registrations per address.

Every login costs a hash (passwords.py), and every guess at a password is a login. So failures are counted in a
sliding window, per account (`login_max_failures`) and per client address (`address_max_failures`); over the
limit the answer is 429 with Retry-After, *before* any password is hashed, so a locked account costs nothing.
Unknown usernames are counted like real ones: the 429 tells nothing about which accounts exist.

The count lives in the service's SQLite, not in memory: crashing the service does not reset an attacker's
budget, and instances that share the data folder share it.

Behind a proxy (the balancer, the gateway) every request comes from the proxy's address. Name the proxy in
`trusted_proxies` and the client's address is read from X-Forwarded-For instead (`client_address`).
"""
from __future__ import annotations

import logging
import math
import threading
import time

from flask import request

from ..base import ApiError
from ..storage import Database

log = logging.getLogger("microcosm.identity")


class LoginLimiter:
    """Failed logins per account and per address, and registrations per address, in one sliding window.

    Besides failed logins, the window counts the other requests that cost a hash: a failed client
    authentication is a failed login of its address (not of the client: a service must not be locked out by
    whoever guesses at its id), and every registration counts against its address's own registration limit."""

    MESSAGES = {"account": "too many failed logins for this account",
                "address": "too many failed logins for this address",
                "registration": "too many registrations from this address"}

    def __init__(self, db: Database, per_account: int, per_address: int, window: float,
                 registrations_per_address: int = 10):
        self.db, self.window = db, window
        self.limits = {"account": per_account, "address": per_address, "registration": registrations_per_address}
        self.lock = threading.Lock()  # registrations: the check and the count in one step

    def _refuse_if_over(self, kind: str, key: str, address: str, now: float) -> None:
        limit = self.limits[kind]
        count = self.db.one("SELECT COUNT(*) AS n FROM login_failures WHERE key = ? AND at > ?",
                            key, now - self.window)["n"]
        if count >= limit:  # the window slides: wait until enough events are older than it
            oldest = self.db.one("SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at "
                                 "LIMIT 1 OFFSET ?", key, now - self.window, count - limit)["at"]
            retry = max(1, math.ceil(oldest + self.window - now))
            log.warning("refused: %s (retry in %d s) from %s", self.MESSAGES[kind], retry, address)
            raise ApiError(429, f"{self.MESSAGES[kind]}: try again in {retry} s",
                           error_description=self.MESSAGES[kind], retry_after=retry)

    def _record(self, keys: list[str], now: float) -> None:
        conn = self.db.connect()
        with conn:
            conn.executemany("INSERT INTO login_failures (key, at) VALUES (?, ?)", [(key, now) for key in keys])
            conn.execute("DELETE FROM login_failures WHERE at < ?", (now - self.window,))

    def check(self, username: str | None, address: str) -> None:
        """Refuse (429) an address over its failure limit, or (with a username) an account over its own."""
        now = time.time()
        self._refuse_if_over("address", f"address:{address}", address, now)
        if username is not None:
            self._refuse_if_over("account", f"account:{username}", address, now)

    def failed(self, username: str | None, address: str) -> None:
        """Count a failed login (username None: a failed client authentication, counted for the address only)."""
        keys = [f"address:{address}"] + ([f"account:{username}"] if username is not None else [])
        self._record(keys, time.time())

    def registering(self, address: str) -> None:
        """Count one registration from `address`, or refuse it (429) if the address is over its limit."""
        with self.lock:
            now = time.time()
            self._refuse_if_over("registration", f"registration:{address}", address, now)
            self._record([f"registration:{address}"], now)

    def succeeded(self, username: str) -> None:
        self.db.execute("DELETE FROM login_failures WHERE key = ?", f"account:{username}")


def client_address(trusted_proxies: set[str]) -> str:
    """The caller's address. Behind a proxy (the balancer, the gateway) every request comes from the proxy,
    so for proxies named in config `trusted_proxies` the address is taken from X-Forwarded-For: the
    rightmost entry that is not itself a trusted proxy (entries further left are the client's word)."""
    address = request.remote_addr or "unknown"
    if address in trusted_proxies:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        for hop in reversed(hops):
            address = hop
            if hop not in trusted_proxies:
                break
    return address
