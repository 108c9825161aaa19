"""An origin whose answers a test scripts, counting what it is asked: the edge cache's tests (test_cdn_*).

    PUT /_script   {"path": "/a", "status": 200, "headers": [["Cache-Control", "max-age=60"]], "body": "x",
                    "delay_ms": 0, "etag": "\"v1\"", "not_modified_headers": [[...]]}    script one path
    GET /_count?path=/a    {"requests": n, "conditional": m, "not_modified": k, "methods": [...], "last_headers": {...}}
    DELETE /_script        forget every script and count

Header values may hold `{now}` or `{now-50}` / `{now+3600}`: an HTTP date that many seconds from now, when
the answer is made (so a test can say "Date 50 s ago" without sleeping). "by_method": {"POST": {...}}
overrides any of these for one method. With "etag" set, a request whose
If-None-Match names it gets a 304 carrying "not_modified_headers". Any path not scripted is a 404.
The script routes take the launch secret, like every admin route.
"""
import re
import threading
import time

from flask import Response, request
from werkzeug.http import http_date

from microcosm.services.base import create_service, require_admin

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"]
NOW = re.compile(r"\{now([+-]\d+)?\}")


def _dated(value: str) -> str:
    return NOW.sub(lambda m: http_date(time.time() + int(m.group(1) or 0)), value)


def create_app(config):
    app = create_service("scripted_origin", config)
    lock = threading.Lock()
    scripts, counts = {}, {}

    @app.put("/_script")
    def script():
        require_admin()
        body = request.get_json()
        with lock:
            scripts[body["path"]] = body
            counts.pop(body["path"], None)
        return {"scripted": body["path"]}

    @app.delete("/_script")
    def forget():
        require_admin()
        with lock:
            scripts.clear()
            counts.clear()
        return {"forgotten": True}

    @app.get("/_count")
    def count():
        return counts.get(request.args["path"], {"requests": 0, "conditional": 0, "not_modified": 0,
                                                  "methods": [], "last_headers": {}})

    @app.route("/", defaults={"path": ""}, methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def serve(path):
        target = request.full_path.rstrip("?")
        with lock:
            s = scripts.get(target) or scripts.get("/" + path)
            c = counts.setdefault(target if target in scripts else "/" + path,
                                  {"requests": 0, "conditional": 0, "not_modified": 0, "methods": [],
                                   "last_headers": {}})
            c["requests"] += 1
            c["methods"].append(request.method)
            c["conditional"] += bool(request.headers.get("If-None-Match") or request.headers.get("If-Modified-Since"))
            c["last_headers"] = dict(request.headers)
        if s is None:
            return {"error": "not_found", "message": f"nothing scripted for {target}", "status": 404}, 404
        s = {**s, **s.get("by_method", {}).get(request.method, {})}  # e.g. a POST answered differently
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
        body = s.get("body", "")
        if s.get("body_bytes"):
            body = b"x" * s["body_bytes"]
        return Response(body, status=s.get("status", 200), headers=headers)

    return app
