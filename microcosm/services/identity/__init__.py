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

Where each idea lives, one module each:

    passwords.py       argon2id hashes, and how many are computed at once
    limits.py          failed logins per account and address, registrations per address
    keys.py            RSA signing keys, the JWKS, rotation without a refused token
    refresh.py         refresh tokens: rotation, families, reuse detection
    oauth.py           OAuth 2 on the wire: parameters in, token answers and errors out
    grants.py          password, client_credentials, refresh_token: the ways to get a token
    token_endpoint.py  POST /token, /login, /revoke
    users.py           POST /users, GET /userinfo
    admin.py           POST /clients, /keys/rotate, and the secrets they want
    discovery.py       the discovery document, the JWKS, the keys' timeline
    schema.py          the tables of identity.db
    app.py             create_app(config): the parts built from the config, the routes wired to them
"""
from .admin import CLIENT_ID, admin_secret, register_client, require_admin
from .app import Provider, create_app
from .grants import GRANTS, access_token
from .keys import MIN_PUBLISH_DELAY, KeyStore, public_jwk, thumbprint
from .limits import LoginLimiter, client_address
from .oauth import SCOPE, granted_scope, oauth_error
from .passwords import BUSY_RETRY_AFTER, DEFAULT_ARGON2, Passwords
from .refresh import RefreshTokens
from .schema import SCHEMA
from .users import DEFAULT_USER_SCOPE, USERNAME

__all__ = ["BUSY_RETRY_AFTER", "CLIENT_ID", "DEFAULT_ARGON2", "DEFAULT_USER_SCOPE", "GRANTS", "MIN_PUBLISH_DELAY",
           "SCHEMA", "SCOPE", "USERNAME", "KeyStore", "LoginLimiter", "Passwords", "Provider", "RefreshTokens",
           "access_token", "admin_secret", "client_address", "create_app", "granted_scope", "oauth_error",
           "public_jwk", "register_client", "require_admin", "thumbprint"]
