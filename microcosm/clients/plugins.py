"""Plugging your own breaker, retry policy or budget into the client.

The client asks each part for a few methods only (their modules list them). Any object that has them will
do, given in one of three ways:

    Client(url, breaker=MyBreaker(failures=3))        an object you made in a cell
    Client(url, breaker=MyBreaker)                    a class: the client makes one with its defaults
    Client(url, breaker="my_breaker.py:MyBreaker")    a class (or object) in a file, loaded from there

`None` turns the part off (no breaker, no retries, no budget). A missing method is reported at once, when
the client is made, not at the first failure hours later.
"""
from __future__ import annotations

from ..services.loader import load_object

PARTS = {  # part -> the methods and attributes the client uses
    "breaker": ("allow", "success", "failure", "state"),
    "retry": ("retryable", "delay"),
    "budget": ("deposit", "withdraw"),
}


def plug(part: str, given, default_factory, off_factory):
    """The object to use as `part`: `given` checked (or loaded, or made), the default if `given` is the
    DEFAULT marker, the "off" object if it is None."""
    if given is DEFAULT:
        return default_factory()
    if given is None:
        return off_factory()
    if isinstance(given, str):
        given = load_object(given)  # 'file.py:Name' only: see services/loader.py
    if isinstance(given, type):
        given = given()
    missing = [name for name in PARTS[part] if not hasattr(given, name)]
    if missing:
        wanted = ", ".join(PARTS[part])
        raise TypeError(f"{given!r:.80} cannot be the client's {part}: it has no {', '.join(missing)} "
                        f"(a {part} needs {wanted})")
    for name in PARTS[part]:
        if name != "state" and not callable(getattr(given, name)):
            raise TypeError(f"the {part}'s {name} must be a method, got {getattr(given, name)!r:.60}")
    return given


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()  # "use the reference part" (a fresh one for each client)
