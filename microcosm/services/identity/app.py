"""identity: who is calling (component 8). Users, service clients, and the tokens that prove who they are.

- `POST /users {username, password}` registers a user. Passwords are kept only as argon2id hashes: slow on
  purpose, salted, so a stolen database gives an attacker years of guessing instead of a list of passwords.
- `POST /token` is an OAuth 2 token endpoint (RFC 6749; form-encoded or JSON bodies):
  `grant_type=password` (a user logs in), `client_credentials` (a service proves it is itself) and
  `refresh_token` (a new access token without the password). `POST /login` is the password grant in JSON.
- Access tokens are JWTs signed RS256 and live minutes (`access_ttl`). Anyone can check them with the public
  keys at `/.well-known/jwks.json`; nobody but this service can make them. Refresh tokens are random strings,
  stored hashed, replaced at every use; using a replaced one again means it was stolen, so its whole family
  (every token descended from the same login) is revoked.
- Keys rotate (`POST /keys/rotate`): a new key is published first and signs only `publish_delay` seconds
  later, so verifiers' caches know it before they meet it; the old key stays published until the last token
  it signed has expired, then it is deleted.
- Failed logins are counted in this service's SQLite per account and per client address; over the limit
  the answer is 429 with Retry-After, before any password is hashed. Failed client authentications count
  against the address too, and registrations per address have a limit of their own. Behind a proxy, name it
  in `trusted_proxies` so the client's address comes from X-Forwarded-For.
- Hashing is slow on purpose, so it is also a way to keep this service busy: at most `hash_concurrency`
  argon2 computations run at once (each one takes `memory_kib`); a request that waits longer than
  `hash_wait` seconds for its turn gets 503 with Retry-After instead of queueing for ever.

Everything lives in the data folder: identity.db, keys/<kid>.pem (mode 0600) and admin_secret (0600, made at
first start unless config gives `admin_secret`). Admin routes (`POST /clients`, `POST /keys/rotate`) want
either the launch secret in `X-Admin-Secret` (what microcosm.launch hands this process, and what the
notebook's Service handles send) or `Authorization: Bearer <admin secret>`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote_plus

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import jsonify, request
from jwt.algorithms import RSAAlgorithm

from ... import tokens, trust
from ..base import ApiError, Str, create_service, error_response, read_json
from ..redaction import SECRET_PARAMS, redact_access_log
from ..storage import Database

log = logging.getLogger("microcosm.identity")

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
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 scope-token characters
DEFAULT_USER_SCOPE = "openid profile catalog:read orders:read orders:write carts:read carts:write"
DEFAULT_ARGON2 = {"time_cost": 3, "memory_kib": 65536, "parallelism": 1}  # argon2id, 64 MiB, 3 passes
BUSY_RETRY_AFTER = 1  # s: what a 503 from a full hashing queue tells the caller to wait
GRANTS = ("password", "client_credentials", "refresh_token")


# --- errors in the OAuth 2 shape -----------------------------------------------------------------------
def oauth_error(status: int, error: str, description: str, **details) -> ApiError:
    """An RFC 6749 error ({"error": "invalid_grant", "error_description": ...}) that also carries the house
    fields (message, status, request_id), so both OAuth clients and our own clients read it."""
    return ApiError(status, description, error=error, error_description=description, **details)


# --- passwords -------------------------------------------------------------------------------------------
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
        with self._slot():
            try:
                return self.hasher.verify(stored or self.dummy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def outdated(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


# --- login rate limits -------------------------------------------------------------------------------------
class LoginLimiter:
    """Failed logins per account and per client address in a sliding window, kept in the service's SQLite:
    the count survives a restart (crashing the service does not reset an attacker's budget) and is shared
    by instances that share the data folder. Checked before any hashing, so a locked account costs nothing.
    Unknown usernames are counted like real ones: the 429 tells nothing about which accounts exist.

    The same window counts the other requests that cost a hash: a failed client authentication is a failed
    login of its address (not of the client: a service must not be locked out by whoever guesses at its id),
    and every registration counts against its address's own registration limit."""

    MESSAGES = {"account": "too many failed logins for this account",
                "address": "too many failed logins for this address",
                "registration": "too many registrations from this address"}

    def __init__(self, db: Database, per_account: int, per_address: int, window: float,
                 registrations_per_address: int = 10):
        self.db, self.window = db, window
        self.limits = {"account": per_account, "address": per_address, "registration": registrations_per_address}
        self.lock = threading.Lock()  # registrations: the check and the count in one step

    def _refuse_if_over(self, kind: str, key: str, address: str, now: float) -> None:
        limit = self.limits[kind]
        count = self.db.one("SELECT COUNT(*) AS n FROM login_failures WHERE key = ? AND at > ?",
                            key, now - self.window)["n"]
        if count >= limit:  # the window slides: wait until enough events are older than it
            oldest = self.db.one("SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at "
                                 "LIMIT 1 OFFSET ?", key, now - self.window, count - limit)["at"]
            retry = max(1, math.ceil(oldest + self.window - now))
            log.warning("refused: %s (retry in %d s) from %s", self.MESSAGES[kind], retry, address)
            raise ApiError(429, f"{self.MESSAGES[kind]}: try again in {retry} s",
                           error_description=self.MESSAGES[kind], retry_after=retry)

    def _record(self, keys: list[str], now: float) -> None:
        conn = self.db.connect()
        with conn:
            conn.executemany("INSERT INTO login_failures (key, at) VALUES (?, ?)", [(key, now) for key in keys])
            conn.execute("DELETE FROM login_failures WHERE at < ?", (now - self.window,))

    def check(self, username: str | None, address: str) -> None:
        """Refuse (429) an address over its failure limit, or (with a username) an account over its own."""
        now = time.time()
        self._refuse_if_over("address", f"address:{address}", address, now)
        if username is not None:
            self._refuse_if_over("account", f"account:{username}", address, now)

    def failed(self, username: str | None, address: str) -> None:
        """Count a failed login (username None: a failed client authentication, counted for the address only)."""
        keys = [f"address:{address}"] + ([f"account:{username}"] if username is not None else [])
        self._record(keys, time.time())

    def registering(self, address: str) -> None:
        """Count one registration from `address`, or refuse it (429) if the address is over its limit."""
        with self.lock:
            now = time.time()
            self._refuse_if_over("registration", f"registration:{address}", address, now)
            self._record([f"registration:{address}"], now)

    def succeeded(self, username: str) -> None:
        self.db.execute("DELETE FROM login_failures WHERE key = ?", f"account:{username}")


# --- signing keys ---------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key, kid: str) -> dict:
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": jwk["n"], "e": jwk["e"]}


def thumbprint(public_key) -> str:
    """RFC 7638: the SHA-256 of the key's required members in a fixed JSON form. Same key, same id."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


class KeyStore:
    """RSA signing keys: private keys as PEM files in `folder` (0600), their timeline in SQLite.

    A key is published at `published_at`, signs from `signs_from` until the next key's `signs_from`, and is
    kept published until `keep_until` (that moment plus the access token lifetime), then removed.
    """

    def __init__(self, db: Database, folder: Path, access_ttl: int, publish_delay: float):
        self.db, self.folder, self.access_ttl, self.publish_delay = db, folder, access_ttl, publish_delay
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.private: dict[str, object] = {}
        self.public: dict[str, dict] = {}  # kid -> its public JWK
        self._rows: list[dict] = []
        self._loaded_at = float("-inf")
        if not self.db.one("SELECT kid FROM signing_keys LIMIT 1"):
            now = time.time()
            self._create(now, now)  # the very first key signs at once: nobody has cached anything yet

    def _create(self, published_at: float, signs_from: float) -> dict:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = thumbprint(key.public_key())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(self.folder / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        self.db.execute("INSERT INTO signing_keys (kid, published_at, signs_from) VALUES (?, ?, ?)",
                        kid, published_at, signs_from)
        self._loaded_at = float("-inf")
        return {"kid": kid, "published_at": published_at, "signs_from": signs_from}

    def rows(self) -> list[dict]:
        """The live keys, oldest first (reread every second: another instance may have rotated)."""
        with self.lock:
            if time.monotonic() - self._loaded_at > 1.0:
                self._rows = self.db.query("SELECT * FROM signing_keys WHERE removed_at IS NULL ORDER BY signs_from")
                self._loaded_at = time.monotonic()
            return self._rows

    def _private_key(self, kid: str):
        if kid not in self.private:
            path = self.folder / f"{kid}.pem"
            try:
                self.private[kid] = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except FileNotFoundError:
                raise RuntimeError(f"signing key {kid} is in the database but {path} is missing") from None
        return self.private[kid]

    def signing_key(self) -> tuple[str, object]:
        now = time.time()
        current = [r for r in self.rows() if r["signs_from"] <= now][-1]
        return current["kid"], self._private_key(current["kid"])

    def state(self, row: dict, now: float) -> str:
        newer = [r for r in self.rows() if r["signs_from"] > row["signs_from"] and r["signs_from"] <= now]
        if row["signs_from"] > now:
            return "published"  # known to verifiers, not signing yet
        return "retiring" if newer else "signing"

    def jwks(self) -> dict:
        self.prune()
        keys = []
        for row in self.rows():
            if row["kid"] not in self.public:
                try:
                    self.public[row["kid"]] = public_jwk(self._private_key(row["kid"]).public_key(), row["kid"])
                except RuntimeError:  # removed meanwhile by another thread or instance
                    continue
            keys.append(self.public[row["kid"]])
        return {"keys": keys}

    def timeline(self) -> list[dict]:
        now = time.time()
        return [{**r, "state": self.state(r, now)} for r in self.rows()]

    def rotate(self) -> dict:
        """Publish a new key now; it signs after publish_delay. The newest key so far keeps being published
        until every token it may still sign has expired."""
        now = time.time()
        newest = self.rows()[-1]
        new = self._create(now, now + self.publish_delay)
        self.db.execute("UPDATE signing_keys SET keep_until = ? WHERE kid = ?",
                        new["signs_from"] + self.access_ttl, newest["kid"])
        self._loaded_at = float("-inf")
        log.info("key %s published; it signs from %.3f; key %s stays published until %.3f", new["kid"],
                 new["signs_from"], newest["kid"], new["signs_from"] + self.access_ttl)
        return new

    def prune(self) -> None:
        now = time.time()
        for row in self.rows():
            if row["keep_until"] is not None and row["keep_until"] < now:
                self.db.execute("UPDATE signing_keys SET removed_at = ? WHERE kid = ?", now, row["kid"])
                (self.folder / f"{row['kid']}.pem").unlink(missing_ok=True)
                self.private.pop(row["kid"], None)
                self.public.pop(row["kid"], None)
                self._loaded_at = float("-inf")
                log.info("key %s removed: the last token it signed has expired", row["kid"])


# --- the service ------------------------------------------------------------------------------------------------
def _admin_secret(config: dict, data_dir: Path) -> str:
    if config.get("admin_secret"):
        return str(config["admin_secret"])
    path = data_dir / "admin_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    except FileExistsError:
        pass  # made at an earlier start (or by another instance sharing this folder)
    log.info("admin secret: in %s (send it as 'Authorization: Bearer <secret>' to /clients and /keys/rotate, "
             "or send the launch secret in X-Admin-Secret)", path)
    return path.read_text().strip()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


MIN_PUBLISH_DELAY = 1.0

def create_app(config: dict):
    app = create_service("identity", config)
    redact_access_log()
    data_dir = Path(config["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(data_dir / "identity.db", SCHEMA)
    public_url = str(config.get("public_url") or config.get("url") or "http://127.0.0.1").rstrip("/")
    issuer = str(config.get("issuer") or public_url)
    audience = str(config.get("audience", "microcosm"))
    access_ttl = int(config.get("access_ttl", 300))
    refresh_ttl = int(config.get("refresh_ttl", 7 * 24 * 3600))
    publish_delay = float(config.get("publish_delay", 2.0))
    if publish_delay < MIN_PUBLISH_DELAY:
        # a verifier refetches the JWKS at most once a second (microcosm.tokens.JWKSCache.min_refetch): a key
        # that signs sooner after it is published could be refused by a verifier that fetched just before
        raise ValueError(f"publish_delay must be at least {MIN_PUBLISH_DELAY:g} s (verifiers refetch keys at most "
                         f"once a second), got {publish_delay:g}")
    user_scope = str(config.get("user_scope", DEFAULT_USER_SCOPE))
    cost = {**DEFAULT_ARGON2, **(config.get("argon2") or {})}
    passwords = Passwords(cost["time_cost"], cost["memory_kib"], cost["parallelism"],
                          int(config.get("hash_concurrency", 2)), float(config.get("hash_wait", 5.0)))
    limiter = LoginLimiter(db, int(config.get("login_max_failures", 5)),
                           int(config.get("address_max_failures", 20)), float(config.get("login_window", 60)),
                           int(config.get("address_max_registrations", 10)))
    keys = KeyStore(db, data_dir / "keys", access_ttl, publish_delay)
    admin_secret = _admin_secret(config, data_dir)
    trusted_proxies = set(config.get("trusted_proxies") or [])
    for client_id, spec in (config.get("clients") or {}).items():  # service clients named in the config
        _register_client(db, passwords, client_id, spec["secret"], spec.get("scope", ""), "config")

    # --- helpers -------------------------------------------------------------------------------------
    def require_admin():
        """Admin routes answer either secret: the launch secret in X-Admin-Secret (handed to this process by
        microcosm.launch, and sent by the notebook's Service handles), or this service's own admin secret as
        'Authorization: Bearer <admin secret>'. Neither given: 401; a wrong one: 403."""
        launch_given = request.headers.get(trust.ADMIN_HEADER) or None
        if trust.is_admin(launch_given):
            return
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if bearer is not None and hmac.compare_digest(bearer.encode("utf-8", "surrogateescape"), admin_secret.encode()):
            return
        if launch_given is None and bearer is None:
            raise ApiError(401, f"this is an admin route: send the launch secret in {trust.ADMIN_HEADER} (the Service "
                           "handles a notebook gets from microcosm.launch send it for you) or 'Authorization: Bearer "
                           "<admin secret>'", reason="admin_only")
        raise ApiError(403, "wrong admin secret", reason="admin_only")

    def client_address() -> str:
        """The caller's address. Behind a proxy (the balancer, the gateway) every request comes from the proxy,
        so for proxies named in config `trusted_proxies` the address is taken from X-Forwarded-For: the
        rightmost entry that is not itself a trusted proxy (entries further left are the client's word)."""
        address = request.remote_addr or "unknown"
        if address in trusted_proxies:
            hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
            for hop in reversed(hops):
                address = hop
                if hop not in trusted_proxies:
                    break
        return address

    def no_secrets_in_url():
        found = SECRET_PARAMS.search(request.query_string.decode("latin-1"))
        if found:
            raise oauth_error(400, "invalid_request", f"'{found.group(1)}' must be sent in the body, never in the "
                                                      "URL (URLs end up in logs and browser history)")

    def token_params() -> dict[str, str]:
        """The request's parameters, form-encoded (RFC 6749) or JSON; each one a string, given at most once."""
        no_secrets_in_url()
        if request.mimetype == "application/x-www-form-urlencoded":
            form = request.form
            repeated = [k for k in form if len(form.getlist(k)) > 1]
            if repeated:
                raise oauth_error(400, "invalid_request", f"parameter '{repeated[0]}' is given more than once",
                                  field=repeated[0])
            return dict(form.items())
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise oauth_error(400, "invalid_request", "the body must be a JSON object")
            for key, value in body.items():
                if not isinstance(value, str):
                    raise oauth_error(400, "invalid_request", f"parameter '{key}' must be a string", field=key)
            return body
        raise oauth_error(415, "invalid_request", "send the parameters form-encoded "
                          "(application/x-www-form-urlencoded) or as JSON (application/json), "
                          f"not '{request.mimetype or 'none'}'")

    def need(params: dict, name: str) -> str:
        value = params.get(name, "")
        if not value:
            raise oauth_error(400, "invalid_request", f"parameter '{name}' is required", field=name)
        return value

    def granted_scope(requested: str | None, allowed: str) -> str:
        if not requested:
            return allowed
        wanted = requested.split()
        if not all(SCOPE.match(s) for s in wanted):
            raise oauth_error(400, "invalid_scope", "scope must be space-separated scope names", field="scope")
        extra = [s for s in wanted if s not in allowed.split()]
        if extra:
            raise oauth_error(400, "invalid_scope", f"scope '{extra[0]}' is not allowed here", field="scope")
        return " ".join(dict.fromkeys(wanted))

    def access_token(sub: str, scope: str, **extra) -> str:
        kid, key = keys.signing_key()
        now = int(time.time())
        claims = {"iss": issuer, "sub": sub, "aud": audience, "iat": now, "nbf": now, "exp": now + access_ttl,
                  "jti": uuid.uuid4().hex, "scope": scope, **extra}
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})

    def refresh_token(sub: str, scope: str, family: str | None = None, conn=None) -> str:
        token = "rt_" + secrets.token_urlsafe(32)
        now = time.time()
        sql = ("INSERT INTO refresh_tokens (token_hash, family, sub, scope, issued_at, expires_at) "
               "VALUES (?, ?, ?, ?, ?, ?)")
        row = (_sha256(token), family or uuid.uuid4().hex, sub, scope, now, now + refresh_ttl)
        if conn is not None:
            conn.execute(sql, row)  # inside the caller's transaction
        else:
            db.execute(sql, *row)  # committed at once
        return token

    def token_answer(access: str, scope: str, refresh: str | None = None):
        body = {"access_token": access, "token_type": "Bearer", "expires_in": access_ttl, "scope": scope}
        if refresh:
            body["refresh_token"] = refresh
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: never cache a token answer
        response.headers["Pragma"] = "no-cache"
        return response

    def client_from_request(params: dict) -> tuple[str, str] | None:
        """(client_id, secret) from HTTP Basic (client_secret_basic) or the body (client_secret_post)."""
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return unquote_plus(auth.username or ""), unquote_plus(auth.password or "")
        if params.get("client_id") or params.get("client_secret"):
            return params.get("client_id", ""), params.get("client_secret", "")
        return None

    # --- grants --------------------------------------------------------------------------------------
    def password_grant(params: dict):
        username, password = need(params, "username").lower(), need(params, "password")
        address = client_address()
        limiter.check(username, address)
        user = db.one("SELECT * FROM users WHERE username = ?", username)
        if not passwords.check(user["password_hash"] if user else None, password):
            limiter.failed(username, address)
            raise oauth_error(400, "invalid_grant", "wrong username or password")  # the same for unknown users
        limiter.succeeded(username)
        if passwords.outdated(user["password_hash"]):  # the cost went up since: store the stronger hash
            db.execute("UPDATE users SET password_hash = ? WHERE id = ?", passwords.hash(password), user["id"])
        scope = granted_scope(params.get("scope"), user["scope"])
        return token_answer(access_token(username, scope), scope, refresh_token(username, scope))

    def client_credentials_grant(params: dict):
        def refused():
            error = oauth_error(401, "invalid_client", "unknown client or wrong client secret")
            if request.authorization is not None:
                error.www_authenticate = 'Basic realm="identity"'
            return error

        given = client_from_request(params)
        if given is None:  # no client named at all: nothing to check, nothing to learn, no hash spent
            raise refused()
        address = client_address()
        limiter.check(None, address)  # an address over its failure limit costs nothing more
        client = db.one("SELECT * FROM clients WHERE client_id = ?", given[0])
        # an unknown client is checked against a dummy hash: the same work and the same answer as a wrong secret
        if not passwords.check(client["secret_hash"] if client else None, given[1]):
            limiter.failed(None, address)
            raise refused()
        scope = granted_scope(params.get("scope"), client["scope"])
        # no refresh token for a client (RFC 6749 4.4.3): it can always ask again with its secret
        return token_answer(access_token(f"client:{client['client_id']}", scope, client_id=client["client_id"]), scope)

    def refresh_grant(params: dict):
        presented = need(params, "refresh_token")
        now = time.time()
        conn = db.connect()
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
                    scope = granted_scope(params.get("scope"), row["scope"])
                    new = (row["sub"], scope, refresh_token(row["sub"], row["scope"], row["family"], conn))
        if outcome:  # after the commit: the family revocation must stick
            raise oauth_error(400, "invalid_grant", outcome)
        sub, scope, refresh = new
        return token_answer(access_token(sub, scope), scope, refresh)

    # --- routes ----------------------------------------------------------------------------------------
    @app.post("/users")
    def register():
        no_secrets_in_url()
        body = read_json(username=Str(min=1, max=64), password=Str(min=1, max=1024))
        username, password = body["username"].lower(), body["password"]
        if not USERNAME.match(username):
            raise ApiError(400, "username: 3 to 32 of a-z 0-9 _ . - starting with a letter or digit", field="username")
        if len(password) < 8:
            raise ApiError(400, "password: at least 8 characters", field="password")
        if password.lower() == username:
            raise ApiError(400, "password: must not be the username", field="password")
        limiter.registering(client_address())  # every well-formed registration counts (each may cost a hash)
        if db.one("SELECT id FROM users WHERE username = ?", username):
            raise ApiError(409, f"username '{username}' is taken", field="username")
        try:
            user_id = db.execute("INSERT INTO users (username, password_hash, scope, created_at) VALUES (?, ?, ?, ?)",
                                 username, passwords.hash(password), user_scope, time.time())
        except Exception as exc:  # two registrations of one name at once: the UNIQUE constraint decides
            if "UNIQUE" in str(exc):
                raise ApiError(409, f"username '{username}' is taken", field="username") from None
            raise
        return {"id": user_id, "username": username, "scope": user_scope}, 201

    @app.post("/token")
    def token():
        params = token_params()
        grant = params.get("grant_type")
        if not grant:
            raise oauth_error(400, "invalid_request", "parameter 'grant_type' is required", field="grant_type")
        handler = {"password": password_grant, "client_credentials": client_credentials_grant,
                   "refresh_token": refresh_grant}.get(grant)
        if handler is None:
            raise oauth_error(400, "unsupported_grant_type",
                              f"grant_type must be one of {', '.join(GRANTS)}", field="grant_type")
        return handler(params)

    @app.post("/login")
    def login():
        """The password grant for humans in a notebook: {username, password[, scope]} as JSON."""
        no_secrets_in_url()
        body = read_json(username=Str(min=1, max=64), password=Str(min=1, max=1024),
                         scope=Str(required=False, max=1000))
        return password_grant({k: v for k, v in body.items() if v is not None})

    @app.post("/revoke")
    def revoke():
        """RFC 7009. Revoking a refresh token ends its whole family (the login session). Unknown tokens are
        answered 200 too: the caller learns nothing. Access tokens cannot be revoked: they expire."""
        params = token_params()
        presented = need(params, "token")
        if presented.count(".") == 2 or params.get("token_type_hint") == "access_token":
            raise oauth_error(400, "unsupported_token_type", "access tokens are JWTs checked without asking "
                              f"this service, so they cannot be revoked; they expire within {access_ttl} s")
        row = db.one("SELECT family FROM refresh_tokens WHERE token_hash = ?", _sha256(presented))
        if row:
            db.execute("UPDATE refresh_tokens SET revoked_at = ?, revoke_reason = ? WHERE family = ? AND revoked_at IS NULL",
                       time.time(), "revoked by its holder", row["family"])
        return {"revoked": True}

    @app.post("/clients")
    def add_client():
        require_admin()
        body = read_json(client_id=Str(min=3, max=64), scope=Str(required=False, default="", max=1000))
        if not CLIENT_ID.match(body["client_id"]):
            raise ApiError(400, "client_id: 3 to 64 of a-z 0-9 _ . -", field="client_id")
        secret = secrets.token_urlsafe(32)
        if not _register_client(db, passwords, body["client_id"], secret, body["scope"], "api", replace=False):
            raise ApiError(409, f"client '{body['client_id']}' exists", field="client_id")
        response = jsonify({"client_id": body["client_id"], "client_secret": secret, "scope": body["scope"],
                            "note": "the secret is shown once; only its hash is stored"})
        response.headers["Cache-Control"] = "no-store"
        return response, 201

    @app.get("/userinfo")
    def userinfo():
        try:
            claims = tokens.verify(tokens.bearer_token(request.headers.get("Authorization")), keys.jwks(),
                                   issuer, audience)
        except tokens.TokenError as exc:
            error = ApiError(exc.status, exc.message, reason=exc.reason)
            error.www_authenticate = f'Bearer error="invalid_token", error_description="{exc.reason}"'
            raise error from None
        return {"sub": claims["sub"], "scope": claims["scope"], "exp": claims["exp"]}

    @app.get("/.well-known/jwks.json")
    def jwks():
        response = jsonify(keys.jwks())
        # verifiers may cache it this long; a new key is published at least this long before it signs
        response.headers["Cache-Control"] = f"public, max-age={max(0, int(publish_delay))}"
        return response

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return {
            "issuer": issuer,
            "token_endpoint": f"{public_url}/token",
            "jwks_uri": f"{public_url}/.well-known/jwks.json",
            "revocation_endpoint": f"{public_url}/revoke",
            "userinfo_endpoint": f"{public_url}/userinfo",
            "registration_endpoint": f"{public_url}/users",
            "grant_types_supported": list(GRANTS),
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": sorted(set(user_scope.split())),
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id"],
            "access_token_lifetime": access_ttl,
        }

    @app.get("/keys")
    def key_timeline():
        """The keys' timeline (public facts only): published, signing, retiring."""
        keys.prune()
        return {"keys": keys.timeline(), "now": time.time(), "publish_delay": publish_delay, "access_ttl": access_ttl}

    @app.post("/keys/rotate")
    def rotate():
        require_admin()
        new = keys.rotate()
        return {"kid": new["kid"], "published_at": new["published_at"], "signs_from": new["signs_from"],
                "keys": keys.timeline()}, 201

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = error_response(exc.code, exc.description, **exc.details)
        if getattr(exc, "www_authenticate", None):
            response.headers["WWW-Authenticate"] = exc.www_authenticate
        if exc.code in (429, 503) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        if request.path in ("/token", "/revoke"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _register_client(db: Database, passwords: Passwords, client_id: str, secret: str, scope: str, source: str,
                     replace: bool = True) -> bool:
    """Store a client with its secret hashed. Config clients are refreshed at every start (the secret or
    scope may have changed); API clients are never overwritten. Returns False if it existed and was kept."""
    known = db.one("SELECT * FROM clients WHERE client_id = ?", client_id)
    if known and not replace:
        return False
    if known and known["scope"] == scope and passwords.check(known["secret_hash"], secret):
        return True
    if len(secret) < 16:
        raise ValueError(f"client {client_id}: the secret must have at least 16 characters")
    db.execute("INSERT OR REPLACE INTO clients (client_id, secret_hash, scope, source, created_at) VALUES (?, ?, ?, ?, ?)",
               client_id, passwords.hash(secret), scope, source, time.time())
    return True
