"""An origin for cache conformance probes (bench/cache_conformance.py): it answers with the headers the URL
asks for, and counts the requests that reach it, so a probe can tell whether a cache in front answered.

    GET|HEAD|POST /probe/<key>?set=Cache-Control:max-age%3D60&set=Vary:Accept-Language
        -> 200, those headers, and {"key": ..., "count": n}; `X-Origin-Count: n` (n: requests for <key> so far)
    GET /count/<key>   -> {"key": ..., "count": n}, never counted (ask it directly, not through the cache)

With `fail_after=N` in the query, every request for <key> after the first N is a 503 (an origin gone bad).

A value `@+60` or `@-3600` is an HTTP-date that many seconds from now (for Expires, Last-Modified). Launched
as a file (`microcosm.launch("bench/cache_probe_origin.py")`); a bench tool, not part of the course.
"""
from __future__ import annotations

import threading
import time
from email.utils import formatdate

from flask import Response, request

from microcosm.services.base import ApiError, create_service

ALLOWED = {"cache-control", "vary", "set-cookie", "expires", "last-modified", "etag", "age", "location",
           "content-location"}


def create_app(config: dict):
    app = create_service("cache_probe_origin", config)
    counts: dict[str, int] = {}
    lock = threading.Lock()

    @app.route("/probe/<key>", methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
    def probe(key: str):
        with lock:
            counts[key] = n = counts.get(key, 0) + 1
        fail_after = request.args.get("fail_after", "")
        if fail_after.isdigit() and n > int(fail_after):
            raise ApiError(503, f"probe origin: failing after {fail_after} requests, as asked")
        response = Response(f'{{"key": "{key}", "count": {n}}}', content_type="application/json")
        for item in request.args.getlist("set")[:20]:
            name, _, value = item.partition(":")
            if name.lower() not in ALLOWED:
                raise ApiError(400, f"set: {name!r} is not one of {sorted(ALLOWED)}", field="set")
            if value.startswith("@") and value[1:].lstrip("+-").isdigit():
                value = formatdate(time.time() + int(value[1:]), usegmt=True)
            response.headers.add(name, value)
        response.headers["X-Origin-Count"] = str(n)
        return response

    @app.get("/count/<key>")
    def count(key: str):
        with lock:
            return {"key": key, "count": counts.get(key, 0)}

    return app
