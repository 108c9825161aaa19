"""The gateway's pooled HTTP/1.1 client (gateway/upstream.py) against a little scripted server on a real socket."""
from __future__ import annotations

import socket

import pytest

from microcosm.services.gateway.upstream import Broken, ConnectFailed, Pool, Timeout, encode_request
from raw_server import RawServer

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Scripted(RawServer):
    """Accepts connections; on each, answers each request with the next of `answers` (None: close instead)."""

    def __init__(self, answers, close_after_each=False):
        self.answers, self.close_after_each = list(answers), close_after_each
        self.requests = []
        super().__init__()

    def serve(self, conn, number):
        with conn:
            buf = b""
            while self.answers:
                while b"\r\n\r\n" not in buf:
                    piece = conn.recv(65536)
                    if not piece:
                        return
                    buf += piece
                head, _, buf = buf.partition(b"\r\n\r\n")
                self.requests.append(head.decode("latin-1"))
                answer = self.answers.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.close_after_each:
                    return



def test_a_connection_is_reused_and_the_request_goes_as_given():
    server = Scripted([OK, OK, OK])
    pool = Pool()
    for _ in range(3):
        answer = pool.request("GET", server.url, "/products/1?q=%2e", {"X-Request-ID": "r1"}, None, 5)
        assert (answer.status, answer.data, answer.headers["content-type"]) == (200, b"ok", "text/plain")
    assert server.connections == 1
    assert server.requests[0].startswith("GET /products/1?q=%2e HTTP/1.1\r\n")
    assert "X-Request-ID: r1" in server.requests[0]
    server.close()


def test_an_idle_connection_the_service_closed_is_not_reused():
    server = Scripted([OK, OK], close_after_each=True)
    pool = Pool()
    assert pool.request("GET", server.url, "/", {}, None, 5).data == b"ok"
    assert pool.request("GET", server.url, "/", {}, None, 5).data == b"ok"
    assert server.connections == 2
    server.close()


def test_a_chunked_answer_is_read_whole():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    server = Scripted([chunked, OK])
    pool = Pool()
    assert pool.request("GET", server.url, "/", {}, None, 5).data == b"abcde"
    assert pool.request("GET", server.url, "/", {}, None, 5).data == b"ok"  # and the connection is fit to reuse
    assert server.connections == 1
    server.close()


def test_a_body_goes_with_its_length():
    server = Scripted([OK])
    Pool().request("POST", server.url, "/orders", {"Content-Type": "application/json"}, b"{}", 5)
    assert "Content-Length: 2" in server.requests[0]
    server.close()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",  # lengths that disagree
    b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",  # bare LF
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok",  # cut short
    b"nonsense\r\n\r\n",
])
def test_a_broken_answer_is_refused(answer):
    server = Scripted([answer, None], close_after_each=True)
    with pytest.raises(Broken):
        Pool().request("GET", server.url, "/", {}, None, 5)
    server.close()


def test_a_header_cannot_carry_a_line_break():
    server = Scripted([OK])
    with pytest.raises(ValueError):
        Pool().request("GET", server.url, "/", {"X-A": "1\r\nX-Injected: 1"}, None, 5)
    server.close()


def test_refused_and_silent_services():
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ConnectFailed):
        Pool().request("GET", f"http://127.0.0.1:{port}", "/", {}, None, 5)
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does) but never answers
    with pytest.raises(Timeout):
        Pool().request("GET", f"http://127.0.0.1:{silent.getsockname()[1]}", "/", {}, None, 0.2)
    silent.close()


@pytest.mark.parametrize("name, value", [("X-A", "a\r\nX-User: admin"), ("X-A", "a\nb"), ("X-A", "a\x00"),
                                         ("X-B\r\nX-User", "admin")])
def test_a_header_with_a_line_break_is_never_encoded(name, value):
    with pytest.raises(ValueError, match="holds a line break") as refused:
        encode_request("GET", "/x", "h:1", {"Accept": "text/plain", name: value}, None)
    assert repr(name[:40]) in str(refused.value)


def test_a_request_is_encoded_line_by_line_with_its_length():
    assert encode_request("POST", "/x?a=1", "h:1", {"Accept": "text/plain", "X-User": "ada"}, b"hi") == \
        b"POST /x?a=1 HTTP/1.1\r\nHost: h:1\r\nAccept: text/plain\r\nX-User: ada\r\nContent-Length: 2\r\n\r\nhi"
