"""The gateway's CORS allow-list as it is read at launch (gateway/cors.py): origins as a browser writes them,
mistakes refused with what is wrong, never '*' with credentials."""
import pytest

from microcosm.services.gateway.cors import Cors, normalise_origin


@pytest.mark.parametrize("given, origin", [
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("HTTP://Shop.Example", "http://shop.example"),
    ("http://shop.example:80", "http://shop.example"),     # the default port: a browser leaves it out
    ("https://shop.example:443", "https://shop.example"),
    ("https://shop.example:8443", "https://shop.example:8443"),
    ("http://[::1]:8001", "http://[::1]:8001"),
])
def test_origins_are_written_as_a_browser_sends_them(given, origin):
    assert normalise_origin(given) == origin
    assert Cors([given]).allows(origin)


@pytest.mark.parametrize("bad", ["http://shop.example/", "http://shop.example/shop", "shop.example", "null",
                                 "file://", "ftp://shop.example", "http://shop.example:0", "http://shop.example:99999",
                                 "http://user@shop.example", "", 7, None])
def test_what_is_not_an_origin_is_refused_at_launch(bad):
    with pytest.raises(ValueError, match="cors_origins"):
        Cors([bad])


def test_star_alone_and_never_with_credentials():
    assert Cors(["*"]).allows("http://anything.example") and not Cors(["*"]).credentials
    with pytest.raises(ValueError, match="never both"):
        Cors(["*"], credentials=True)
    with pytest.raises(ValueError, match="alone"):
        Cors(["*", "http://shop.example"])
    listed = Cors(["http://shop.example"], credentials=True)
    assert listed.allows("http://shop.example") and not listed.allows("http://evil.example")
    assert not listed.allows(None) and not listed.allows("") and not listed.allows("null")


def test_no_list_allows_nobody_and_max_age_is_bounded():
    assert not Cors().allows("http://shop.example")
    assert Cors.from_config({}).state() == {"origins": [], "credentials": False, "max_age": 600}
    assert Cors.from_config({"cors_origins": "http://shop.example"}).state()["origins"] == ["http://shop.example"]
    for bad in (-1, 86401, "600", 1.5, True):
        with pytest.raises(ValueError, match="cors_max_age"):
            Cors(["http://shop.example"], max_age=bad)
