"""A raw HTTP client for the tests that must send exactly the bytes they mean: `requests` and `http.client`
normalise or refuse some request lines, paths and headers before they leave, and the point is to send them."""
from __future__ import annotations

import json
import socket
from http.client import HTTPResponse
from urllib.parse import urlsplit


def raw_request(url: str, method: str, target, headers: dict | None = None, body: bytes = b"", *,
                extra_lines: list | None = None, host: bool = True, version: str = "HTTP/1.1",
                content_length: bool = True):
    """Send exactly `target` (str, latin-1, or bytes) in the request line, then `headers` and `extra_lines`
    (header lines as they are, latin-1); (status, headers, parsed JSON or the raw bytes)."""
    hostname, port = urlsplit(url).hostname, urlsplit(url).port
    target = target if isinstance(target, bytes) else target.encode("latin-1")
    lines = [method.encode("latin-1") + b" " + target + b" " + version.encode()]
    if host:
        lines.append(f"Host: {hostname}:{port}".encode())
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode("latin-1"))
    lines += [line.encode("latin-1") for line in extra_lines or []]
    if body and content_length:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    with socket.create_connection((hostname, port), timeout=10) as sock:
        try:
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before reading everything: its answer is still there
        answer = HTTPResponse(sock, method=method)
        answer.begin()
        data = answer.read()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data
    return answer.status, answer.headers, parsed
