"""A service's own SQLite database: one file that only this service opens.

Every write is committed before the service answers. WAL mode with `synchronous=NORMAL` means a commit
survives the process being killed (SIGKILL) at any moment; only a power cut could lose the last commits.
Each server thread keeps its own connection open (opening and closing one per request costs milliseconds).
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path


class Database:
    def __init__(self, path: str | Path, schema: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self.connect()
        conn.execute("PRAGMA journal_mode=WAL")
        if schema:
            conn.executescript(schema)

    def connect(self) -> sqlite3.Connection:
        """This thread's connection to the database (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def query(self, sql: str, *args) -> list[dict]:
        return [dict(row) for row in self.connect().execute(sql, args)]

    def one(self, sql: str, *args) -> dict | None:
        rows = self.query(sql, *args)
        return rows[0] if rows else None

    def execute(self, sql: str, *args) -> int:
        """Run one write and commit it; returns the new row's id (for an INSERT)."""
        conn = self.connect()
        with conn:  # commits, or rolls back on error
            return conn.execute(sql, args).lastrowid

    @contextmanager
    def transaction(self):
        """Several writes that happen together or not at all: `with db.transaction() as conn: conn.execute(...)`.

        BEGIN IMMEDIATE takes the write lock at the start, so two processes sharing the file cannot both read a
        value and then both write from it (a reservation of the last item in stock, twice)."""
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
