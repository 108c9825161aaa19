"""No request, however malformed, gets a 500 from any service, nor grows its memory: a sweep over raw HTTP.

Each case is sent as raw bytes on a socket (clients such as requests would refuse or repair most of them) to
every running service: catalog, orders (with and without events), carts, legacy stock, registry, identity, the
balancer, the gateway, inventory and notifications.
Every answer must be a 4xx (or a 2xx where the request is fine after all) and, but for legacy stock's XML, JSON.
"""
import socket

import pytest

from identity_helpers import CHEAP_ARGON2
from microcosm import trust

# service -> (a GET route, a route that takes a body, that route's method)
TARGETS = {
    "catalog": ("/products", "/products", "POST"),
    "orders": ("/orders", "/orders", "POST"),
    "carts": ("/carts/ann", "/carts/ann/items/1", "PUT"),
    "stock": ("/stock?sku=1", "/stock", "POST"),
    "registry": ("/services/catalog", "/services/catalog/instances", "POST"),
    "identity": ("/.well-known/jwks.json", "/token", "POST"),
    "balancer": ("/products", "/products", "POST"),
    "gateway": ("/api/products", "/api/products", "POST"),
    "inventory": ("/stock/1", "/stock/1", "PUT"),
    "notifications": ("/messages?order_id=1", "/_mail", "PUT"),
    "orders with events": ("/_events", "/_events", "PUT"),
    "scripted origin": ("/_count?path=/a", "/_script", "PUT"),
}
DEEP = b"[" * 30_000 + b"]" * 30_000


def head(method: bytes, target: bytes, *headers: bytes) -> bytes:
    return b"\r\n".join([method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close",
                         *headers]) + b"\r\n"


def with_body(method: bytes, target: bytes, body: bytes, content_type: bytes = b"application/json", *extra) -> bytes:
    return head(method, target, b"Content-Type: " + content_type, b"Content-Length: %d" % len(body), *extra) \
        + b"\r\n" + body


