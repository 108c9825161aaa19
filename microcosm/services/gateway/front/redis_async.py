"""The rate limit's Redis on the event loop: one asyncio connection, commands pipelined in order.

The front asks Redis one EVALSHA per request (rate_limit.py's token bucket). A request waits for its answer,
but the loop does not: many requests' commands go out on one connection one after another, and Redis answers
them in the order they came, so each reply is handed to the oldest waiting request (RESP has no ids; order is
the protocol). Replies are parsed by hiredis's C reader, as redis-py's are in the gateway's threads.

- the commands of the requests that reach the rate limit in the same turn of the loop go out in one write;
- `AsyncRedis.run(script, keys, args)` is `LuaScript.run`'s twin: EVALSHA, and on NOSCRIPT (Redis restarted,
  or SCRIPT FLUSH) SCRIPT LOAD and the EVALSHA once more;
- a connection that dies (Redis restarted, killed) fails the commands in flight and is replaced by the next
  command; a command sent on a connection that was found dead is tried once more on a new one;
- a reply slower than `timeout` seconds fails its command and closes the connection (the replies that come
  later could no longer be matched to their commands). The caller (RateLimits.check_async) then fails open.
"""
from __future__ import annotations

import asyncio
import socket
from collections import deque

import hiredis
from redis.connection import parse_url


class RedisFailed(Exception):
    """The command did not get an answer: no connection, a dead one, or no reply in time."""


class ReplyError(Exception):
    """Redis answered with an error (NOSCRIPT, a script's error ...)."""


def encode(args) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, (int, float)):
            arg = repr(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    def __init__(self):
        self.transport = None
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future] = deque()
        self.unsent: list[bytes] = []
        self.dead = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # no Nagle: a command must not wait for the reply to the one before it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                waiter = self.waiting.popleft() if self.waiting else None
                if waiter is not None and not waiter.done():
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            self.close("Redis's reply could not be read")

    def connection_lost(self, exc):
        self.close(f"the connection to Redis was lost ({exc or 'closed'})")

    def send(self, args) -> asyncio.Future:
        """Queue a command; the commands queued in one turn of the loop go out in one write (one system call
        for all the requests that reached their rate limit together)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiting.append(waiter)
        self.unsent.append(encode(args))
        if len(self.unsent) == 1:
            loop.call_soon(self._flush)
        return waiter

    def _flush(self) -> None:
        if self.unsent and not self.dead:
            self.transport.write(b"".join(self.unsent))
        self.unsent.clear()

    def close(self, why: str) -> None:
        self.dead = True
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(RedisFailed(why))
        if self.transport is not None:
            self.transport.close()


class AsyncRedis:
    """One pipelined connection to the Redis at `url` (redis://[:password@]host:port[/db])."""

    def __init__(self, url: str, timeout: float = 0.5):
        self.settings = parse_url(url)
        self.timeout = timeout
        self.connection: _Connection | None = None
        self.connecting: asyncio.Future | None = None

    async def _connected(self) -> _Connection:
        if self.connection is not None and not self.connection.dead:
            return self.connection
        if self.connecting is None:  # one connect at a time: the requests that arrive meanwhile wait for it
            self.connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self.connecting)
        finally:
            if self.connecting is not None and self.connecting.done():
                self.connecting = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                _Connection, self.settings.get("host", "localhost"), int(self.settings.get("port", 6379))),
                self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RedisFailed(f"cannot connect to Redis: {exc or type(exc).__name__}") from None
        self.connection = conn
        if self.settings.get("password"):
            user = self.settings.get("username")
            await self._reply(conn, ("AUTH", user, self.settings["password"]) if user else
                              ("AUTH", self.settings["password"]))
        if int(self.settings.get("db") or 0):
            await self._reply(conn, ("SELECT", int(self.settings["db"])))
        return conn

    async def _reply(self, conn: _Connection, args):
        waiter = conn.send(args)
        timer = asyncio.get_running_loop().call_later(self.timeout, conn.close, "Redis did not answer in time")
        try:
            reply = await waiter
        finally:
            timer.cancel()
        if isinstance(reply, hiredis.ReplyError):
            raise ReplyError(str(reply))
        return reply

    async def call(self, *args):
        """One command's reply (ReplyError for an error reply, RedisFailed for none)."""
        for attempt in (1, 2):
            conn = await self._connected()
            try:
                return await self._reply(conn, args)
            except RedisFailed:
                if attempt == 2:
                    raise
                # (had Redis run the command before the connection broke, the caller loses a token: never
                # one too many, as LuaScript._call says)
        raise AssertionError("unreachable")

    async def run(self, script, keys: list, args: list):
        """Run a rate_limit.LuaScript by its SHA1, loading it when Redis does not know it."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self.call(*command)
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.call("SCRIPT", "LOAD", script.text)
        return await self.call(*command)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close("closed")
