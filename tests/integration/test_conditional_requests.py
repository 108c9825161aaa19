"""Origins that cache well (issue 16), over HTTP against real processes.

catalog: product reads carry `Cache-Control: public, max-age=<max_age>` and a strong ETag of their bytes;
`If-None-Match` naming it (weak comparison, `*`, in a list) is a 304 with no body that keeps ETag, Cache-Control
and Date; anything else, malformed included, is the full 200; a price change changes the ETag; HEAD too.
web: `Last-Modified` from the file's mtime and `If-Modified-Since` (an invalid or future date ignored); the
page no-cache, scripts and styles also under a fingerprinted name that is immutable, and only that name.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from email.utils import formatdate

import pytest
import requests

from microcosm.services import fingerprint
from microcosm.services.web import ROOT
from raw_http import raw_request

pytestmark = pytest.mark.timeout(120)
MAX_AGE = 30


@pytest.fixture(scope="module")
def catalog(launch_for_module, tmp_path_factory):
    return launch_for_module("catalog", f"cond-catalog-{uuid.uuid4().hex[:8]}", max_age=MAX_AGE, traffic=False,
                             data_dir=str(tmp_path_factory.mktemp("cond") / "catalog"))


@pytest.fixture(scope="module")
def shop(launch_for_module, tmp_path_factory):
    return launch_for_module("web", f"cond-web-{uuid.uuid4().hex[:8]}", traffic=False,
                             data_dir=str(tmp_path_factory.mktemp("cond") / "web"))


def get(url, method="GET", **headers):
    return requests.request(method, url, headers=headers, timeout=10)


# --- catalog: ETag and If-None-Match -----------------------------------------------------------------------
READS = ["/products", "/products?limit=2", "/products/2"]

# If-None-Match as the client sends it ({etag} is the current one) -> does it match (304) or not (200)?
IF_NONE_MATCH = {
    "the current tag": ("{etag}", 304),
    "any version (*)": ("*", 304),
    "a list containing it": ('"old", {etag}, "older"', 304),
    "a list without spaces": ('"old",{etag}', 304),
    "its weak form (weak comparison)": ("W/{etag}", 304),
    "empty list elements around it": (", ,{etag},", 304),
    "another tag": ('"0123456789abcdef0123456789abcdef"', 200),
    "a list of other tags": ('"a", W/"b"', 200),
    "an empty opaque tag": ('""', 200),
    "empty": ("", 200),
    "unquoted (malformed)": ("{bare}", 200),
    "* inside a list (malformed)": ('*, "x"', 200),
    "no comma between tags (malformed)": ('"x" {etag}', 200),
    "unterminated quote (malformed)": ('"{bare}', 200),
    "space after W/ (malformed)": ("W/ {etag}", 200),
    "lower-case w/ (malformed)": ("w/{etag}", 200),
    "obs-text in a tag": ('"caf\xe9"', 200),
    "very long": ('"x", ' * 2000 + "{etag}", 304),
}


@pytest.mark.parametrize("path", READS)
def test_a_read_has_a_strong_etag_stable_across_identical_reads_and_cache_control(catalog, path):
    answers = [get(catalog.url + path) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers)
    etag = answers[0].headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), etag  # strong: no W/
    assert {a.headers["ETag"] for a in answers} == {etag}
    assert {a.content for a in answers} == {answers[0].content}
    assert answers[0].headers["Cache-Control"] == f"public, max-age={MAX_AGE}"


@pytest.mark.parametrize("case", IF_NONE_MATCH.values(), ids=IF_NONE_MATCH.keys())
@pytest.mark.parametrize("path", READS)
def test_if_none_match(catalog, path, case):
    given, expected = case
    full = get(catalog.url + path)
    etag = full.headers["ETag"]
    answer = get(catalog.url + path, **{"If-None-Match": given.format(etag=etag, bare=etag.strip('"'))})
    assert answer.status_code == expected, (given, answer.text)
    if expected == 200:
        assert answer.content == full.content and answer.headers["ETag"] == etag
        return
    assert answer.content == b""  # only the headers travel
    assert answer.headers["ETag"] == etag  # RFC 9110 15.4.5: what a 200 would have sent, so a cache can update
    assert answer.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"
    assert answer.headers["Date"]
    assert "Content-Type" not in answer.headers and "Content-Length" not in answer.headers


def test_head_has_the_same_validators_and_is_conditional_too(catalog):
    full = get(catalog.url + "/products/1")
    head = get(catalog.url + "/products/1", "HEAD")
    assert head.status_code == 200 and head.content == b""
    for name in ("ETag", "Cache-Control", "Content-Type", "Content-Length"):
        assert head.headers[name] == full.headers[name], name
    again = get(catalog.url + "/products/1", "HEAD", **{"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == full.headers["ETag"]


def test_a_price_change_changes_the_etag_and_the_old_copy_is_not_revalidated(catalog):
    before = get(catalog.url + "/products/3")
    listed = get(catalog.url + "/products")
    changed = catalog.put("/products/3", json={"price_cents": before.json()["price_cents"] + 1})
    assert changed.status_code == 200 and changed.json()["price_cents"] == before.json()["price_cents"] + 1
    for path, old in (("/products/3", before), ("/products", listed)):
        answer = get(catalog.url + path, **{"If-None-Match": old.headers["ETag"]})
        assert answer.status_code == 200 and answer.headers["ETag"] != old.headers["ETag"], path
        assert get(catalog.url + path, **{"If-None-Match": answer.headers["ETag"]}).status_code == 304, path
    assert get(catalog.url + "/products/3").json()["price_cents"] == before.json()["price_cents"] + 1
    assert catalog.put("/products/3", json={"price_cents": before.json()["price_cents"]}).status_code == 200
    assert get(catalog.url + "/products/3").headers["ETag"] == before.headers["ETag"]  # the same bytes, the same tag


def test_a_new_product_changes_the_list_etag_only(catalog):
    listed, one = get(catalog.url + "/products"), get(catalog.url + "/products/1")
    assert catalog.post("/products", json={"name": f"Mug {uuid.uuid4().hex[:6]}", "price_cents": 900}).status_code == 201
    assert get(catalog.url + "/products", **{"If-None-Match": listed.headers["ETag"]}).status_code == 200
    assert get(catalog.url + "/products/1", **{"If-None-Match": one.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("body", [{}, {"price_cents": -1}, {"price_cents": "ten"}, {"price_cents": 10**12}])
def test_a_bad_price_change_is_a_400_and_a_missing_product_a_404(catalog, body):
    answer = catalog.put("/products/1", json=body)
    assert answer.status_code == 400 and answer.json()["error"]
    missing = catalog.put("/products/987654", json={"price_cents": 5})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert "ETag" not in get(catalog.url + "/products/987654").headers  # only a 200 is given validators


# --- the static origin: Last-Modified, If-Modified-Since, fingerprinted names ------------------------------
def http_date(seconds: float) -> str:
    return formatdate(int(seconds), usegmt=True)


def test_last_modified_is_the_file_mtime_and_if_modified_since_decides(shop):
    mtime = os.stat(ROOT / "shop.js").st_mtime
    first = get(shop.url + "/shop.js")
    assert first.headers["Last-Modified"] == http_date(mtime)
    cases = {  # If-Modified-Since -> status
        first.headers["Last-Modified"]: 304,
        http_date(mtime + 5): 304,  # later than the change (and not in the future)
        http_date(mtime - 5): 200,  # older than the file
        "Sunday, 06-Nov-94 08:49:37 GMT": 200,  # the obsolete RFC 850 form is still a date, and an old one
        "not a date": 200,
        "": 200,
        "Sun, 06 Nov 1994 08:49:37": 200,
        "Sun, 99 Nov 2026 08:49:37 GMT": 200,
        http_date(2_000_000_000_0): 200,  # in the future: invalid, ignored (RFC 9110 13.1.3)
    }
    for since, expected in cases.items():
        answer = get(shop.url + "/shop.js", **{"If-Modified-Since": since})
        assert answer.status_code == expected, since
        assert answer.content == (b"" if expected == 304 else first.content), since
        if expected == 304:  # (no Last-Modified on it: with an ETag there, RFC 9110 15.4.5 does not ask for one)
            assert answer.headers["ETag"] == first.headers["ETag"] and answer.headers["Cache-Control"]
            assert answer.headers["Date"] and "Content-Length" not in answer.headers


def current_names(page_html: str) -> dict:
    return dict(re.findall(r'(?:src|href)="((?:shop|favicon)\.[0-9a-f]{10}\.(js|css|svg))"', page_html))


def test_only_fingerprinted_names_are_immutable(shop):
    page = get(shop.url + "/")
    names = {ext: name for name, ext in current_names(page.text).items()}
    assert set(names) == {"js", "css", "svg"}, page.text[:800]
    assert names["js"] == fingerprint.fingerprinted_name("shop.js", (ROOT / "shop.js").read_bytes())
    expected = {
        "/": "no-cache", "/index.html": "no-cache", "/config.json": "no-cache",
        "/shop.js": "public, max-age=60", "/shop.css": "public, max-age=60", "/favicon.svg": "public, max-age=60",
        "/" + names["js"]: fingerprint.IMMUTABLE, "/" + names["css"]: fingerprint.IMMUTABLE,
        "/" + names["svg"]: fingerprint.IMMUTABLE,
    }
    for path, cache in expected.items():
        answer = get(shop.url + path)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == cache, path
    plain, hashed = get(shop.url + "/shop.js"), get(shop.url + "/" + names["js"])
    assert hashed.content == plain.content and hashed.headers["ETag"] == plain.headers["ETag"]
    assert hashed.headers["Content-Type"] == plain.headers["Content-Type"]
    revalidated = get(shop.url + "/" + names["js"], **{"If-None-Match": plain.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.headers["Cache-Control"] == fingerprint.IMMUTABLE
    head = get(shop.url + "/" + names["js"], "HEAD")
    assert head.status_code == 200 and head.content == b"" and head.headers["Cache-Control"] == fingerprint.IMMUTABLE
    assert head.headers["Content-Length"] == str(len(plain.content))
    for wrong in ("/shop.0123456789.js", "/index.0123456789.html", "/shop." + names["js"].split(".")[1] + ".css"):
        answer = get(shop.url + wrong)
        assert answer.status_code == 404 and answer.headers["Cache-Control"] == "no-store", wrong


def test_a_changed_script_gets_a_new_name_and_a_new_page(launch, tmp_path):
    root = tmp_path / "site"
    shutil.copytree(ROOT, root)
    site = launch("web", f"cond-site-{uuid.uuid4().hex[:8]}", root=str(root), traffic=False)
    page = get(site.url + "/")
    old_js = next(n for n, ext in current_names(page.text).items() if ext == "js")
    assert get(site.url + "/" + old_js).status_code == 200
    (root / "shop.js").write_text((root / "shop.js").read_text() + "\n// version two\n")
    again = get(site.url + "/", **{"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != page.headers["ETag"]  # the page names a new file
    new_js = next(n for n, ext in current_names(again.text).items() if ext == "js")
    assert new_js != old_js and new_js == fingerprint.fingerprinted_name("shop.js", (root / "shop.js").read_bytes())
    assert get(site.url + "/" + new_js).text.endswith("// version two\n")
    assert get(site.url + "/" + old_js).status_code == 404  # the old bytes are gone: never served under its name
    since = get(site.url + "/", **{"If-Modified-Since": page.headers["Last-Modified"]})
    assert since.status_code == 200  # the page's Last-Modified moved with its newest asset
    assert since.headers["Last-Modified"] == http_date(os.stat(root / "shop.js").st_mtime)


# --- no validator header, however malformed, is a 500 -----------------------------------------------------
NASTY = ['"\x80\xff"', "W/", 'W/"', '"' * 101, "*" * 300, ",,,,", "\t", 'W/W/"a"', '"a"; q=1', "\\x00",
         "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", "Mon, 31 Feb 2026 25:61:61 GMT",
         "Sun, 06 Nov 99999 08:49:37 GMT", "Sun, 06 Nov -1 08:49:37 GMT", "0", "-1", "1e400", "\xe9\xe8"]


@pytest.mark.parametrize("header", ["If-None-Match", "If-Modified-Since"])
def test_no_malformed_validator_is_a_500(catalog, shop, header):
    for value in NASTY:
        for base, target in ((catalog.url, "/products/1"), (shop.url, "/shop.js"), (shop.url, "/")):
            status, _, body = raw_request(base, "GET", target, headers={header: value})
            assert status == 200, (header, value, target, status, body)  # matches nothing: the full answer
