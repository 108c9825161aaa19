"""Signing keys: RSA key pairs, published as a JWKS, rotated without a single token refused.

An access token is a JWT signed RS256 with a private key that never leaves this service's data folder
(keys/<kid>.pem, mode 0600). The matching public keys are published at `/.well-known/jwks.json`; anyone can
check a signature with them, nobody but this service can make one. Each key's id (`kid`, in every token's
header) is its RFC 7638 thumbprint: the same key always has the same id.

Rotation is a timeline, so that no verifier ever meets a token signed by a key it cannot know yet:

1. `rotate()` **publishes** a new key at once; it does not sign yet.
2. `publish_delay` seconds later it **signs** every new token. Verifiers cache the JWKS, and refetch it when a
   token names a kid they do not know (at most once a second: hence `MIN_PUBLISH_DELAY`). The old key is now
   **retiring**: published, signing nothing.
3. The old key stays published until the last token it signed has expired (`keep_until`: the moment the new
   key took over, plus the access token lifetime), then `prune()` removes it and deletes its private key.

The timeline is in SQLite (`signing_keys`) and reread every second, so instances sharing a data folder agree.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ..storage import Database

log = logging.getLogger("microcosm.identity")

MIN_PUBLISH_DELAY = 1.0


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
