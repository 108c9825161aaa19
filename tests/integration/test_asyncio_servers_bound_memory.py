"""The asyncio servers (the balancer, the CDN edge, the gateway's front) hold bounded memory whatever clients send.

Each connection may hold one request's head while it is read. aiohttp bounds a head by the length of a line and
the number of header fields; the servers keep those small (a field over 8190 bytes is a 431, more than 64 fields
a 400, both in JSON) and refuse connections beyond 256 open ones with a 503 in JSON, so that slow clients sending
heads cannot take all the memory there is. (Measured before the limits: 20 connections each sending a hundred
250 KB header lines grew the gateway by about 950 MB.)
"""
from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import psutil
import pytest

from microcosm.services.balancer.admin import MAX_CONNECTIONS, MAX_HEADERS, MAX_LINE
from raw_http import raw_request


@pytest.fixture(scope="module")
def servers(launch_for_module):
    catalog = launch_for_module("catalog", traffic=False)
    return {
        "balancer": launch_for_module("balancer", name="bounded-lb", backends=[catalog.url], traffic=False),
        "cdn": launch_for_module("cdn", name="bounded-cdn", origin=catalog.url, traffic=False),
        "gateway": launch_for_module("gateway", name="bounded-gw", upstreams={"catalog": catalog.url},
                                     traffic=False),
    }


KINDS = ["balancer", "cdn", "gateway"]
PATH = {"balancer": "/products/1", "cdn": "/products/1", "gateway": "/api/products/1"}


def address(service) -> tuple[str, int]:
    parts = urlsplit(service.url)
    return parts.hostname, parts.port


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case, headers, expected", [
    ("a field just under the line limit", {"X-Pad": "a" * (MAX_LINE - 200)}, None),
    ("a field over the line limit", {"X-Pad": "a" * (MAX_LINE + 10)}, 431),
    ("a 100 KB field", {"X-Pad": "a" * 100_000}, 431),
    ("too many fields", {f"X-F{i}": "1" for i in range(MAX_HEADERS + 5)}, 400),
])
def test_a_head_over_the_limits_is_a_4xx_in_json(servers, kind, case, headers, expected):
    service = servers[kind]
    status, answer_headers, body = raw_request(service.url, "GET", PATH[kind], headers)
    if expected is None:  # within aiohttp's limits: what the server itself makes of it (the gateway: its 8 KiB)
        assert status in (200, 431), body
    else:
        assert status == expected, body
    if status >= 400:
        assert isinstance(body, dict) and body["status"] == status and body["message"], body
    assert service.get("/health").status_code == 200


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    sock.settimeout(10)
    while True:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not piece:
            break
        data += piece
    return data


@pytest.mark.parametrize("kind", KINDS)
def test_connections_beyond_the_limit_get_a_503_in_json_and_memory_stays_bounded(servers, kind):
    service = servers[kind]
    process = psutil.Process(service.pid)
    rss_before = process.memory_info().rss
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):  # each sends most of a head with big fields, and never finishes it
            sock = socket.create_connection(address(service), timeout=10)
            sock.sendall(f"GET {PATH[kind]} HTTP/1.1\r\nHost: x\r\n".encode()
                         + b"".join(b"X-F%d: %b\r\n" % (i, b"a" * (MAX_LINE - 100)) for i in range(8)))
            held.append(sock)
        deadline = time.monotonic() + 20
        while True:  # the server counts a connection once it has taken it from the queue
            extra = socket.create_connection(address(service), timeout=10)
            extra.sendall(f"GET {PATH[kind]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answer = read_answer(extra)
            extra.close()
            if answer.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
                break
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), answer[:300]
        assert b"application/json" in head and b"Retry-After: 1" in head
        refusal = json.loads(body)
        assert refusal["status"] == 503 and str(MAX_CONNECTIONS) in refusal["message"]
        grown = process.memory_info().rss - rss_before
        assert grown < 200 * 2**20, f"{kind} grew by {grown >> 20} MB holding {MAX_CONNECTIONS} partial heads"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 20
    while (status := raw_request(service.url, "GET", PATH[kind])[0]) == 503 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the closed connections
    assert status == 200
