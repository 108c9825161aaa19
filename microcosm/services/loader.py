"""Find a service's code: a built-in name ("catalog"), a module ("pkg.mod"), or a file ("reviews.py")."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

BUILTIN = ("catalog", "orders", "carts", "registry", "balancer", "identity", "gateway", "legacy_stock", "inventory",
           "notifications", "ledger", "journal", "reporter", "flash_sale", "web", "netem", "cdn",
           "scripted_origin")


def load_module(spec: str):
    if spec in BUILTIN:
        return importlib.import_module(f"microcosm.services.{spec}")
    if spec.endswith(".py") or "/" in spec:
        path = Path(spec).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"no file {path}")
        name = f"microcosm_user_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def load_object(spec: str):
    """'file.py:name' -> the object named `name` in that file (your strategy, limiter, verifier ...).

    A .py file only: an importable name such as 'subprocess:Popen' would hand whoever writes the spec every
    module on the machine. Code is loaded from what the notebook passes at launch (or, for the balancer's
    strategy, from an admin request that carries the launch secret), never from an ordinary request."""
    if not isinstance(spec, str):
        raise ValueError(f"expected 'file.py:name', got {spec!r:.80}")
    where, sep, attr = spec.rpartition(":")
    if not sep or not where.endswith(".py") or not attr.isidentifier():
        raise ValueError(f"expected 'file.py:name' (a Python file and a name in it), got {spec!r:.200}")
    module = load_module(where)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"{where} has no {attr!r}") from None


def load_app(spec: str, config: dict):
    """Build the Flask app of service `spec` (or of an already loaded module) with `config`, via its `create_app(config)`."""
    module = load_module(spec) if isinstance(spec, str) else spec
    if not hasattr(module, "create_app"):
        raise AttributeError(f"{spec} has no create_app(config) function")
    return module.create_app(config)