# (name, build(get_path, body_path, body_method, secret) -> raw request bytes)
CASES = [
    ("unknown method", lambda g, p, m, s: head(b"FROB", g) + b"\r\n"),
    ("very long method", lambda g, p, m, s: head(b"A" * 5000, g) + b"\r\n"),
    ("lowercase method", lambda g, p, m, s: head(b"get", g) + b"\r\n"),
    ("NUL in the path", lambda g, p, m, s: head(b"GET", g.split(b"?")[0] + b"%00") + b"\r\n"),
    ("lone percent", lambda g, p, m, s: head(b"GET", g.split(b"?")[0] + b"/%") + b"\r\n"),
    ("bad percent escape in query", lambda g, p, m, s: head(b"GET", g.split(b"?")[0] + b"?%zz=%ff%fe&limit=%ff") + b"\r\n"),
    ("superscript digit in query", lambda g, p, m, s: head(b"GET", g.split(b"?")[0] + b"?limit=%C2%B2&sku=%C2%B2&wait=%C2%B2&version=%C2%B2") + b"\r\n"),
    ("NaN and infinity in query", lambda g, p, m, s: head(b"GET", g.split(b"?")[0] + b"?limit=nan&sku=inf&wait=nan&version=1e999") + b"\r\n"),
    ("long path", lambda g, p, m, s: head(b"GET", g.split(b"?")[0] + b"/" + b"x" * 20_000) + b"\r\n"),
    ("double slashes and dots", lambda g, p, m, s: head(b"GET", b"//" + g.lstrip(b"/") + b"/./../..") + b"\r\n"),
    ("non-latin-1 header value", lambda g, p, m, s: head(b"GET", g, b"X-Thing: \xff\xfe\xc3(") + b"\r\n"),
    ("huge request id", lambda g, p, m, s: head(b"GET", g, b"X-Request-ID: " + b"r" * 6000) + b"\r\n"),
    ("odd caller headers", lambda g, p, m, s: head(b"GET", g, b"X-Caller: " + b"\xff" * 300, b"X-Parent-Hop: \x01") + b"\r\n"),
    ("forged identity headers", lambda g, p, m, s: head(b"GET", g, b"X-User: admin", b"X-Scopes: *", b"X-Identity-Proof: 00") + b"\r\n"),
    ("garbage bearer token", lambda g, p, m, s: head(b"GET", g, b"Authorization: Bearer \xff.\x00.%%") + b"\r\n"),
    ("many headers", lambda g, p, m, s: head(b"GET", g, *(b"X-H%d: v" % i for i in range(150))) + b"\r\n"),
    ("bad content length", lambda g, p, m, s: head(m, p, b"Content-Type: application/json", b"Content-Length: abc") + b"\r\n{}"),
    ("negative content length", lambda g, p, m, s: head(m, p, b"Content-Type: application/json", b"Content-Length: -1") + b"\r\n{}"),
    ("superscript content length", lambda g, p, m, s: head(m, p, b"Content-Type: application/json", "Content-Length: ²".encode()) + b"\r\n{}"),
    ("two content lengths", lambda g, p, m, s: head(m, p, b"Content-Type: application/json", b"Content-Length: 2", b"Content-Length: 3") + b"\r\n{}"),
    ("bad chunked body", lambda g, p, m, s: head(m, p, b"Content-Type: application/json", b"Transfer-Encoding: chunked") + b"\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("invalid UTF-8 JSON", lambda g, p, m, s: with_body(m, p, b'{"name": "\xff\xfe", "price_cents": 1}', b"application/json", b"X-Admin-Secret: " + s)),
    ("deeply nested JSON", lambda g, p, m, s: with_body(m, p, DEEP, b"application/json", b"X-Admin-Secret: " + s)),
    ("JSON with an odd charset", lambda g, p, m, s: with_body(m, p, b'{"a": 1}', b"application/json; charset=rot13", b"X-Admin-Secret: " + s)),
    ("huge numbers in JSON", lambda g, p, m, s: with_body(m, p, b'{"product_id": 1e999, "quantity": 99999999999999999999999999, "price_cents": -1e999, "name": "x", "delta": 1e400, "id": "i", "url": "http://127.0.0.1:1", "ttl": 1e999}', b"application/json", b"X-Admin-Secret: " + s)),
    ("broken multipart form", lambda g, p, m, s: with_body(m, p, b"--x\r\nContent-Disposition: form-data\r\n\r\nzz", b"multipart/form-data; boundary=x")),
    ("form with odd bytes", lambda g, p, m, s: with_body(m, p, b"grant_type=%ff&username=\x00&password=%", b"application/x-www-form-urlencoded")),
    ("expect continue, no body", lambda g, p, m, s: head(m, p, b"Content-Type: application/json", b"Expect: 100-continue", b"Content-Length: 0") + b"\r\n"),
]


@pytest.fixture(scope="module")
def system(launch_for_module, tmp_path_factory):
    launch = launch_for_module
    found = {"catalog": launch("catalog", "sweep-catalog")}
    found["orders"] = launch("orders", "sweep-orders", catalog_url=found["catalog"].url)
    found["carts"] = launch("carts", "sweep-carts")
    found["stock"] = launch("legacy_stock", "sweep-stock")
    found["registry"] = launch("registry", "sweep-registry")
    found["identity"] = launch("identity", "sweep-identity", data_dir=str(tmp_path_factory.mktemp("identity")),
                               argon2=CHEAP_ARGON2)
    found["balancer"] = launch("balancer", "sweep-balancer", upstream="catalog", backends=[found["catalog"].url])
    found["gateway"] = launch("gateway", "sweep-gateway", identity_url=found["identity"].url,
                              upstreams={"catalog": found["balancer"].url, "carts": found["carts"].url,
                                         "orders": found["orders"].url, "stock": found["stock"].url})
    found["inventory"] = launch("inventory", "sweep-inventory")
    found["notifications"] = launch("notifications", "sweep-notifications")
    found["orders with events"] = launch("orders", "sweep-orders-events", catalog_url=found["catalog"].url, events=True)
    found["scripted origin"] = launch("scripted_origin", "sweep-scripted-origin")
    return found


def send_raw(port: int, data: bytes) -> tuple[int | None, bytes, bytes]:
    """(status, headers, start of body) of the first answer, or (None, ...) if the server just closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before reading all of it: the answer is still there to read
        received = b""
        try:
            while b"\r\n\r\n" not in received:  # the status line and headers are all this test reads
                piece = sock.recv(65536)
                if not piece:
                    break
                received += piece
        except (socket.timeout, ConnectionResetError):
            pass
    if not received.startswith(b"HTTP/1."):
        return None, b"", received[:200]
    head_part, _, body = received.partition(b"\r\n\r\n")
    return int(head_part.split(b" ", 2)[1]), head_part, body[:200]


@pytest.mark.parametrize("service", list(TARGETS))
def test_no_malformed_request_gets_a_500(system, service):
    instance = system[service]
    get_path, body_path, body_method = (x.encode() for x in TARGETS[service])
    secret = trust.launch_secret().encode()
    failures = []
    for name, build in CASES:
        status, headers, body = send_raw(instance.port, build(get_path, body_path, body_method, secret))
        if status is None:
            continue  # closed without an answer: what a server may do with bytes that are not HTTP at all
        if status >= 500:
            failures.append(f"{name}: {status} {body[:120]!r}")
        elif service != "stock" and status >= 400 and b"application/json" not in headers.lower():
            failures.append(f"{name}: {status} without a JSON error: {headers[:200]!r} {body[:80]!r}")
    assert instance.get("/health").status_code == 200, "the service died"
    assert not failures, "\n".join(failures)


def test_invented_methods_add_no_metrics_entries_and_hops_stay_small(system, redis_server):
    from microcosm.traffic.hops import newest_hops

    catalog = system["catalog"]
    for i in range(60):
        send_raw(catalog.port, head(b"M%dETHOD" % i, b"/products/" + b"p" * 2000) + b"\r\n")
    routes = catalog.metrics()["routes"]
    assert not [r for r in routes if "METHOD" in r], sorted(routes)[:5]
    assert routes["OTHER (no route)"]["count"] >= 60
    hops = [h for h in newest_hops(redis_server.client(), 500) if h.get("instance") == "sweep-catalog"
            and h["method"] == "OTHER"]
    assert hops and all(len(h["path"]) <= 513 for h in hops)
