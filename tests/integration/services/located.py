"""A tiny service for the gateway front's tests: its answers carry headers the gateway passes back or drops
(a Location in its own paths, which the gateway makes public, and a Set-Cookie and a Server it never passes)."""
from flask import Response, request

from microcosm.services.base import create_service


def create_app(config):
    app = create_service("located", config)

    @app.route("/loc/<path:anything>", methods=["GET", "POST"])
    def located(anything):
        answer = Response(request.get_data() or b"made", status=201 if request.method == "POST" else 200,
                          content_type="text/plain")
        answer.headers.update({"Location": f"/loc/{anything}/1", "ETag": '"v1"', "Set-Cookie": "s=1",
                               "X-Internal": "secret", "Cache-Control": "no-store"})
        return answer

    return app
