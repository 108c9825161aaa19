"""Idle keep-alive connections to one backend, reused (upstream.py's Connection is what it holds)."""
from __future__ import annotations

import asyncio
import time

from .upstream import ConnectFailed, Connection


class Pool:
    """Idle keep-alive connections to one backend."""

    def __init__(self, host: str, port: int, max_idle: float = 10.0, keep: int = 64):
        self.host, self.port, self.max_idle, self.keep = host, port, max_idle, keep
        self.idle: list[Connection] = []

    def take_idle(self) -> Connection | None:
        """An idle connection fit to carry a request, or None (then one must be made: `get`)."""
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            conn.in_pool = False
            if not conn.closed and not conn.buffer and now - conn.idle_since < self.max_idle:
                return conn
            conn.close()  # closed by the backend, too old, or holding bytes that answer no request
        return None

    async def get(self, connect_timeout: float) -> Connection:
        conn = self.take_idle()
        if conn is not None:
            return conn
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Connection(self), self.host, self.port), connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectFailed(f"connect timed out after {connect_timeout:g} s") from None
        except OSError as exc:
            raise ConnectFailed(exc.strerror or str(exc)) from None
        return conn

    def put_back(self, conn: Connection) -> None:
        if len(self.idle) >= self.keep:
            conn.close()
            return
        conn.in_pool, conn.idle_since = True, time.monotonic()
        self.idle.append(conn)

    def forget(self, conn: Connection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def close(self) -> None:
        for conn in list(self.idle):
            conn.close()
