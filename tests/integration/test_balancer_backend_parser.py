"""The balancer against a backend that breaks HTTP/1.1: the real balancer process in front of a raw TCP server
of the test's own that answers each request with scripted bytes.

What must hold for every malformed answer: the client gets a 502 with a JSON error (never a 500, never the
broken bytes passed on), the connection to the backend is closed (not pooled for the next client), the
balancer stays healthy, and a backend that streams endlessly cannot grow the balancer's memory.
"""
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from microcosm.testing import wait_until
from raw_server import RawServer

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
MB = 1 << 20


class ScriptedBackend(RawServer):
    """A 'backend' on 127.0.0.1 that answers `GET /health` properly and `/case/<name>` with the script for
    <name>: bytes (sent at once, the connection stays open for the next request), or a function of the socket
    (it writes what it likes; it returns True to close the connection). It notes which connection served
    which path, and which connections the balancer closed."""

    def __init__(self, health=b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n'
                                b'{"service": "fake"}'):
        self.health = health  # the answer to GET /health: bytes, or a script like the others
        self.scripts: dict[str, object] = {}
        self.served: dict[str, list[int]] = {}  # path -> numbers of the connections that got it
        self.closed: set[int] = set()  # connections whose other end (the balancer) closed them
        super().__init__()

    def serve(self, conn, number):
        pending = b""
        try:
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                method, path = head.decode("latin-1").split(" ")[:2]
                self.served.setdefault(path, []).append(number)
                script = self.health if path == "/health" else self.scripts.get(path.removeprefix("/case/"), OK)
                if callable(script):
                    if script(conn):
                        return
                else:
                    conn.sendall(script)
        except OSError:
            pass
        finally:
            self.closed.add(number)
            conn.close()

    def connection_of(self, name: str) -> int:
        return self.served[f"/case/{name}"][-1]



@pytest.fixture(scope="module")
def backend():
    fake = ScriptedBackend()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def lb(backend, launch_for_module):
    """The real balancer in front of the scripted backend: failures never eject it, checks rarely run."""
    return launch_for_module("balancer", "lb-parser", upstream="fake", backends=[backend.url],
                             health_interval=60, eject_after=10**6, timeout=3.0)


def ask(lb, backend, name, script, method="GET"):
    """Script the backend's answer to /case/<name>, send the request through the balancer, return the answer."""
    backend.scripts[name] = script
    return requests.request(method, f"{lb.url}/case/{name}", timeout=15)


def assert_json_502(answer):
    assert answer.status_code == 502, (answer.status_code, answer.content[:200])
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == "bad_gateway" and body["message"]


def assert_still_healthy(lb):
    assert lb.alive
    assert lb.get("/health").status_code == 200


def chunk(size_line: bytes, data: bytes = b"hello") -> bytes:
    return CHUNKED + size_line + b"\r\n" + data + b"\r\n0\r\n\r\n"


