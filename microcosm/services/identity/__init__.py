"""identity: who is calling (component 8). The provider lives in app.py for now; see its docstring."""
from . import app as _app
from .app import *  # noqa: F401,F403
from .app import DEFAULT_ARGON2, KeyStore, LoginLimiter, Passwords, create_app, public_jwk, thumbprint  # noqa: F401

__doc__ = _app.__doc__
