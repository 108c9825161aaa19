"""How talking to a backend can fail: the exceptions upstream.py raises and forward.py turns into 502 and 504."""
from __future__ import annotations


class ConnectFailed(Exception):
    """Could not connect: nothing was sent."""


class Broken(Exception):
    """The connection failed after the request (or part of it) went out."""


class Malformed(Broken):
    """The backend's answer breaks HTTP/1.1: nothing more on this connection can be trusted."""


class Timeout(Exception):
    """The backend did not answer (or did not go on answering) in time."""


class Unfinished(Timeout):
    """The answer's head came, its small body did not finish in time (the reader waited for both at once)."""