MALFORMED = {
    # the status line: HTTP/1.x, a space, three ASCII digits from 100 to 599
    "not-http": b"ICY 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "lower-case-http": b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "http-2": b"HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "two-digit-status": b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok",
    "four-digit-status": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
    "signed-status": b"HTTP/1.1 +20 OK\r\nContent-Length: 2\r\n\r\nok",
    "status-999": b"HTTP/1.1 999 OK\r\nContent-Length: 2\r\n\r\nok",
    "status-099": b"HTTP/1.1 099 OK\r\nContent-Length: 2\r\n\r\nok",
    "two-spaces": b"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok",
    "nul-in-reason": b"HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "switching-protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "too-many-interim": b"HTTP/1.1 100 Continue\r\n\r\n" * 9 + OK,
    # header lines: token ":" value, bounded
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok",
    "name-not-a-token": b"HTTP/1.1 200 OK\r\nX Y: 1\r\nContent-Length: 2\r\n\r\nok",
    "no-colon": b"HTTP/1.1 200 OK\r\nnonsense\r\nContent-Length: 2\r\n\r\nok",
    "bare-cr-in-value": b"HTTP/1.1 200 OK\r\nX-A: 1\rSet-Cookie: a=b\r\nContent-Length: 2\r\n\r\nok",
    "nul-in-value": b"HTTP/1.1 200 OK\r\nX-A: 1\x002\r\nContent-Length: 2\r\n\r\nok",
    "long-header-line": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 20000 + b"\r\nContent-Length: 2\r\n\r\nok",
    "huge-head": b"HTTP/1.1 200 OK\r\n" + (b"X-A: " + b"a" * 7000 + b"\r\n") * 10 + b"Content-Length: 2\r\n\r\nok",
    "too-many-headers": b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 200 + b"Content-Length: 2\r\n\r\nok",
    # Content-Length: ASCII digits only, copies agree, not absurd
    "length-superscript-two": b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nok",
    "length-negative": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nok",
    "length-hex": b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
    "length-underscore": b"HTTP/1.1 200 OK\r\nContent-Length: 0_2\r\n\r\nok",
    "length-plus": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    "length-empty": b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok",
    "lengths-disagree": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "length-list-disagrees": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
    "length-absurd": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok",
    "length-1-tib-plus-1": b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627777\r\n\r\nok",
    "body-cut-short": lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel") or True,
    # Transfer-Encoding: exactly chunked, never with Content-Length, never in HTTP/1.0
    "chunked-and-length": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                          b"5\r\nhello\r\n0\r\n\r\n",
    "gzip-then-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "chunked-not-last": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "chunked-twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked-inside-a-word": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunkedx\r\n\r\n0\r\n\r\n",
    "chunked-in-http-1.0": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    # chunk-size lines: 1*HEXDIG (ASCII), bounded, well-formed extensions; CRLF after the data
    "chunk-size-negative": chunk(b"-5"),
    "chunk-size-0x": chunk(b"0x5"),
    "chunk-size-underscore": chunk(b"0_5"),
    "chunk-size-plus": chunk(b"+5"),
    "chunk-size-leading-space": chunk(b" 5"),
    "chunk-size-empty": chunk(b""),
    "chunk-size-not-hex": chunk(b"g"),
    "chunk-size-fullwidth-digit": chunk("５".encode()),
    "chunk-size-17-digits": chunk(b"10000000000000000"),
    "chunk-extension-no-name": chunk(b"5;"),
    "chunk-extension-unterminated-quote": chunk(b'5;a="b'),
    "chunk-extension-too-long": chunk(b"5;a=" + b"b" * 5000),
    "chunk-data-without-crlf": CHUNKED + b"5\r\nhelloXY0\r\n\r\n",
    "chunk-size-bare-lf": CHUNKED + b"5\nhello\r\n0\r\n\r\n",
    # trailers: field lines, bounded
    "trailer-not-a-field": CHUNKED + b"0\r\nnot a trailer\r\n\r\n",
    "trailer-obs-fold": CHUNKED + b"0\r\nX-T: 1\r\n 2\r\n\r\n",
    "too-many-trailers": CHUNKED + b"0\r\n" + b"X-T: 1\r\n" * 200 + b"\r\n",
    "long-trailer-line": CHUNKED + b"0\r\nX-T: " + b"t" * 20000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_answer_is_a_json_502_and_its_connection_is_closed(lb, backend, name):
    answer = ask(lb, backend, name, MALFORMED[name])
    assert_json_502(answer)
    number = backend.connection_of(name)
    assert wait_until(lambda: number in backend.closed, timeout=5), "the broken connection was kept"
    assert_still_healthy(lb)


def in_pieces(*pieces: bytes):
    """A script that sends each piece on its own, a moment apart (so they arrive as separate reads)."""
    def script(conn):
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.05)
    return script


