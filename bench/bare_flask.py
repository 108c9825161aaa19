"""The floor under the gateway: a Flask route under waitress that forwards nothing.

    python bench/bare_flask.py PORT [--base]

Answers `GET /api/products/1` with a fixed product, as catalog would, from waitress with 8 threads (what
`microcosm.launch` gives a service). Plain: `Flask(__name__)` and one route, nothing else. `--base`: the app
comes from microcosm's `create_service` (request ids, metrics, chaos, JSON errors: what every service and the
gateway pay per request), with no access log and no hop records, as the bench's gateways run.
"""
from __future__ import annotations

import argparse

import common  # noqa: F401  (puts this checkout first on sys.path)

PRODUCT = {"id": 1, "name": "Teapot", "price_cents": 1999, "stock": 10}


def app(base: bool):
    if base:
        from microcosm.services.base import create_service

        flask_app = create_service("bare", {"access_log": False})
    else:
        from flask import Flask

        flask_app = Flask("bare")

    @flask_app.get("/api/products/1")
    def product():
        return PRODUCT

    return flask_app


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("port", type=int)
    p.add_argument("--base", action="store_true")
    args = p.parse_args(argv)
    from waitress import serve

    serve(app(args.base), host="127.0.0.1", port=args.port, threads=8, _quiet=True)


if __name__ == "__main__":
    main()
