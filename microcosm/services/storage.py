"""A service's own SQLite database: one file that only this service opens.

Every write commits before the service answers, in WAL mode with full sync, so a process killed right
after an answer still has the write when it starts again.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


class Database:
    def __init__(self, path: str | Path, schema: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            if schema:
                conn.executescript(schema)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def query(self, sql: str, *args) -> list[dict]:
        conn = self.connect()
        try:
            return [dict(row) for row in conn.execute(sql, args)]
        finally:
            conn.close()

    def one(self, sql: str, *args) -> dict | None:
        rows = self.query(sql, *args)
        return rows[0] if rows else None

    def execute(self, sql: str, *args) -> int:
        """Run one write and commit it; returns the new row's id (for an INSERT)."""
        conn = self.connect()
        try:
            with conn:
                return conn.execute(sql, args).lastrowid
        finally:
            conn.close()
