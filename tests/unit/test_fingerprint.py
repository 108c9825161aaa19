"""Fingerprinted asset names (services/fingerprint.py): a name that changes with the content, and pages rewritten."""
from __future__ import annotations

import pytest

from microcosm.services.fingerprint import HASH_DIGITS, fingerprinted_name, plain_name, rewrite_references


def test_the_fingerprinted_name_changes_with_the_content_and_only_with_it():
    one = fingerprinted_name("shop.js", b"console.log(1)")
    assert one == fingerprinted_name("shop.js", b"console.log(1)")
    assert one != fingerprinted_name("shop.js", b"console.log(2)")
    assert one.startswith("shop.") and one.endswith(".js") and len(one) == len("shop.js") + HASH_DIGITS + 1
    assert fingerprinted_name("css/a.b.css", b"x").startswith("css/a.b.")  # only the last extension moves


@pytest.mark.parametrize("name, expected", [
    ("shop.0123456789.js", ("shop.js", "0123456789")),
    ("css/shop.abcdefabcd.css", ("css/shop.css", "abcdefabcd")),
    ("a.b.0123456789.js", ("a.b.js", "0123456789")),
    ("shop.js", None), ("shop.012345678.js", None), ("shop.ABCDEF0123.js", None), (".0123456789.js", None),
    ("dir/.0123456789.js", None), ("shop.0123456789", None),
])
def test_plain_name(name, expected):
    assert plain_name(name) == expected


def test_a_fingerprinted_name_reads_back_as_its_plain_name():
    name = fingerprinted_name("img/logo.svg", b"<svg/>")
    assert plain_name(name)[0] == "img/logo.svg"


CURRENT = {"shop.js": "shop.0123456789.js", "css/a.css": "css/a.abcdefabcd.css"}


@pytest.mark.parametrize("page, html, expected", [
    ("index.html", '<script src="shop.js">', '<script src="shop.0123456789.js">'),
    ("index.html", "<link href='css/a.css'>", "<link href='css/a.abcdefabcd.css'>"),
    ("index.html", '<link HREF = "/css/a.css">', '<link HREF = "/css/a.abcdefabcd.css">'),
    ("sub/page.html", '<script src="../shop.js">', '<script src="../shop.0123456789.js">'),
    ("sub/page.html", '<script src="shop.js">', '<script src="shop.js">'),  # sub/shop.js: no such file
    ("index.html", '<script src="https://cdn.example/shop.js">', '<script src="https://cdn.example/shop.js">'),
    ("index.html", '<script src="//cdn.example/shop.js">', '<script src="//cdn.example/shop.js">'),
    ("index.html", '<script src="shop.js?v=1">', '<script src="shop.js?v=1">'),
    ("index.html", '<a href="other.js">', '<a href="other.js">'),
    ("index.html", "<p>shop.js</p>", "<p>shop.js</p>"),  # text, not a reference
])
def test_a_page_is_rewritten_to_name_the_current_files(page, html, expected):
    assert rewrite_references(html.encode(), page, CURRENT) == expected.encode()


def test_a_page_that_is_not_utf8_survives_rewriting():
    html = b'\xff\xfe<script src="shop.js">'
    assert rewrite_references(html, "index.html", CURRENT) == b'\xff\xfe<script src="shop.0123456789.js">'
