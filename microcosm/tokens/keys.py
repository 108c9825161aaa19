"""The provider's published keys: the JWKS fetched and cached (`JWKSCache`), and a key parsed once per version."""
from __future__ import annotations

import json
import re
import sys
import threading
import time

import requests
from jwt.algorithms import RSAAlgorithm

MAX_JWKS_BYTES = 1024 * 1024  # a provider's JWKS larger than this is refused, not read into memory


def _caller_headers() -> dict:
    """Inside a service's request (the gateway checking a token): who fetches, so that the provider's hop
    record, and the traffic monitor, name the gateway rather than an anonymous client."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return {}
    app = flask.current_app
    return {"X-Caller": app.name, "X-Caller-Instance": str(app.config.get("INSTANCE") or app.name),
            "X-Request-ID": str(flask.g.get("request_id") or ""), "X-Parent-Hop": str(flask.g.get("hop") or "")}


class JWKSCache:
    """The provider's published keys, fetched once and kept.

    A token signed with a key id we have not seen makes it fetch again (the provider publishes a new key
    before signing with it, so one refetch finds it), but at most once every `min_refetch` seconds: a stream
    of tokens with made-up key ids must not turn into a stream of requests to the provider. The keys are also
    refetched when older than `max_age` (or the provider's Cache-Control max-age, if shorter), and if the
    provider is down the last keys we had keep working.

    The lock guards only the cache's state, never the HTTP fetch: one fetch is in flight at a time, and while
    it is, a token whose key we already hold is checked at once; only a token whose key id we do not know
    waits for the fetch (at most about `timeout`), since the fetch is its one chance to find the key.
    """

    def __init__(self, jwks_url: str, *, max_age: float = 300.0, min_refetch: float = 1.0, timeout: float = 2.0):
        self.url, self.max_age, self.min_refetch, self.timeout = jwks_url, max_age, min_refetch, timeout
        self.lock = threading.Lock()
        self.fetched = threading.Condition(self.lock)  # notified when a fetch ends
        self.fetching = False  # a fetch is in flight (in some thread, outside the lock)
        self.keys: dict[str, dict] = {}
        self.fetched_at = 0.0  # last successful fetch
        self.tried_at = float("-inf")  # last attempt, successful or not
        self.expires_at = 0.0
        self.fetches = 0  # how many times we asked the provider (for tests and notebooks)
        self.last_error: str | None = None

    def _download(self) -> tuple[dict, float]:
        """(keys by kid, max-age) from the provider; raises on any failure. Runs without the lock."""
        with requests.get(self.url, timeout=self.timeout, stream=True, headers=_caller_headers()) as answer:
            answer.raise_for_status()
            body = answer.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the JWKS is over {MAX_JWKS_BYTES} bytes")
            cache_control = answer.headers.get("Cache-Control", "")
        keys = {}
        for k in json.loads(body)["keys"]:
            if isinstance(k, dict) and isinstance(k.get("kid"), str):
                keys[k["kid"]] = k
        max_age = self.max_age
        found = re.search(r"max-age=(\d{1,9})", cache_control)
        if found:
            max_age = min(max_age, float(found.group(1)))
        return keys, max_age

    def _refresh(self, wanted: str | None, early: float = 0.0) -> None:
        """Fetch if due (or due within `early` seconds). Called with the lock held; releases it during the fetch,
        or while it waits for another thread's fetch when it has no key for `wanted` (None: any key at all)."""
        have = wanted in self.keys if wanted is not None else bool(self.keys)
        if self.fetching:
            if not have:  # the fetch in flight is this token's one chance to find its key
                self.fetched.wait_for(lambda: not self.fetching, timeout=2 * self.timeout + 1)
            return  # else: the keys we hold are good enough while someone else refreshes them
        now = time.monotonic()
        if (have and now < self.expires_at - early) or now - self.tried_at < self.min_refetch:
            return
        self.fetching, self.tried_at = True, now
        self.fetches += 1
        self.lock.release()
        try:
            keys, max_age, error = None, 0.0, None
            try:
                keys, max_age = self._download()
            except (requests.RequestException, ValueError, KeyError, TypeError, RecursionError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        finally:
            self.lock.acquire()
            self.fetching = False
            self.fetched.notify_all()
        if keys is None:
            self.last_error = error  # keep what we had
            return
        self.keys, self.last_error = keys, None
        self.fetched_at = time.monotonic()
        self.expires_at = self.fetched_at + max_age

    def expiring(self, early: float) -> bool:
        """Are the keys due for a fetch within `early` seconds, and may one start now? (Read without the lock: a
        server's event loop asks it before it has a thread fetch them ahead, with `refresh_ahead`.)"""
        now = time.monotonic()
        return not self.fetching and now >= self.expires_at - early and now - self.tried_at >= self.min_refetch

    def refresh_ahead(self, early: float) -> None:
        """Fetch now if the keys expire within `early` seconds: a busy verifier refreshes them before they are
        old, so no request waits for the fetch (the tokens of the keys held are checked meanwhile, as always)."""
        with self.lock:
            self._refresh(None, early)

    def key(self, kid: str) -> dict | None:
        """The published JWK with this key id, refetching (rate-limited) if it is unknown or the cache is old."""
        with self.lock:
            self._refresh(kid)
            return self.keys.get(kid)

    def jwks(self) -> dict:
        with self.lock:
            self._refresh(None)
            return {"keys": list(self.keys.values())}


def find_key(jwks, kid: str) -> dict | None:
    if isinstance(jwks, JWKSCache):
        return jwks.key(kid)
    if isinstance(jwks, str):
        jwks = json.loads(jwks)
    for key in jwks.get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


_parsed_keys: dict[str, tuple[dict, object]] = {}  # kid -> (the JWK as published, the key parsed from it)
MAX_PARSED_KEYS = 64


def parsed_key(kid: str, jwk: dict):
    """The published JWK as a key object, parsed once per key rather than once per token.

    Only a JWK just found in the JWKS reaches here, so a key that has left the JWKS is refused (unknown_key)
    before this cache is read, and the cache holds at most what providers published. A kid published again
    with other key material is parsed again: the cached key is used only while the JWK is the same."""
    cached = _parsed_keys.get(kid)
    if cached is not None and cached[0] == jwk:
        return cached[1]
    key = RSAAlgorithm.from_jwk(jwk)
    if len(_parsed_keys) >= MAX_PARSED_KEYS:
        _parsed_keys.clear()
    _parsed_keys[kid] = (dict(jwk), key)
    return key
