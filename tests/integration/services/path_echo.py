"""A tiny service for the gateway's path tests: answers any path and method with exactly what it received
(the raw request line's target as well as the decoded path), and lists every request it has served at
GET /seen, so a test can prove what reached the upstream and what never did."""
import threading

from flask import request

from microcosm.services.base import create_service

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]


def create_app(config):
    app = create_service("path_echo", config)
    seen, lock = [], threading.Lock()

    @app.get("/seen")
    def get_seen():
        with lock:
            return {"seen": list(seen)}

    @app.route("/", defaults={"anything": ""}, methods=METHODS)
    @app.route("/<path:anything>", methods=METHODS)
    def echo(anything):
        raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")
        with lock:
            seen.append({"method": request.method, "raw": raw})
        return {"method": request.method, "raw": raw, "path": request.path,
                "query": request.query_string.decode("latin-1"), "headers": dict(request.headers)}

    return app
