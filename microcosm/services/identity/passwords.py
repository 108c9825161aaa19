"""Passwords: argon2id hashes, and a bound on how many are computed at once.

A password is never stored, only its argon2id hash: slow on purpose (`time_cost` passes over `memory_kib` of
memory, a noticeable fraction of a second), salted (16 random bytes per hash, so equal passwords give different
hashes and no precomputed table helps), and memory-hard (graphics cards do not help much). A stolen database
gives an attacker a few guesses per second per core instead of billions. The cost is written in the hash
(`$argon2id$v=19$m=65536,t=3,p=1$salt$digest`): when it goes up, old hashes still verify, and `outdated`
says when to store a stronger one.

Slow on purpose is also a way to keep this service busy: a flood of requests that each cost a hash could
take all the memory and all the cores. So at most `concurrent` hashes run at once, and a caller waits at most
`wait` seconds for its turn, then gets 503 with Retry-After instead of queueing for ever.

An unknown user (or client) is checked against a dummy hash: the same work and the same answer as a wrong
password, so neither the message nor the time tells an attacker which accounts exist.
"""
from __future__ import annotations

import logging
import secrets
import threading
from contextlib import contextmanager

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .oauth import oauth_error

log = logging.getLogger("microcosm.identity")

DEFAULT_ARGON2 = {"time_cost": 3, "memory_kib": 65536, "parallelism": 1}  # argon2id, 64 MiB, 3 passes
BUSY_RETRY_AFTER = 1  # s: what a 503 from a full hashing queue tells the caller to wait


class Passwords:
    """argon2id hashing, at most `concurrent` at a time (each one takes `memory_kib` of memory). A caller waits
    at most `wait` seconds for its turn, then gets 503 with Retry-After: a flood of requests that each cost a
    hash cannot pile up behind the few slots and keep real logins waiting for ever."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int, concurrent: int = 2, wait: float = 5.0):
        if concurrent < 1 or wait < 0:
            raise ValueError(f"hash_concurrency must be at least 1 and hash_wait at least 0, got {concurrent}, {wait}")
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                                     type=Type.ID)
        self.slots = threading.BoundedSemaphore(concurrent)
        self.wait = wait
        # verified instead of a real hash when the account does not exist: the same work, the same answer
        self.dummy = self.hash(secrets.token_urlsafe(16))

    @contextmanager
    def _slot(self):
        if not self.slots.acquire(timeout=self.wait):
            log.warning("password hashing busy: refused a request after waiting %.1f s for a slot", self.wait)
            raise oauth_error(503, "temporarily_unavailable", "too many password checks at once: try again in "
                              f"{BUSY_RETRY_AFTER} s", retry_after=BUSY_RETRY_AFTER)
        try:
            yield
        finally:
            self.slots.release()

    def hash(self, password: str) -> str:
        with self._slot():
            return self.hasher.hash(password)

    def check(self, stored: str | None, password: str) -> bool:
        """Does `password` match `stored`? With `stored` None (no such account) the dummy hash is checked, and
        the answer is False: the same work either way."""
        with self._slot():
            try:
                return self.hasher.verify(stored or self.dummy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def outdated(self, stored: str) -> bool:
        """Was `stored` made with a lower cost than today's? (Then store a new hash at the next login.)"""
        return self.hasher.check_needs_rehash(stored)
