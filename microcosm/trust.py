"""Trust on one machine: the launch secret, and proof that identity headers came from the gateway.

Everything microcosm runs listens on 127.0.0.1, so every program on the machine can reach every service.
Two small rules keep that from meaning "anyone may do anything":

- **The launch secret.** The kernel that launches the processes makes one random secret and hands it to them
  (in their environment, `MICROCOSM_ADMIN_SECRET`, which other users cannot read) and to the notebook's
  `Service` handles. Admin and fault-injection routes (`/_chaos`, `/_balancer/*`, registry writes, key
  rotation) answer only a request that carries it in `X-Admin-Secret`. The gateway never forwards it.
- **Identity headers with a proof.** The gateway turns a verified token into `X-User`, `X-Scopes` and
  `X-Client`, and adds `X-Identity-Proof`: an HMAC of those three values under the launch secret. A hop in
  between (the balancer) passes identity headers on only with a valid proof, so a client's own
  `X-User: admin` is dropped. The proof is only as good as the secret; production systems use mTLS between
  services, or forward the token itself and let each service verify it (`microcosm.tokens.verify`).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets

ENV = "MICROCOSM_ADMIN_SECRET"
ADMIN_HEADER = "X-Admin-Secret"
PROOF_HEADER = "X-Identity-Proof"
IDENTITY_HEADERS = ("X-User", "X-Scopes", "X-Client")


def launch_secret(create: bool = False) -> str | None:
    """This process's launch secret: inherited from the process that launched it, or (create=True, in the
    kernel) made now and put in the environment, so every process launched from here on inherits it."""
    secret = os.environ.get(ENV)
    if not secret and create:
        secret = os.environ[ENV] = secrets.token_urlsafe(32)
    return secret or None


def is_admin(given: str | None) -> bool:
    """Does `given` (the X-Admin-Secret header's value) match this process's launch secret?"""
    secret = launch_secret()
    if not secret or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.encode())


def admin_refusal(given: str | None) -> tuple[int, str] | None:
    """None if `given` is the launch secret, else (status, message) to answer with."""
    if is_admin(given):
        return None
    if not launch_secret():
        return 403, (f"admin routes are off: this process was started without a launch secret ({ENV}); "
                     "start it with microcosm.launch(...) from a notebook")
    if not given:
        return 401, (f"this is an admin route: send the launch secret in the {ADMIN_HEADER} header "
                     "(the Service handles a notebook gets from microcosm.launch send it for you)")
    return 403, f"wrong launch secret in {ADMIN_HEADER}"


def identity_proof(user: str, scopes: str, client: str) -> str | None:
    """The proof the gateway sends with X-User/X-Scopes/X-Client (None without a launch secret)."""
    secret = launch_secret()
    if not secret:
        return None
    message = "\n".join((user, scopes, client)).encode("utf-8", "surrogateescape")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def identity_proven(headers) -> bool:
    """Do the identity headers in `headers` (any mapping with .get) carry a valid proof from the gateway?"""
    given = headers.get(PROOF_HEADER)
    if not given:  # most requests: nothing to check, no HMAC to compute
        return False
    expected = identity_proof(*(headers.get(h) or "" for h in IDENTITY_HEADERS))
    return expected is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())
