"""A Python file loaded as a module by its path: the repository's scripts (scripts/ is not a package), or a
conftest another test wants a function from."""
import importlib.util
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_script(name: str):
    """scripts/<name>.py as a module."""
    return load_file(name, SCRIPTS / f"{name}.py")
