"""Loopback ports that never collide.

A service never gets a port number to try: the parent binds a listening socket on port 0 (the kernel picks
a free one, so two kernels can never get the same), and the child inherits the socket itself. Binaries
that only take a number (redis-server, ZooKeeper) get `free_port()` and are retried if they lose a race.
"""
from __future__ import annotations

import socket

HOST = "127.0.0.1"


def listen_socket(port: int = 0, host: str = HOST) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: any free port), inheritable by a child."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (for binaries that want a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_listening(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """True if something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
