"""journal: a small ledger of numbered batches, written by whichever reporter leads (chapter 08).

The job the reporters elect a leader for must happen once per period: batch 1, batch 2, ... each written once.
The journal keeps every write it accepts, so it can say when that went wrong: a **double write** is a batch
written a second time (two instances both believed they led). Each write carries the writer's fencing token
(coordination/election.py), and the journal keeps the newest token it has accepted:

    launch("journal", fencing=False)           accept every write; count the doubles, and the writes whose token
                                               was older than one already seen ("stale", the ones fencing refuses)
    launch("journal")                          fencing on: a write whose token the fence check refuses gets 409
    launch("journal", fence="my_fence.py:check")   your check(token, newest) -> bool (lab 08)

    POST /tokens   {"token"}                   a new leader shows its token first: from then on older ones are
                                               refused, even before the new leader's first write (200, or 409)
    POST /batches  {"batch", "token", "writer", "label", "config_version"}     one write (201, or 409)
    GET  /batches  ?after=&limit=              the writes accepted, in order, each marked double/stale
    GET  /summary                              the counts a chapter's verdict is computed from

Writes need the launch secret (the reporters inherit it): on one machine anyone could otherwise send a token
so large that every real leader is refused from then on. The newest token is kept in the database, in the
same transaction as the write it let through, so a restarted journal still refuses a deposed leader.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..coordination.fencing import load_check
from .base import ApiError, Int, Str, create_service, query_int, read_json, require_admin
from .storage import Database

MAX_TOKEN = 2**63 - 1   # a czxid is a signed 64-bit number in ZooKeeper
MAX_BATCH = 10**12
KEEP_REFUSALS = 50
SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id             INTEGER PRIMARY KEY,
    batch          INTEGER NOT NULL,
    token          INTEGER NOT NULL,
    writer         TEXT NOT NULL,
    label          TEXT NOT NULL,
    config_version INTEGER NOT NULL,
    at             REAL NOT NULL,
    double         INTEGER NOT NULL,   -- 1: this batch was already written
    stale          INTEGER NOT NULL    -- 1: its token was older than one accepted before (fencing would refuse it)
);
CREATE INDEX IF NOT EXISTS batches_by_batch ON batches (batch);
CREATE TABLE IF NOT EXISTS fence (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    newest  INTEGER,                   -- the newest token accepted (NULL: none yet)
    refused INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO fence (id, newest, refused) VALUES (1, NULL, 0);
CREATE TABLE IF NOT EXISTS refusals (
    id     INTEGER PRIMARY KEY,
    what   TEXT NOT NULL,
    batch  INTEGER,
    token  INTEGER NOT NULL,
    newest INTEGER,
    writer TEXT NOT NULL,
    at     REAL NOT NULL
);
"""


def create_app(config: dict):
    app = create_service("journal", config)
    db = Database(Path(config["data_dir"]) / "journal.db", SCHEMA)
    fencing = bool(config.get("fencing", True))
    fence = load_check(config.get("fence"))

    def admitted(conn, token: int, what: str, batch: int | None, writer: str) -> tuple[bool, int | None]:
        """Apply the fence to `token` in the caller's transaction: (let through?, the newest token before)."""
        newest = conn.execute("SELECT newest FROM fence WHERE id = 1").fetchone()[0]
        if fencing:
            verdict = fence(token, newest)
            if not isinstance(verdict, bool):
                raise ApiError(500, f"the fence check returned {type(verdict).__name__}, not True or False")
            if not verdict:
                conn.execute("UPDATE fence SET refused = refused + 1 WHERE id = 1")
                conn.execute("INSERT INTO refusals (what, batch, token, newest, writer, at) VALUES (?, ?, ?, ?, ?, ?)",
                             (what, batch, token, newest, writer, time.time()))
                conn.execute("DELETE FROM refusals WHERE id <= (SELECT MAX(id) FROM refusals) - ?", (KEEP_REFUSALS,))
                return False, newest
        conn.execute("UPDATE fence SET newest = MAX(COALESCE(newest, ?), ?) WHERE id = 1", (token, token))
        return True, newest

    def refuse(token: int, newest: int | None):
        return ApiError(409, f"token {token} is stale: a newer leader's token ({newest}) was seen; "
                             "you were deposed (fenced off)", reason="stale_token", token=token, newest=newest)

    @app.post("/tokens")
    def present_token():
        require_admin()
        body = read_json(token=Int(min=0, max=MAX_TOKEN), writer=Str(required=False, default="", max=64))
        with db.transaction() as conn:
            ok, newest = admitted(conn, body["token"], "token", None, body["writer"])
        if not ok:
            raise refuse(body["token"], newest)
        return {"token": body["token"], "newest": max(body["token"], newest or 0), "fencing": fencing}

    @app.post("/batches")
    def write_batch():
        require_admin()
        body = read_json(batch=Int(min=1, max=MAX_BATCH), token=Int(min=0, max=MAX_TOKEN),
                         writer=Str(min=1, max=64), label=Str(required=False, default="", max=64),
                         config_version=Int(required=False, default=0, min=0, max=MAX_TOKEN))
        with db.transaction() as conn:
            ok, newest = admitted(conn, body["token"], "batch", body["batch"], body["writer"])
            if ok:
                double = conn.execute("SELECT 1 FROM batches WHERE batch = ? LIMIT 1", (body["batch"],)).fetchone()
                stale = newest is not None and body["token"] < newest
                row_id = conn.execute(
                    "INSERT INTO batches (batch, token, writer, label, config_version, at, double, stale) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (body["batch"], body["token"], body["writer"], body["label"], body["config_version"],
                     time.time(), int(double is not None), int(stale))).lastrowid
        if not ok:
            raise refuse(body["token"], newest)
        return {"id": row_id, **body, "double": double is not None, "stale": stale}, 201

    @app.get("/batches")
    def list_batches():
        after = query_int("after", default=0, low=0, high=MAX_TOKEN)
        limit = query_int("limit", default=100, low=1, high=1000)
        rows = db.query("SELECT * FROM batches WHERE id > ? ORDER BY id LIMIT ?", after, limit)
        for row in rows:
            row["double"], row["stale"] = bool(row["double"]), bool(row["stale"])
        return {"batches": rows}

    @app.get("/summary")
    def summary():
        fence_row = db.one("SELECT newest, refused FROM fence WHERE id = 1")
        counts = db.one("SELECT COUNT(*) AS writes, COUNT(DISTINCT batch) AS batches, MAX(batch) AS last_batch, "
                        "COALESCE(SUM(double), 0) AS double_writes, COALESCE(SUM(stale), 0) AS stale_accepted "
                        "FROM batches")
        return {"fencing": fencing, "fence": config.get("fence") or "microcosm.coordination.fencing:check",
                "newest_token": fence_row["newest"], "refused": fence_row["refused"], **counts,
                "last_batch": counts["last_batch"] or 0,
                "refusals": db.query("SELECT * FROM refusals ORDER BY id DESC LIMIT 10")}

    return app
