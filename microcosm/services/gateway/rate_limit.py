"""Step 3, rate limit: how fast each caller may go, counted in Redis so that every gateway instance shares
the count.

Every caller has a **token bucket**: it holds up to `capacity` tokens (the burst a caller may make), each
request takes one, and it refills at `refill_per_s` (the pace a caller may keep up). An empty bucket is a
**429 Too Many Requests** with `Retry-After` (whole seconds until a token is back); every answer carries
`RateLimit-Limit`, `-Remaining` and `-Reset`, so a well-behaved client slows down before it is refused.

Whose bucket (`caller_keys`): a user's own (`user:ada`), and also the OAuth client's they came through
(`client:shop`), so that neither one user nor one application can take everything; a service calling with
its own token has its client's bucket; an anonymous caller has its address's (`address:127.0.0.1`).

The bucket lives in a Redis hash and is changed by one Lua script, `TOKEN_BUCKET_LUA`, that Redis runs
atomically: read, refill for the time that passed, take a token, write back, with no other command in
between. Done as separate commands, two requests arriving together (on two threads, or at two gateway
instances) could both read "one token left" and both go through. The script is sent to Redis once and then
run by its SHA1 (`LuaScript`: one EVALSHA per request, on a connection each server thread keeps).

The request waits for Redis's answer before it goes on: the answer decides whether it goes on at all. A
limiter that did not wait (counting in the gateway's memory and telling Redis later, or taking tokens from
Redis in batches) would be cheaper and no longer exact: each gateway instance would let through what its own
count allows, together more than the bucket holds.

A limiter is anything with `allow(redis, key, now) -> (allowed, remaining, retry_after)` and a `limit`;
config `rate_limit={"capacity": 200, "refill_per_s": 100}` (the defaults) sets the numbers, `rate_limit=False`
turns limiting off, and `rate_limiter="file.py:Name"` loads your own (chapter 05's lab). If the limiter
fails (Redis down, a bug), the request is let through and a warning logged: the limiter *fails open*.

The gateway's asyncio front (front/) runs the same check on its event loop: `check_async` sends the built-in
bucket's EVALSHA on one asyncio connection (front/redis_async.py); a limiter of your own runs in a thread with
the client above, as it is.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time

import redis as redis_lib
from flask import g
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from ..base import ApiError
from ..loader import load_object

log = logging.getLogger("microcosm.gateway")

TOKEN_BUCKET_LUA = """
-- KEYS[1]: the bucket; ARGV: capacity, refill per second, now (s), cost. Runs atomically inside Redis.
local capacity, rate, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]) or capacity, tonumber(state[2]) or now
if now > ts then tokens = math.min(capacity, tokens + (now - ts) * rate); ts = now end
local allowed, retry = 0, 0
if tokens >= cost then allowed = 1; tokens = tokens - cost else retry = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(retry)}
"""


class LuaScript:
    """A Lua script Redis runs by its SHA1 (EVALSHA), so that its text crosses to Redis once, not with every
    request. Redis keeps loaded scripts in memory only: after a restart (or SCRIPT FLUSH) it answers NOSCRIPT,
    and the script is loaded again (SCRIPT LOAD) and run once more.

    On a client that holds one connection (`RateLimits.store`) the command goes straight onto that connection:
    redis-py's general path for a command (its retries, lock and reply callbacks) cost more CPU than the round
    trip itself (measured with hiredis: 80 us a call, against 28)."""

    def __init__(self, text: str):
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def run(self, redis, keys: list, args: list):
        connection = getattr(redis, "connection", None)  # only a single-connection client has one
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        if connection is None:
            try:
                return redis.execute_command(*command)
            except NoScriptError:
                redis.script_load(self.text)
                return redis.execute_command(*command)
        with getattr(redis, "single_connection_lock", None) or contextlib.nullcontext():  # one command at a time
            try:
                return self._call(connection, command)
            except NoScriptError:
                self._call(connection, ("SCRIPT", "LOAD", self.text))
                return self._call(connection, command)

    @staticmethod
    def _call(connection, command: tuple):
        """Send one command and read its reply; once more on a new connection if the old one was dead (Redis
        restarted since it was opened). redis-py closes a connection that failed, and opens one on the next send.
        (Had Redis run the script before the connection broke, the caller loses a token: never one too many.)"""
        try:
            connection.send_command(*command)
            return connection.read_response()
        except RedisConnectionError:
            connection.send_command(*command)
            return connection.read_response()


class TokenBucket:
    """A bucket of `capacity` requests per key, refilled at `refill_per_s`. The interface a limiter offers:

        allow(redis, key, now) -> (allowed: bool, remaining: int, retry_after: float seconds)

    plus `limit` (the most requests in a burst) for the RateLimit-Limit header.
    """

    script = LuaScript(TOKEN_BUCKET_LUA)

    def __init__(self, capacity: float = 200, refill_per_s: float = 100):
        self.limit, self.rate = capacity, refill_per_s

    def allow(self, redis, key: str, now: float):
        return self.reading(self.script.run(redis, [key], [self.limit, self.rate, now, 1]))

    async def allow_async(self, redis, key: str, now: float):
        """The same on an asyncio Redis connection (front/redis_async.py: its `run` is LuaScript.run's twin)."""
        return self.reading(await redis.run(self.script, [key], [self.limit, self.rate, now, 1]))

    @staticmethod
    def reading(reply) -> tuple:
        allowed, tokens, retry = reply
        return bool(allowed), int(float(tokens)), float(retry)


def load_limiter(config: dict):
    settings = config.get("rate_limit", {})
    if settings is False or settings is None:
        return None
    settings = {"capacity": 200, "refill_per_s": 100, **(settings if isinstance(settings, dict) else {})}
    spec = config.get("rate_limiter")
    if not spec:
        return TokenBucket(settings["capacity"], settings["refill_per_s"])
    found = load_object(spec)
    if isinstance(found, type):  # a class: build it with the configured numbers
        return found(capacity=settings["capacity"], refill_per_s=settings["refill_per_s"])
    if callable(found) and not hasattr(found, "allow"):  # a bare allow(redis, key, now) function

        class Wrapped:
            limit, rate, allow = settings["capacity"], settings["refill_per_s"], staticmethod(found)

        return Wrapped()
    return found


def caller_keys(claims: dict | None, address: str) -> list[str]:
    """The buckets one request takes a token from: the user's and their client's, a client's own, or the address's."""
    if claims is None:
        return [f"address:{address}"]
    if claims.get("client_id") and claims["sub"] == f"client:{claims['client_id']}":
        return [f"client:{claims['client_id']}"]
    return [f"user:{claims['sub']}"] + ([f"client:{claims['client_id']}"] if claims.get("client_id") else [])


class RateLimits:
    """The limiter, the Redis it counts in, and the prefix of its keys (`rate_limit_prefix`: shared by every
    gateway instance)."""

    def __init__(self, config: dict):
        self.limiter = load_limiter(config)
        self.pool = redis_lib.ConnectionPool.from_url(config["redis_url"], socket_timeout=0.5,
                                                      socket_connect_timeout=0.5) \
            if self.limiter is not None and config.get("redis_url") else None
        if self.limiter is not None and self.pool is None:
            raise ValueError("rate limiting needs redis_url (or turn it off with rate_limit=False)")
        self.prefix = str(config.get("rate_limit_prefix", "gateway:ratelimit:"))
        self.local = threading.local()

    @property
    def store(self) -> redis_lib.Redis:
        """This thread's Redis client, holding one connection of the pool for good: taking a connection from the
        pool and giving it back on every request was a third of the rate limit's CPU (measured: 90 us -> 60)."""
        store = getattr(self.local, "store", None)
        if store is None:
            store = self.local.store = redis_lib.Redis(connection_pool=self.pool, single_connection_client=True)
        return store

    def check(self, claims: dict | None, address: str):
        """Take a token from each of the caller's buckets: the numbers of the last one taken (for the RateLimit-*
        headers: limit, remaining, retry after, refill), or a 429 ApiError that carries them as `.rate`."""
        limiter = self.limiter
        if limiter is None:
            return None
        rate, now = None, time.time()
        for key in caller_keys(claims, address):
            try:
                answer = limiter.allow(self.store, f"{self.prefix}{key}", now)
            except Exception as exc:  # Redis down, or a limiter's bug: let traffic through, say so in the log
                return fail_open(exc, rate)
            rate = self.judge(key, answer)
        return rate

    async def check_async(self, claims: dict | None, address: str, redis, in_thread):
        """`check` on an event loop: the built-in bucket on `redis` (an asyncio client), any other limiter by
        `await in_thread(self.check, claims, address)`."""
        limiter = self.limiter
        if limiter is None:
            return None
        if type(limiter) is not TokenBucket or redis is None:
            return await in_thread(self.check, claims, address)
        rate, now = None, time.time()
        for key in caller_keys(claims, address):
            try:
                answer = await limiter.allow_async(redis, f"{self.prefix}{key}", now)
            except Exception as exc:
                return fail_open(exc, rate)
            rate = self.judge(key, answer)
        return rate

    def judge(self, key: str, answer: tuple) -> tuple:
        """The limiter's answer for one bucket: its numbers, or a 429 carrying them."""
        allowed, remaining, retry_after = answer
        limiter = self.limiter
        rate = (getattr(limiter, "limit", 0), max(0, int(remaining)), retry_after, getattr(limiter, "rate", None))
        if not allowed:
            wait = max(1, math.ceil(retry_after))
            error = ApiError(429, f"rate limit exceeded for {key.split(':')[0]}: try again in {wait} s",
                             retry_after=wait)
            error.headers, error.rate = {"Retry-After": str(wait)}, rate
            raise error
        return rate


def fail_open(exc: Exception, rate):
    log.warning("rate limiter unavailable, request let through: %s: %s", type(exc).__name__, exc)
    return rate


def rate_limit_headers(rate, status: int) -> dict:
    """RateLimit-Limit/-Remaining/-Reset for an answer, from the numbers `check` gave (None: no headers)."""
    if not rate:
        return {}
    limit, remaining, retry_after, refill = rate
    reset = retry_after if status == 429 else ((limit - remaining) / refill if refill else 0)
    return {"RateLimit-Limit": str(int(limit)), "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(math.ceil(reset))}


def add_rate_limit_headers(response) -> None:
    """The headers above on a Flask answer, from the numbers the request's check left in `g.rate`."""
    response.headers.update(rate_limit_headers(g.get("rate"), response.status_code))
