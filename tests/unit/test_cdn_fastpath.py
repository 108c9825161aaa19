"""The edge's own reader of request heads (microcosm/services/cdn/fastpath.py): it accepts only the simplest
GET/HEAD heads and leaves everything else to aiohttp's parser, so it never reads a request differently."""
import pytest

from microcosm.services.cdn.fastpath import read_head

OK = b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Empty:\r\n\r\n"


def test_a_plain_head_is_read():
    head = read_head(OK)
    assert (head.method, head.path, head.headers["host"], head.headers["X-Empty"]) == ("GET", "/a?b=1", "h", "")
    assert read_head(b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n").method == "HEAD"


@pytest.mark.parametrize("head", [
    b"POST / HTTP/1.1\r\nHost: h\r\n\r\n", b"get / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: h\r\n\r\n", b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", b"GET /\xe9 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",  # no Host, or two
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \x00\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\r\n\r\n", b"GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n",
])
def test_anything_else_is_left_to_aiohttp(head):
    assert read_head(head) is None
