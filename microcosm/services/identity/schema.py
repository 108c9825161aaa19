"""The provider's tables: one SQLite file, identity.db, in its data folder, that no other service opens.

Read it for what is *not* here: no password, no client secret, no refresh token, no private key. Passwords and
client secrets are kept as argon2id hashes (passwords.py), refresh tokens as their SHA-256 (refresh.py), and
private keys as PEM files beside the database (keys.py); this file only says when each key signs.

- `users`: who can log in, and the scopes their tokens may carry.
- `clients`: services that log in as themselves (client credentials); from the config or from an admin.
- `refresh_tokens`: one row per refresh token ever issued, with its family (every token descended from one
  login), when it was exchanged and, if so, why it was revoked.
- `login_failures`: one row per failed login, failed client authentication or registration, per key, in a
  sliding window (limits.py). On disk, so a restart does not reset an attacker's budget.
- `signing_keys`: each key's timeline: published, signing, kept until its last token expires, removed.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scope         TEXT NOT NULL,
    created_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scope       TEXT NOT NULL,
    source      TEXT NOT NULL,          -- 'config' or 'api'
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash    TEXT PRIMARY KEY,     -- SHA-256 of the token: the token itself is never stored
    family        TEXT NOT NULL,        -- every token descended from one login
    sub           TEXT NOT NULL,
    scope         TEXT NOT NULL,
    issued_at     REAL NOT NULL,
    expires_at    REAL NOT NULL,
    used_at       REAL,                 -- rotated: exchanged once already
    revoked_at    REAL,
    revoke_reason TEXT
);
CREATE INDEX IF NOT EXISTS refresh_family ON refresh_tokens (family);
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT NOT NULL,                  -- 'account:<username>', 'address:<ip>' or 'registration:<ip>'
    at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid          TEXT PRIMARY KEY,      -- RFC 7638 thumbprint of the public key
    published_at REAL NOT NULL,         -- in the JWKS from then on
    signs_from   REAL NOT NULL,         -- signs new tokens from then on (until a newer key takes over)
    keep_until   REAL,                  -- set when a newer key is made: its last token's expiry
    removed_at   REAL                   -- gone from the JWKS and its private key file deleted
);
"""
