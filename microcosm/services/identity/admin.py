"""Admin routes: registering service clients (`POST /clients`) and rotating the signing key (`POST /keys/rotate`).

They answer either of two secrets:
- the **launch secret** in `X-Admin-Secret`: what `microcosm.launch` hands every process it starts, and what the
  notebook's Service handles send for you (microcosm/trust.py);
- this service's own **admin secret** as `Authorization: Bearer <admin secret>`, for an operator. It is made at
  first start in the data folder (`admin_secret`, mode 0600) unless the config gives `admin_secret`.

Neither given: 401; a wrong one: 403. Both are compared in constant time, and never logged.

A client's secret is shown once, in the answer that creates it (never cached); only its argon2id hash is
stored. Clients named in the config are registered at every start (`register_client`), so a changed secret
or scope there takes effect; clients made over the API are never overwritten.
"""
from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, jsonify, request

from ... import trust
from ..base import ApiError, Str, read_json
from ..storage import Database
from .passwords import Passwords

if TYPE_CHECKING:
    from .app import Provider

log = logging.getLogger("microcosm.identity")

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")


def admin_secret(config: dict, data_dir: Path) -> str:
    """The config's `admin_secret`, or the one in the data folder (made now, at first start)."""
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


def require_admin(secret: str) -> None:
    """Admin routes answer either secret: the launch secret in X-Admin-Secret (handed to this process by
    microcosm.launch, and sent by the notebook's Service handles), or this service's own admin secret as
    'Authorization: Bearer <admin secret>'. Neither given: 401; a wrong one: 403."""
    launch_given = request.headers.get(trust.ADMIN_HEADER) or None
    if trust.is_admin(launch_given):
        return
    auth = request.headers.get("Authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    if bearer is not None and hmac.compare_digest(bearer.encode("utf-8", "surrogateescape"), secret.encode()):
        return
    if launch_given is None and bearer is None:
        raise ApiError(401, f"this is an admin route: send the launch secret in {trust.ADMIN_HEADER} (the Service "
                       "handles a notebook gets from microcosm.launch send it for you) or 'Authorization: Bearer "
                       "<admin secret>'", reason="admin_only")
    raise ApiError(403, "wrong admin secret", reason="admin_only")


def register_client(db: Database, passwords: Passwords, client_id: str, secret: str, scope: str, source: str,
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
    db.execute("INSERT OR REPLACE INTO clients (client_id, secret_hash, scope, source, created_at) "
               "VALUES (?, ?, ?, ?, ?)", client_id, passwords.hash(secret), scope, source, time.time())
    return True


def routes(idp: Provider) -> Blueprint:
    bp = Blueprint("identity_admin", __name__)

    @bp.post("/clients")
    def add_client():
        require_admin(idp.admin_secret)
        body = read_json(client_id=Str(min=3, max=64), scope=Str(required=False, default="", max=1000))
        if not CLIENT_ID.match(body["client_id"]):
            raise ApiError(400, "client_id: 3 to 64 of a-z 0-9 _ . -", field="client_id")
        secret = secrets.token_urlsafe(32)
        if not register_client(idp.db, idp.passwords, body["client_id"], secret, body["scope"], "api", replace=False):
            raise ApiError(409, f"client '{body['client_id']}' exists", field="client_id")
        response = jsonify({"client_id": body["client_id"], "client_secret": secret, "scope": body["scope"],
                            "note": "the secret is shown once; only its hash is stored"})
        response.headers["Cache-Control"] = "no-store"
        return response, 201

    @bp.post("/keys/rotate")
    def rotate():
        require_admin(idp.admin_secret)
        new = idp.keys.rotate()
        return {"kid": new["kid"], "published_at": new["published_at"], "signs_from": new["signs_from"],
                "keys": idp.keys.timeline()}, 201

    return bp
