"""Find a service's code: a built-in name ("catalog"), a module ("pkg.mod"), or a file ("reviews.py")."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

BUILTIN = ("catalog", "orders", "carts", "registry", "balancer", "identity", "gateway", "legacy_stock")


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
    """'file.py:name' or 'package.module:name' -> the object."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"expected 'file.py:name' or 'module:name', got {spec!r}")
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
