"""What the web shop needs from the back end, over HTTP (issue 15): its origin serving static files (types,
ETag and 304, caching headers, no way out of its folder, JSON errors) and the gateway's CORS (an allowed
origin's preflight and answers, a refused origin, credentials).

Real processes: an identity provider, catalog, a gateway with cors_origins, the `web` origin. Paths a client
library would clean up (dot segments, encoded slashes) are sent raw (raw_http)."""
from __future__ import annotations

import os
import re
import uuid

import pytest
import requests

import microcosm
from identity_helpers import ADMIN, CHEAP_ARGON2, user_token
from microcosm import trust
from microcosm.services.fingerprint import fingerprinted_name
from microcosm.services.web import GATEWAY_ROUTES, ROOT
from raw_http import raw_request

pytestmark = pytest.mark.timeout(120)

EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def shop(launch_for_module, tmp_path_factory):
    """identity, catalog, the web origin and a gateway that allows the origin (module-wide)."""
    tag, root = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("web")

    def start(service, name, **config):
        return launch_for_module(service, f"web-{name}-{tag}", traffic=False, **config)

    class Shop:
        pass

    s = Shop()
    s.identity = start("identity", "identity", data_dir=str(root / "identity"), admin_secret=ADMIN,
                       publish_delay=1.0, argon2=CHEAP_ARGON2)
    s.catalog = start("catalog", "catalog", data_dir=str(root / "catalog"))
    s.web = start("web", "origin", data_dir=str(root / "origin"))
    s.origin = s.web.url
    s.gateway = start("gateway", "gateway", identity_url=s.identity.url, cors_origins=[s.origin],
                      routes=GATEWAY_ROUTES, rate_limit=False,
                      upstreams={"catalog": s.catalog.url, "identity": s.identity.url})
    assert s.web.put("/_web/config", json={"gateway_url": s.gateway.url}).status_code == 200
    return s


# --- the origin: static files ------------------------------------------------------------------------------
def test_files_have_their_types_and_the_page_its_rules(shop):
    expected = {"/": "text/html; charset=utf-8", "/index.html": "text/html; charset=utf-8",
                "/shop.js": "text/javascript; charset=utf-8", "/shop.css": "text/css; charset=utf-8",
                "/favicon.svg": "image/svg+xml", "/config.json": "application/json"}
    for path, kind in expected.items():
        answer = requests.get(shop.web.url + path, timeout=10)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["Content-Type"] == kind, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    page = requests.get(shop.web.url + "/", timeout=10)
    script = fingerprinted_name("shop.js", (ROOT / "shop.js").read_bytes())  # the page names it by its hash
    assert f'src="{script}"' in page.text and 'src="shop.js"' not in page.text
    assert page.text.replace(script, "shop.js").startswith((ROOT / "index.html").read_text()[:200])
    for name in ("index.html", "shop.js", "shop.css"):  # everything the page runs comes from its origin
        assert not re.search(r"""(src|href|url\()\s*=?\s*["']?(https?:)?//""", (ROOT / name).read_text()), name
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and f"connect-src 'self' {shop.gateway.url}" in policy
    assert requests.get(shop.web.url + "/config.json", timeout=10).json()["gateway_url"] == shop.gateway.url


