"""Which requests the balancer's fast path reads itself (microcosm/services/balancer/wire.py), and how it sees
them: what it leaves alone goes to aiohttp's parser and the ordinary way (tests/integration/test_balancer_fastpath.py
proves the two ways answer alike)."""
import pytest

from microcosm.services.balancer.wire import read_request


def head(target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: h\r\n{extra}\r\n".encode()


@pytest.mark.parametrize("target", ["/", "/products/1", "/healthz", "/metrics-old", "/a?b=1&c=", "/a/b.c"])
def test_a_plain_target_is_read(target):
    request = read_request(head(target), "127.0.0.1", None)
    assert request is not None
    assert (request.method, request.raw_path, request.path_qs) == ("GET", target, target)
    assert request.path == target.partition("?")[0]
    assert request.remote == "127.0.0.1" and not request.body_exists and request.scheme == "http"


@pytest.mark.parametrize("target", ["/health", "/metrics", "/metrics?x=1", "/_balancer/status", "/_balancerx",
                                    "/p%41", "/a/./b", "/a/../b", "/a#frag"])
def test_own_routes_and_targets_aiohttp_would_rewrite_take_the_ordinary_way(target):
    assert read_request(head(target), "127.0.0.1", None) is None


def test_the_query_is_parsed_as_aiohttp_parses_it():
    request = read_request(head("/a?x=1&x=2&y=&z=a+b"), "127.0.0.1", None)
    assert request.query.getall("x") == ["1", "2"] and request.query["y"] == "" and request.query["z"] == "a b"
    assert dict(read_request(head("/a"), "127.0.0.1", None).query) == {}


def test_what_plain_head_refuses_is_refused_here_too():
    assert read_request(head("/", "Connection: close\r\n"), "127.0.0.1", None) is None
    assert read_request(b"POST / HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", None) is None
