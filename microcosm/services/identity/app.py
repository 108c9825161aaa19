"""The identity provider's app: read the config once, build the parts, and hand them to the routes.

`create_app(config)` is all `microcosm.launch("identity")` calls. The parts it builds (the database, the password
hasher, the login limiter, the key store, the refresh tokens) and the settings are kept together in a
`Provider`, which each group of routes (a blueprint per module: users, token_endpoint, admin, discovery)
receives.

Config (every key optional but `data_dir`): `public_url`/`url`, `issuer`, `audience`, `access_ttl` (s),
`refresh_ttl` (s), `publish_delay` (s, at least 1), `user_scope`, `argon2` ({time_cost, memory_kib,
parallelism}), `hash_concurrency`, `hash_wait` (s), `login_max_failures`, `address_max_failures`,
`login_window` (s), `address_max_registrations`, `admin_secret`, `trusted_proxies`, `clients`
({client_id: {secret, scope}}).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..base import ApiError, create_service
from ..storage import Database
from . import admin, discovery, token_endpoint, users
from .admin import admin_secret, register_client
from .keys import MIN_PUBLISH_DELAY, KeyStore
from .limits import LoginLimiter
from .oauth import error_answer
from .passwords import DEFAULT_ARGON2, Passwords
from .refresh import RefreshTokens
from .schema import SCHEMA
from .users import DEFAULT_USER_SCOPE


@dataclass
class Provider:
    """Everything the routes share: the settings, read from the config once, and the parts built from them."""

    db: Database
    passwords: Passwords
    limiter: LoginLimiter
    keys: KeyStore
    refresh: RefreshTokens
    public_url: str       # where clients reach this service (the discovery document's links)
    issuer: str           # the tokens' `iss`
    audience: str         # the tokens' `aud`
    access_ttl: int       # s: how long an access token lives
    publish_delay: float  # s: how long a new key is published before it signs
    user_scope: str       # the scopes a new user's tokens may carry
    admin_secret: str     # the operator's secret for the admin routes
    trusted_proxies: set  # addresses whose X-Forwarded-For is believed


def create_app(config: dict):
    app = create_service("identity", config)
    data_dir = Path(config["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(data_dir / "identity.db", SCHEMA)
    public_url = str(config.get("public_url") or config.get("url") or "http://127.0.0.1").rstrip("/")
    access_ttl = int(config.get("access_ttl", 300))
    refresh_ttl = int(config.get("refresh_ttl", 7 * 24 * 3600))
    publish_delay = float(config.get("publish_delay", 2.0))
    if publish_delay < MIN_PUBLISH_DELAY:
        # a verifier refetches the JWKS at most once a second (microcosm.tokens.JWKSCache.min_refetch): a key
        # that signs sooner after it is published could be refused by a verifier that fetched just before
        raise ValueError(f"publish_delay must be at least {MIN_PUBLISH_DELAY:g} s (verifiers refetch keys at most "
                         f"once a second), got {publish_delay:g}")
    cost = {**DEFAULT_ARGON2, **(config.get("argon2") or {})}
    passwords = Passwords(cost["time_cost"], cost["memory_kib"], cost["parallelism"],
                          int(config.get("hash_concurrency", 2)), float(config.get("hash_wait", 5.0)))
    limiter = LoginLimiter(db, int(config.get("login_max_failures", 5)),
                           int(config.get("address_max_failures", 20)), float(config.get("login_window", 60)),
                           int(config.get("address_max_registrations", 10)))
    idp = Provider(
        db=db, passwords=passwords, limiter=limiter,
        keys=KeyStore(db, data_dir / "keys", access_ttl, publish_delay),
        refresh=RefreshTokens(db, refresh_ttl),
        public_url=public_url, issuer=str(config.get("issuer") or public_url),
        audience=str(config.get("audience", "microcosm")), access_ttl=access_ttl, publish_delay=publish_delay,
        user_scope=str(config.get("user_scope", DEFAULT_USER_SCOPE)),
        admin_secret=admin_secret(config, data_dir), trusted_proxies=set(config.get("trusted_proxies") or []))
    for client_id, spec in (config.get("clients") or {}).items():  # service clients named in the config
        register_client(db, passwords, client_id, spec["secret"], spec.get("scope", ""), "config")

    for module in (users, token_endpoint, admin, discovery):
        app.register_blueprint(module.routes(idp))
    app.register_error_handler(ApiError, error_answer)
    return app
