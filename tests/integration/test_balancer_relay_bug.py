"""A bug of ours inside a relay callback (relay.py) is the JSON 500 aiohttp's way would give and a closed
connection; the backend's in-flight count goes back to zero and the balancer goes on serving.

No input reaches such a bug, so it is made: the balancer runs in this process (its event loop in a thread, on a
loopback socket, in front of a real catalog) with the one-pass answer writer replaced by one that raises, for one
request only. Everything else is the balancer as `launch` runs it."""
import asyncio
import json
import socket
import threading

import pytest

from microcosm.runtime.ports import listen_socket
from microcosm.services.balancer import relay
from microcosm.services.balancer.server import Balancer


def ask(port: int, raw: bytes) -> bytes:
    """Send `raw`, read until the balancer closes the connection (or 5 s of silence)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except socket.timeout:
            pass
        return got


@pytest.fixture
def balancer_here(catalog):
    sock = listen_socket()
    loop = asyncio.new_event_loop()
    balancer = Balancer({"name": "lb-bug", "upstream": "catalog", "backends": [catalog.url], "health_interval": 60,
                         "access_log": False})
    started = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(balancer.start(sock))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield balancer, sock.getsockname()[1]
    asyncio.run_coroutine_threadsafe(balancer.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    sock.close()


def test_a_bug_of_ours_inside_a_relay_callback_is_a_json_500_and_a_closed_connection(balancer_here, monkeypatch):
    balancer, port = balancer_here
    request = b"GET /products/1 HTTP/1.1\r\nHost: x\r\n\r\n"
    first = ask(port, request + b"GET /products/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert first.count(b"HTTP/1.1 200 OK\r\n") == 2  # and the pool now holds an idle connection: the next is relayed
    relayed_before = balancer.relayed_whole

    real, calls = relay.plain_answer_bytes, []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug planted by the test")
        return real(*args, **kwargs)

    monkeypatch.setattr(relay, "plain_answer_bytes", broken)
    answer = ask(port, request + request)  # the second request must not be answered on a broken line
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer[:300]
    assert b"application/json" in head and answer.count(b"HTTP/1.1 ") == 1
    error = json.loads(body[:int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])])
    assert error["status"] == 500 and "balancer failed" in error["message"]
    assert calls == [1] and balancer.relayed_whole == relayed_before  # it was the relay's callback that broke
    assert [b.in_flight for b in balancer.backends] == [0]

    after = ask(port, b"GET /products/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert after.startswith(b"HTTP/1.1 200 OK\r\n") and b'"id":2' in after.replace(b" ", b"")
