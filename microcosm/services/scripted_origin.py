"""An origin whose answers you script, counting what it is asked: for trying a cache (chapter 10, lab 10, the
edge's tests) with headers no real service sends, such as `Vary` or an `Age` from an upstream cache.

    PUT /_script   {"path": "/a", "status": 200, "headers": [["Cache-Control", "max-age=60"]], "body": "x",
                    "delay_ms": 0, "etag": "\\"v1\\"", "not_modified_headers": [[...]]}    script one path
    GET /_count?path=/a    {"requests": n, "conditional": m, "not_modified": k, "methods": [...], "last_headers": {...}}
    DELETE /_script        forget every script and count

Header values may hold `{now}` or `{now-50}` / `{now+3600}`: an HTTP date that many seconds from now, when
the answer is made (so a test can say "Date 50 s ago" without sleeping). "by_method": {"POST": {...}}
overrides any of these for one method. With "etag" set, a request whose If-None-Match names it gets a 304
carrying "not_modified_headers". Any path not scripted is a 404. The script routes take the launch secret, like
every admin route; a script is checked field by field (a 400 says what is wrong), and what it keeps is bounded.
"""
import re
import threading
import time
from collections import OrderedDict

from flask import Response, request
from werkzeug.http import http_date

from .base import create_service, require_admin
from .errors import InvalidInput
from .inputs import Field, Int, Number, Obj, Str, json_type, read_json

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"]
NOW = re.compile(r"\{now([+-]\d{1,9})?\}")
MAX_SCRIPTS, MAX_COUNTED, MAX_METHODS = 1000, 2000, 1000  # paths scripted, paths counted, methods kept per path
ANSWER = dict(status=Int(required=False, default=200, min=200, max=599), body=Str(required=False, default="", max=1 << 20),
              body_bytes=Int(required=False, default=0, min=0, max=8 << 20),
              delay_ms=Number(required=False, default=0, min=0, max=30_000), etag=Str(required=False, max=200))
HEADER_LISTS = ("headers", "not_modified_headers")
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


def _dated(value: str) -> str:
    return NOW.sub(lambda m: http_date(time.time() + int(m.group(1) or 0)), value)


def _header_list(name: str, value) -> list:
    """[[name, value], ...] with a header's syntax, or a 400 naming the field."""
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidInput(f"field '{name}' must be a list of at most 50 [name, value] pairs, got {json_type(value)}",
                           name)
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise InvalidInput(f"field '{name}': each header is a [name, value] pair of strings", name)
        if not TOKEN.match(pair[0]) or len(pair[1]) > 8000 or any(c in pair[1] for c in "\r\n\0"):
            raise InvalidInput(f"field '{name}': {pair[0][:40]!r} is not a header name with a one-line value", name)
    return value


def _answer(name: str, given: dict) -> dict:
    """One answer's fields (a script, or one method's part of it) checked; absent ones stay absent."""
    out = {}
    for field, value in given.items():
        if field in HEADER_LISTS:
            out[field] = _header_list(field, value)
        elif field in ANSWER:
            out[field] = ANSWER[field].check(field, value)
            if field == "etag" and any(c in value for c in "\r\n\0"):
                raise InvalidInput("field 'etag' must be one line", field)
        else:
            raise InvalidInput(f"{name}: unknown field '{field}' (expected: {', '.join([*ANSWER, *HEADER_LISTS])})",
                               field)
    return out


def read_script() -> dict:
    body = read_json(path=Str(min=1, max=2000), by_method=Obj(required=False, default={}),
                     **{k: Field for k, Field in ANSWER.items()},
                     **{k: Field(required=False) for k in HEADER_LISTS})  # header lists: checked by _answer
    if not body["path"].startswith("/"):
        raise InvalidInput("field 'path' must start with '/'", "path")
    raw = request.get_json()
    script = {"path": body["path"], **_answer("the script", {k: v for k, v in raw.items()
                                                            if k not in ("path", "by_method")})}
    script["by_method"] = {}
    for method, part in body["by_method"].items():
        if method not in METHODS or not isinstance(part, dict):
            raise InvalidInput(f"by_method: {method[:20]!r} must be one of {', '.join(METHODS)}, with an object",
                               "by_method")
        script["by_method"][method] = _answer(f"by_method {method}", part)
    return script


def fresh_count() -> dict:
    return {"requests": 0, "conditional": 0, "not_modified": 0, "methods": [], "last_headers": {}}


def create_app(config):
    app = create_service("scripted_origin", config)
    lock = threading.Lock()
    scripts: dict = {}
    counts: OrderedDict = OrderedDict()  # path -> what it was asked; the oldest forgotten past MAX_COUNTED

    @app.put("/_script")
    def script():
        require_admin()
        given = read_script()
        with lock:
            if given["path"] not in scripts and len(scripts) >= MAX_SCRIPTS:
                raise InvalidInput(f"at most {MAX_SCRIPTS} paths can be scripted: DELETE /_script forgets them")
            scripts[given["path"]] = given
            counts.pop(given["path"], None)
        return {"scripted": given["path"]}

    @app.delete("/_script")
    def forget():
        require_admin()
        with lock:
            scripts.clear()
            counts.clear()
        return {"forgotten": True}

    @app.get("/_count")
    def count():
        path = request.args.get("path")
        if path is None:
            raise InvalidInput("query parameter 'path' is required: GET /_count?path=/a", "path")
        with lock:
            return dict(counts.get(path) or fresh_count())

    def counted(key: str) -> dict:
        c = counts.get(key)
        if c is None:
            c = counts[key] = fresh_count()
            while len(counts) > MAX_COUNTED:
                counts.popitem(last=False)
        c["requests"] += 1
        c["methods"] = (c["methods"] + [request.method])[-MAX_METHODS:]
        c["conditional"] += bool(request.headers.get("If-None-Match") or request.headers.get("If-Modified-Since"))
        c["last_headers"] = dict(request.headers)
        return c

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def serve(path):
        target = request.full_path.rstrip("?")
        with lock:
            s = scripts.get(target) or scripts.get("/" + path)
            c = counted(target if target in scripts else "/" + path)
        if s is None:
            return {"error": "not_found", "message": f"nothing scripted for {target}", "status": 404}, 404
        s = {**s, **s["by_method"].get(request.method, {})}  # e.g. a POST answered differently
        if s.get("delay_ms"):
            time.sleep(s["delay_ms"] / 1000)
        etag = s.get("etag")
        if etag and etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            with lock:
                c["not_modified"] += 1
            headers = [(k, _dated(v)) for k, v in s.get("not_modified_headers", [])] + [("ETag", etag)]
            return Response(status=304, headers=headers)
        headers = [(k, _dated(v)) for k, v in s.get("headers", [])]
        if etag:
            headers.append(("ETag", etag))
        body = b"x" * s["body_bytes"] if s.get("body_bytes") else s.get("body", "")
        return Response(body, status=s.get("status", 200), headers=headers)

    return app
