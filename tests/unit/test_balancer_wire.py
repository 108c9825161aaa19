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


def test_a_plain_answer_is_written_in_one_pass_as_aiohttp_writes_it():
    """wire.plain_answer_bytes (relay.py's answers) against answer_bytes over the headers the ordinary way keeps:
    the same bytes whenever it answers, None (answer_bytes then) for what it leaves; many generated answers."""
    import random

    from multidict import CIMultiDict

    from microcosm.services.balancer.forward import RESPONSE_HOP_BY_HOP
    from microcosm.services.balancer.wire import answer_bytes, plain_answer_bytes

    random.seed(12)
    names = ["Content-Length", "content-length", "Content-Type", "CONTENT-TYPE", "Date", "Server", "X-Backend",
             "Connection", "Keep-Alive", "ETag", "X-A", "Cache-Control", "Set-Cookie", "Transfer-Encoding"]
    values = ["0", "2", "42", "text/plain", "", "a, b", "caf\xe9", "\xff\xfe", "x" * 50]
    written = left = 0
    for _ in range(20_000):
        headers = [(random.choice(names), random.choice(values)) for _ in range(random.randint(0, 7))]
        status = random.choice([200, 201, 204, 299, 304, 404, 500, 101])
        body = random.choice([b"", b"ok", b"x" * 42])
        if random.random() < 0.7:  # the usual answer: its length and type among the others
            headers.insert(random.randint(0, len(headers)), ("Content-Length", str(len(body))))
            headers.insert(random.randint(0, len(headers)), ("Content-Type", random.choice(values)))
        drop = RESPONSE_HOP_BY_HOP | ({"x-a"} if random.random() < 0.2 else set())
        backend = random.choice(["b1", "catalog-1", "b\r\nX: y"])
        fast = plain_answer_bytes(status, headers, drop, backend, body)
        if fast is None:
            left += 1
            continue
        kept = CIMultiDict([(k, v) for k, v in headers if k.lower() not in drop])
        kept["X-Backend"] = backend
        assert fast == answer_bytes("GET", status, kept, body), (status, headers, backend)
        written += 1
    assert written > 2_000 and left > 2_000, (written, left)  # both kinds were generated
