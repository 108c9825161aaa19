"""The scripted origin (chapter 10, lab 10, the edge's tests) checks a script field by field: a 400 naming what is
wrong, never a 500, and only with the launch secret. What it answers is what the script says."""
import pytest
import requests

BAD_SCRIPTS = [  # (what is wrong, the body, the field the error names)
    ("no path", {"headers": []}, "path"),
    ("a path without its slash", {"path": "a"}, "path"),
    ("a status that is not a number", {"path": "/a", "status": "200"}, "status"),
    ("a status out of range", {"path": "/a", "status": 99}, "status"),
    ("headers that are not a list", {"path": "/a", "headers": {"Cache-Control": "max-age=1"}}, "headers"),
    ("a header that is not a pair", {"path": "/a", "headers": [["Cache-Control"]]}, "headers"),
    ("a header name with a space", {"path": "/a", "headers": [["Cache Control", "x"]]}, "headers"),
    ("a header value on two lines", {"path": "/a", "headers": [["X-A", "1\r\nX-B: 2"]]}, "headers"),
    ("an ETag on two lines", {"path": "/a", "etag": "\"v1\"\r\nX-B: 2"}, "etag"),
    ("a negative delay", {"path": "/a", "delay_ms": -1}, "delay_ms"),
    ("a body too big", {"path": "/a", "body_bytes": 1 << 30}, "body_bytes"),
    ("an unknown field", {"path": "/a", "colour": "red"}, "colour"),
    ("a method that is not HTTP's", {"path": "/a", "by_method": {"BREW": {}}}, "by_method"),
    ("an unknown field for a method", {"path": "/a", "by_method": {"POST": {"colour": 1}}}, "colour"),
]


@pytest.fixture(scope="module")
def origin(launch_for_module):
    return launch_for_module("scripted_origin", "scripted-origin-checks")


@pytest.mark.parametrize("case", BAD_SCRIPTS, ids=[c[0] for c in BAD_SCRIPTS])
def test_a_bad_script_is_a_400_naming_the_field(origin, case):
    _, body, field = case
    answer = origin.put("/_script", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json().get("field") == field, answer.json()


def test_scripts_need_the_launch_secret(origin):
    assert requests.put(origin.url + "/_script", json={"path": "/a"}, timeout=5).status_code in (401, 403)
    assert requests.delete(origin.url + "/_script", timeout=5).status_code in (401, 403)


def test_a_scripted_answer_is_served_and_counted(origin):
    script = {"path": "/page", "headers": [["Cache-Control", "max-age=60"], ["Date", "{now-50}"]], "body": "hi",
              "etag": "\"v1\"", "by_method": {"POST": {"status": 201, "body": "made"}}}
    assert origin.put("/_script", json=script).status_code == 200
    first = requests.get(origin.url + "/page", timeout=5)
    again = requests.get(origin.url + "/page", headers={"If-None-Match": "\"v1\""}, timeout=5)
    made = requests.post(origin.url + "/page", timeout=5)
    assert (first.status_code, first.text, first.headers["Cache-Control"], first.headers["ETag"]) == \
        (200, "hi", "max-age=60", "\"v1\"")
    assert again.status_code == 304 and (made.status_code, made.text) == (201, "made")
    count = origin.get("/_count", params={"path": "/page"}).json()
    assert (count["requests"], count["conditional"], count["not_modified"], count["methods"]) == \
        (3, 1, 1, ["GET", "GET", "POST"])
    assert origin.get("/_count").status_code == 400  # which path?
    assert requests.get(origin.url + "/not-scripted", timeout=5).status_code == 404