WELL_FORMED = {  # name: (script, method, status, body)
    "plain": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", 200, b"hello"),
    "no-reason": (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "GET", 200, b"ok"),
    "empty-reason": (b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", "GET", 200, b"ok"),
    "interim-answers-first": (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                              + OK, "GET", 200, b"ok"),
    "lengths-agree": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "GET", 200, b"ok"),
    "length-list-agrees": (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", "GET", 200, b"ok"),
    "chunked-with-extensions-and-trailers": (CHUNKED + b'5;name=value ; q="a \\"b\\""\r\nhello\r\nA\r\n0123456789'
                                             b"\r\n0\r\nX-Trailer: t\r\n\r\n", "GET", 200, b"hello0123456789"),
    "chunked-upper-case": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "GET",
                           200, b"ok"),
    "chunked-in-pieces": (in_pieces(CHUNKED, b"2\r\no", b"k\r\n0\r", b"\n\r\n"), "GET", 200, b"ok"),
    "http-1.0-with-length": (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", 200, b"ok"),
    "http-1.0-until-close": (lambda conn: conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nbye") or True, "GET", 200, b"bye"),
    "no-content": (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, b""),
    "not-modified": (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", "GET", 304, b""),
    "head-with-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", 200, b""),
}


@pytest.mark.parametrize("name", WELL_FORMED)
def test_a_well_formed_answer_is_passed_on(lb, backend, name):
    script, method, status, body = WELL_FORMED[name]
    answer = ask(lb, backend, name, script, method)
    assert (answer.status_code, answer.content) == (status, body)
    if method == "HEAD":
        assert answer.headers["Content-Length"] == "5"


def test_a_well_formed_answer_leaves_its_connection_pooled(lb, backend):
    ask(lb, backend, "pooled", OK)
    first = backend.connection_of("pooled")
    assert ask(lb, backend, "pooled", OK).content == b"ok"
    assert backend.connection_of("pooled") == first  # the same keep-alive connection served both


def test_bytes_after_the_answer_close_the_connection(lb, backend):
    answer = ask(lb, backend, "extra", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngoodHTTP/1.1 200 OK\r\n\r\nevil")
    assert (answer.status_code, answer.content) == (200, b"good")
    number = backend.connection_of("extra")
    assert wait_until(lambda: number in backend.closed, timeout=5)


def test_bytes_sent_on_an_idle_pooled_connection_never_reach_the_next_client(lb, backend):
    sent = threading.Event()

    def answer_then_more(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
        time.sleep(0.2)  # the balancer has put the connection back in its pool by now
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Evil: 1\r\n\r\nevil")
        sent.set()

    assert ask(lb, backend, "then-evil", answer_then_more).content == b"good"
    assert sent.wait(5)
    time.sleep(0.5)  # and the extra bytes have reached the balancer
    for _ in range(3):
        answer = ask(lb, backend, "next", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
        assert (answer.status_code, answer.content) == (200, b"real")
        assert "X-Evil" not in answer.headers
    assert backend.connection_of("next") != backend.connection_of("then-evil")
    assert wait_until(lambda: backend.connection_of("then-evil") in backend.closed, timeout=5)


def test_a_chunked_answer_cut_short_is_never_passed_on_as_whole(lb, backend):
    """Whether the balancer sees the end of the stream before it answers is a race: 502, or the cut goes on."""
    try:
        answer = ask(lb, backend, "chunked-cut-short",
                     lambda conn: conn.sendall(CHUNKED + b"5\r\nhello\r\n0\r\n") or True)
    except requests.exceptions.RequestException:
        pass  # the 200 had gone out: the client sees the connection cut, not a complete body
    else:
        assert_json_502(answer)
    assert_still_healthy(lb)


class PeakMemory:
    """How much a process's resident memory peaked above its level at the start of the block: the kernel's
    high-water mark (VmHWM, reset through /proc/PID/clear_refs), and samples taken every 5 ms besides."""

    def __init__(self, pid: int):
        self.process, self.pid = psutil.Process(pid), pid

    def __enter__(self):
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := the current RSS
            self.hwm = True
        except OSError:
            self.hwm = False
        self.before = self.peak = self.process.memory_info().rss
        self.running = True
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.sampler.join()
        if self.hwm:
            status = Path(f"/proc/{self.pid}/status").read_text()
            self.peak = max(self.peak, int(status.split("VmHWM:")[1].split()[0]) * 1024)
        self.grown = self.peak - self.before


def endless(first: bytes, more: bytes, pause: float = 0.0, total: int = 50 * MB):
    """A script that sends `first` (in one segment), waits `pause` seconds, then `more` over and over."""
    def script(conn):
        conn.sendall(first)
        time.sleep(pause)
        piece = more * max(1, 64 * 1024 // len(more))
        for _ in range(total // len(piece)):
            conn.sendall(piece)
        return True
    return script


ENDLESS = {  # name: (script, whether the head has gone to the client when the flood starts)
    "hex-digits-in-the-first-segment": (endless(CHUNKED + b"f" * 4000, b"f"), False),
    "hex-digits-after-the-head": (endless(CHUNKED, b"f", pause=0.3), True),
    "chunk-extension": (endless(CHUNKED + b"5;a=" + b"b" * 4000, b"b"), False),
    "trailer-lines": (endless(CHUNKED + b"0\r\n", b"X-T: 1\r\n", pause=0.3), True),
    "one-trailer-line": (endless(CHUNKED + b"0\r\nX-T: ", b"t", pause=0.3), True),
    "header-line": (endless(b"HTTP/1.1 200 OK\r\nX-A: ", b"a"), False),
    "header-lines": (endless(b"HTTP/1.1 200 OK\r\n", b"X-A: 1\r\n"), False),
    "interim-answers": (endless(b"", b"HTTP/1.1 100 Continue\r\n\r\n"), False),
}


@pytest.mark.parametrize("name", ENDLESS)
def test_an_endless_answer_does_not_grow_the_balancers_memory(lb, backend, name):
    script, head_sent = ENDLESS[name]
    with PeakMemory(lb.pid) as memory:
        if head_sent:  # the 200 is on its way to the client: the balancer can only cut the connection
            with pytest.raises(requests.exceptions.RequestException):
                ask(lb, backend, name, script)
        else:
            assert_json_502(ask(lb, backend, name, script))
        number = backend.connection_of(name)
        assert wait_until(lambda: number in backend.closed, timeout=10), "the balancer read on and on"
    assert memory.grown < 20 * MB, f"the balancer's memory peaked {memory.grown / MB:.0f} MB higher"
    assert_still_healthy(lb)


def test_a_huge_health_answer_does_not_grow_the_balancers_memory(launch):
    fake = ScriptedBackend(health=endless(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n", b"x",
                                          total=100 * MB))
    try:
        lb = launch("balancer", "lb-health", upstream="fake", backends=[fake.url], health_interval=0.2)
        with PeakMemory(lb.pid) as memory:
            assert wait_until(lambda: len(fake.served.get("/health", ())) >= 3)
        assert memory.grown < 20 * MB, f"the balancer's memory peaked {memory.grown / MB:.0f} MB higher"
        assert_still_healthy(lb)
    finally:
        fake.close()