def test_etag_and_304_and_cache_control(shop):
    for path, cache in (("/", "no-cache"), ("/shop.js", "public, max-age=60"), ("/config.json", "no-cache")):
        first = requests.get(shop.web.url + path, timeout=10)
        etag = first.headers["ETag"]
        assert etag.startswith('"') and first.headers["Cache-Control"] == cache, path
        again = requests.get(shop.web.url + path, headers={"If-None-Match": etag}, timeout=10)
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag, path
        assert again.headers["Cache-Control"] == cache, path  # a 304 refreshes a cache's headers too
        for tags in (f'"other", W/{etag}', "*"):  # weak comparison for If-None-Match, and "any version"
            assert requests.get(shop.web.url + path, headers={"If-None-Match": tags}, timeout=10).status_code == 304
        assert requests.get(shop.web.url + path, headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200
    script = requests.get(shop.web.url + "/shop.js", timeout=10)
    since = {"If-Modified-Since": script.headers["Last-Modified"]}
    assert requests.get(shop.web.url + "/shop.js", headers=since, timeout=10).status_code == 304
    both = {**since, "If-None-Match": '"other"'}  # If-None-Match wins when both are sent (RFC 9110 13.2.2)
    assert requests.get(shop.web.url + "/shop.js", headers=both, timeout=10).status_code == 200
    head = requests.head(shop.web.url + "/shop.js", timeout=10)
    assert head.status_code == 200 and head.content == b"" and head.headers["ETag"] == script.headers["ETag"]


def test_a_changed_file_gets_a_new_etag_and_hidden_files_are_never_served(launch, tmp_path):
    root = tmp_path / "site"
    (root / "css").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>one</title>")
    (root / "css" / "a.css").write_text("body{}")
    (root / ".env").write_text("SECRET=1")
    (root / "server.py").write_text("SECRET = 1")
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]")
    site = launch("web", f"web-site-{uuid.uuid4().hex[:8]}", root=str(root), traffic=False, max_age=300)
    first = requests.get(site.url + "/", timeout=10)
    assert first.text.endswith("one</title>")
    (root / "index.html").write_text("<!doctype html><title>two, longer</title>")
    second = requests.get(site.url + "/", headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert second.status_code == 200 and "two" in second.text and second.headers["ETag"] != first.headers["ETag"]
    styles = requests.get(site.url + "/css/a.css", timeout=10)
    assert styles.status_code == 200 and styles.headers["Cache-Control"] == "public, max-age=300"
    for path in ("/.env", "/server.py", "/passwd.txt", "/.git/config", "/css", "/missing.html"):
        answer = requests.get(site.url + path, timeout=10)
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"] == "application/json" and answer.json()["error"] == "not_found", path
        assert answer.headers["Cache-Control"] == "no-store", path


TRAVERSALS = {
    "dot segments": "/../../../../etc/passwd",
    "dot segments after a file's folder": "/css/../../etc/passwd",
    "encoded dots": "/%2e%2e/%2e%2e/etc/passwd",
    "encoded dots, upper case": "/%2E%2E/%2E%2E/etc/passwd",
    "encoded slashes": "/..%2f..%2f..%2fetc%2fpasswd",
    "an encoded absolute path": "/%2fetc%2fpasswd",
    "an absolute path after //": "//etc/passwd",
    "backslashes": "/..\\..\\etc\\passwd",
    "encoded backslashes": "/..%5c..%5cetc%5cpasswd",
    "double encoding": "/%252e%252e/%252e%252e/etc/passwd",
    "a NUL": "/shop.js%00.html",
    "a single dot": "/./shop.js",
    "absolute-form target with dots": "http://127.0.0.1/../../etc/passwd",
}


@pytest.mark.parametrize("target", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_no_path_leaves_the_folder(shop, target):
    status, headers, body = raw_request(shop.web.url, "GET", target)
    assert status == 400, (target, status, body)
    assert isinstance(body, dict) and body["reason"] == "unsafe_path" and body["message"]
    assert headers["Content-Type"] == "application/json"


def test_absolute_paths_name_no_file_of_the_machine(shop):
    for target in ("/etc/passwd", "/proc/self/environ", f"{os.path.abspath(ROOT)}/index.html", "/microcosm/serve.py"):
        status, _, body = raw_request(shop.web.url, "GET", target)
        assert status == 404 and body["error"] == "not_found", target
    status, _, body = raw_request(shop.web.url, "POST", "/index.html", body=b"x")
    assert status == 405 and body["error"] == "method_not_allowed"


def test_the_gateway_address_is_set_with_the_launch_secret_only(shop):
    stranger = requests.put(shop.web.url + "/_web/config", json={"gateway_url": EVIL}, timeout=10)
    assert stranger.status_code in (401, 403) and stranger.json()["reason"] == "admin_only"
    for bad in ("javascript:alert(1)", "//evil.example", "http://a b", "data:text/html,x"):
        answer = shop.web.put("/_web/config", json={"gateway_url": bad})
        assert answer.status_code == 400 and answer.json()["field"] == "gateway_url", bad
    binder = shop.web.put("/_web/config", json={"gateway_url": "/user/ada/proxy/8002/"})  # Service.link on Binder
    assert binder.json()["gateway_url"] == "/user/ada/proxy/8002"
    same_origin = requests.get(shop.web.url + "/", timeout=10).headers["Content-Security-Policy"]
    assert "connect-src 'self';" in same_origin  # a path: the gateway is on the page's own origin
    assert shop.web.put("/_web/config", json={"gateway_url": shop.gateway.url}).status_code == 200
    before = requests.get(shop.web.url + "/config.json", timeout=10)
    assert shop.web.put("/_web/config", json={"poll_ms": 300}).json()["poll_ms"] == 300
    after = requests.get(shop.web.url + "/config.json", headers={"If-None-Match": before.headers["ETag"]}, timeout=10)
    assert after.status_code == 200 and after.json() == {"gateway_url": shop.gateway.url, "poll_ms": 300}
    assert shop.web.put("/_web/config", json={"poll_ms": 500}).status_code == 200


# --- the gateway: CORS ---------------------------------------------------------------------------------
def preflight(gateway, path, method, origin, headers="authorization, content-type, idempotency-key"):
    return requests.options(gateway.url + path, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
        timeout=10)


def test_preflights_of_the_routes_the_page_uses(shop):
    for path, method in (("/api/orders", "POST"), ("/api/orders/7", "GET"), ("/api/carts/ada", "GET"),
                         ("/api/carts/ada/items/1", "PUT"), ("/api/carts/ada/items/1", "DELETE"),
                         ("/api/products", "GET"), ("/api/token", "POST"), ("/api/revoke", "POST")):
        answer = preflight(shop.gateway, path, method, shop.origin)
        assert answer.status_code == 204, (path, method, answer.text)
        assert answer.headers["Access-Control-Allow-Origin"] == shop.origin
        assert method in [m.strip() for m in answer.headers["Access-Control-Allow-Methods"].split(",")]
        allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key"} <= allowed
        assert int(answer.headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in answer.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in answer.headers  # bearer tokens, no cookies: off


def test_preflights_asking_too_much_are_refused_and_say_why(shop):
    cases = [("/api/products", "DELETE", "content-type", "cors_method"),
             ("/api/orders", "POST", "x-admin-secret", "cors_headers"),
             ("/api/orders", "POST", "authorization, x-user", "cors_headers"),
             ("/api/nothing-here", "GET", "", "cors_no_route")]
    for path, method, headers, reason in cases:
        answer = preflight(shop.gateway, path, method, shop.origin, headers)
        assert answer.status_code in (403, 404) and answer.json()["reason"] == reason, (path, method, headers)
        assert "Access-Control-Allow-Methods" not in answer.headers


def test_answers_to_an_allowed_origin_are_readable_errors_too(shop):
    listed = requests.get(shop.gateway.url + "/api/products", headers={"Origin": shop.origin}, timeout=10)
    assert listed.status_code == 200 and listed.headers["Access-Control-Allow-Origin"] == shop.origin
    exposed = {h.strip() for h in listed.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Retry-After", "X-Request-ID", "RateLimit-Remaining", "WWW-Authenticate"} <= exposed
    assert "Origin" in listed.headers["Vary"]
    refused = requests.get(shop.gateway.url + "/api/orders", headers={"Origin": shop.origin}, timeout=10)
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == shop.origin
    token = user_token(shop.identity, "webada")
    mine = requests.get(shop.gateway.url + "/api/carts/someone-else", timeout=10,
                        headers={"Origin": shop.origin, "Authorization": f"Bearer {token}"})
    assert mine.status_code == 403 and mine.headers["Access-Control-Allow-Origin"] == shop.origin
    login = requests.post(shop.gateway.url + "/api/token", headers={"Origin": shop.origin}, timeout=10,
                          data={"grant_type": "password", "username": "webada", "password": "wrong password"})
    assert login.status_code == 400 and login.json()["error"] == "invalid_grant"
    assert login.headers["Access-Control-Allow-Origin"] == shop.origin


def test_a_disallowed_origin_gets_no_cors_headers(shop):
    answer = preflight(shop.gateway, "/api/orders", "POST", EVIL)
    assert answer.status_code == 403 and answer.json()["reason"] == "cors_origin"
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    for origin in (EVIL, "null", shop.origin + ".evil.example", shop.origin.replace("http:", "https:"),
                   shop.origin + "/"):
        listed = requests.get(shop.gateway.url + "/api/products", headers={"Origin": origin}, timeout=10)
        assert listed.status_code == 200, origin  # CORS is not access control: the browser hides the answer
        assert not [h for h in listed.headers if h.lower().startswith("access-control-")], origin
        assert "Origin" in listed.headers["Vary"]  # a cache keeps a copy per origin


def test_credentials_only_for_listed_origins_never_with_a_star(launch, shop):
    tag = uuid.uuid4().hex[:8]
    with pytest.raises(microcosm.LaunchError, match="never both"):
        launch("gateway", f"web-star-{tag}", cors_origins=["*"], cors_credentials=True, traffic=False,
               rate_limit=False, upstreams={"catalog": shop.catalog.url})
    with_cookies = launch("gateway", f"web-cred-{tag}", cors_origins=[shop.origin], cors_credentials=True,
                          traffic=False, rate_limit=False, upstreams={"catalog": shop.catalog.url})
    answer = requests.get(with_cookies.url + "/api/products", headers={"Origin": shop.origin}, timeout=10)
    assert answer.headers["Access-Control-Allow-Origin"] == shop.origin  # the origin itself, never *
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    strange = requests.get(with_cookies.url + "/api/products", headers={"Origin": EVIL}, timeout=10)
    assert "Access-Control-Allow-Credentials" not in strange.headers
    anyone = launch("gateway", f"web-any-{tag}", cors_origins=["*"], traffic=False, rate_limit=False,
                    upstreams={"catalog": shop.catalog.url})
    answer = requests.get(anyone.url + "/api/products", headers={"Origin": EVIL}, timeout=10)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_no_malformed_request_gets_a_500_from_the_origin(shop):
    from test_no_request_gives_a_500 import CASES, send_raw  # the sweep every service passes

    secret = trust.launch_secret().encode()
    failures = []
    for name, build in CASES:
        status, headers, body = send_raw(shop.web.port, build(b"/index.html", b"/_web/config", b"PUT", secret))
        if status is None:
            continue  # closed without an answer: what a server may do with bytes that are not HTTP at all
        if status >= 500:
            failures.append(f"{name}: {status} {body[:120]!r}")
        elif status >= 400 and b"application/json" not in headers.lower():
            failures.append(f"{name}: {status} without a JSON error: {headers[:200]!r}")
    assert not failures, "\n".join(failures)
    assert requests.get(shop.web.url + "/config.json", timeout=10).json()["gateway_url"] == shop.gateway.url
