"""Refresh tokens: a login that lasts days, rotated at every use, and theft that gives itself away.

An access token lives minutes and cannot be called back. To stay logged in, a client trades its refresh token
for a new access token, and gets a **new refresh token** with it: the old one is spent. Each token is a random
string; only its SHA-256 is stored, so a stolen database holds no usable token.

Every token descended from one login belongs to one **family**. If a spent token is ever presented again, two
parties hold the same login (the user and a thief, or a replayed request) and the provider cannot tell which
is which, so it revokes the whole family and both must log in again. Two racing uses of one token are decided
in one SQLite transaction: exactly one of them wins.

Revoking a refresh token (RFC 7009, `POST /revoke`) ends its family too: that is logging out.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid

from ..storage import Database
from .oauth import granted_scope, oauth_error

log = logging.getLogger("microcosm.identity")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RefreshTokens:
    """Issue, exchange and revoke refresh tokens, kept hashed in the `refresh_tokens` table for `ttl` seconds."""

    def __init__(self, db: Database, ttl: int):
        self.db, self.ttl = db, ttl

    def issue(self, sub: str, scope: str, family: str | None = None, conn=None) -> str:
        """A new refresh token: of a new family (a login), or of `family` (an exchange)."""
        token = "rt_" + secrets.token_urlsafe(32)
        now = time.time()
        sql = ("INSERT INTO refresh_tokens (token_hash, family, sub, scope, issued_at, expires_at) "
               "VALUES (?, ?, ?, ?, ?, ?)")
        row = (_sha256(token), family or uuid.uuid4().hex, sub, scope, now, now + self.ttl)
        if conn is not None:
            conn.execute(sql, row)  # inside the caller's transaction
        else:
            self.db.execute(sql, *row)  # committed at once
        return token

    def exchange(self, presented: str, requested_scope: str | None) -> tuple[str, str, str]:
        """Spend `presented` for (sub, scope of the new access token, the next refresh token of its family).
        A token that was spent already revokes its family; any refusal is an invalid_grant."""
        now = time.time()
        conn = self.db.connect()
        outcome, new = None, None
        with conn:  # one transaction: two racing uses of one token cannot both succeed
            row = conn.execute("SELECT * FROM refresh_tokens WHERE token_hash = ?", (_sha256(presented),)).fetchone()
            if row is None:
                outcome = "unknown refresh token"
            elif row["revoked_at"] is not None:
                outcome = f"refresh token revoked ({row['revoke_reason']})"
            elif row["expires_at"] < now:
                outcome = "refresh token expired: log in again"
            else:
                claimed = conn.execute("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
                                       (now, row["token_hash"])).rowcount
                if not claimed:  # used before: someone replays an old token. Nobody in this family is trusted now
                    conn.execute("UPDATE refresh_tokens SET revoked_at = ?, revoke_reason = ? "
                                 "WHERE family = ? AND revoked_at IS NULL",
                                 (now, "a rotated refresh token was reused", row["family"]))
                    log.warning("refresh token reuse: family %s of %s revoked", row["family"][:8], row["sub"])
                    outcome = "refresh token reuse detected: this token was already exchanged, so every token " \
                              "of its family is now revoked; log in again"
                else:
                    # a scope wider than the family's raises here and rolls the exchange back: the token stays good
                    scope = granted_scope(requested_scope, row["scope"])
                    new = (row["sub"], scope, self.issue(row["sub"], row["scope"], row["family"], conn))
        if outcome:  # after the commit: the family revocation must stick
            raise oauth_error(400, "invalid_grant", outcome)
        return new

    def revoke(self, presented: str) -> None:
        """End the family of `presented` (its holder logs out). An unknown token changes nothing."""
        row = self.db.one("SELECT family FROM refresh_tokens WHERE token_hash = ?", _sha256(presented))
        if row:
            self.db.execute("UPDATE refresh_tokens SET revoked_at = ?, revoke_reason = ? "
                            "WHERE family = ? AND revoked_at IS NULL",
                            time.time(), "revoked by its holder", row["family"])
