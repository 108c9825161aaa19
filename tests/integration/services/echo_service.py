"""A tiny service for the balancer's tests: echoes request headers, streams big bodies both ways."""
from flask import Response, request

from microcosm.services.base import create_service

CHUNK = 64 * 1024


def create_app(config):
    app = create_service("echo", config)

    @app.route("/echo", methods=["GET", "POST", "PUT"])
    def echo():
        return {"headers": dict(request.headers), "method": request.method, "path": request.full_path}

    @app.get("/big")
    def big():
        """`mb` megabytes of zeros, sent in 64 KiB chunks with no Content-Length (streamed)."""
        mb = int(request.args.get("mb", "20"))

        def chunks():
            for _ in range(mb * 1024 * 1024 // CHUNK):
                yield b"\0" * CHUNK

        return Response(chunks(), mimetype="application/octet-stream")

    @app.post("/upload")
    def upload():
        """Counts the body's bytes as they arrive."""
        total = 0
        while chunk := request.stream.read(CHUNK):
            total += len(chunk)
        return {"bytes": total}

    return app
