"""Run one service in this process under a production WSGI server.

    python -m microcosm.serve catalog --port 8001
    python -m microcosm.serve reviews.py --port 8002 --config '{"data_dir": "/tmp/reviews"}'

`microcosm.launch(...)` runs this for you with `--fd`: a socket it already bound, so ports never collide.
In a container (the image `microcosm.export` writes a Dockerfile for), the environment gives the address instead:
MICROCOSM_HOST=0.0.0.0 and MICROCOSM_PORT=8000, a fixed port in the container's own network namespace.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import tempfile

from .runtime.guard import die_with_parent
from .runtime.ports import HOST, listen_socket
from .services.loader import load_app, load_module

SERVERS = ("waitress", "gunicorn", "flask")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m microcosm.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("service", help="built-in name (catalog, orders, carts), module name, or path to a .py file")
    p.add_argument("--name", help="instance name (default: the service's)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=int(os.environ.get("MICROCOSM_PORT") or 0),
                       help="port (default: $MICROCOSM_PORT, else any free one)")
    where.add_argument("--fd", type=int, help="serve an already-listening socket inherited from the parent")
    p.add_argument("--host", default=os.environ.get("MICROCOSM_HOST") or HOST,
                   help="address to bind (default: $MICROCOSM_HOST, else 127.0.0.1; in a container 0.0.0.0)")
    p.add_argument("--config", default="{}", help="JSON object passed to create_app(config)")
    p.add_argument("--server", choices=SERVERS, default="waitress")
    p.add_argument("--threads", type=int, default=8, help="waitress threads")
    p.add_argument("--cpu", type=int, help="run on this one CPU core only (see pin_to_cpu)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    return p.parse_args(argv)


def _waitress_errors_as_json() -> None:
    """waitress answers a few errors itself, before our app sees the request (a body over the limit, a
    malformed request line). Make those JSON too, like every other error a service gives."""
    from waitress.utilities import Error

    def to_response(self, ident=None):
        body = json.dumps({"error": self.reason.lower().replace(" ", "_"), "message": self.body or self.reason,
                           "status": self.code}).encode()
        return f"{self.code} {self.reason}", [("Content-Type", "application/json")], body

    Error.to_response = to_response


def serve_waitress(app, sock: socket.socket, threads: int, max_body: int) -> None:
    from waitress.server import create_server

    _waitress_errors_as_json()

    server = create_server(app, sockets=[sock], threads=threads, max_request_body_size=max_body,
                           ident=None, channel_timeout=30, connection_limit=200, clear_untrusted_proxy_headers=False)
    server.run()


def serve_gunicorn(app, sock: socket.socket, workers: int, make_app=None) -> None:
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", [f"fd://{sock.fileno()}"])
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", None)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25: one shared ~/.gunicorn/gunicorn.ctl
                self.cfg.set("control_socket_disable", True)

        def load(self):  # in each worker, after the fork: threads the app started (hop sender) do not survive it
            return make_app() if make_app else app

    Gunicorn().run()


def serve_flask_dev(app, sock: socket.socket) -> None:
    from werkzeug.serving import make_server  # run_simple takes no fd; make_server does

    make_server(HOST, sock.getsockname()[1], app, threaded=True, fd=sock.fileno()).serve_forever()


def pin_to_cpu(cpu: int) -> None:
    """Keep this process on one core. A Python server's threads share one interpreter lock; spread over two
    cores they spend their time handing it back and forth (measured in bench/: waitress on an idle 2-core
    machine at 0.4 of its one-core speed, with erratic p99). One core per service avoids that."""
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass  # that core is not ours to use (a container's CPU set): run anywhere


def _reachable(host: str) -> str:
    """The address others reach this process at: the bound one, or for 0.0.0.0 (all of a container's addresses)
    the address its own host name resolves to (a container's /etc/hosts names its IP)."""
    if host not in ("0.0.0.0", "", "::"):
        return host
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return socket.gethostname()


def instance_name(args) -> str:
    """--name, else the service's; bound to every address (a container: one of several replicas, which share a
    command line), the service's and the host's name, so each replica is an instance of its own: catalog-3f2a1b9c."""
    service = os.path.splitext(os.path.basename(args.service))[0]
    if args.name:
        return args.name
    return f"{service}-{socket.gethostname()}" if args.host in ("0.0.0.0", "", "::") else service


def main(argv=None) -> None:
    args = parse(argv)
    die_with_parent()
    if args.cpu is not None:
        pin_to_cpu(args.cpu)  # before any thread starts: threads inherit it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a clean stop runs finally blocks and atexit
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stdout)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" noise under load
    config = json.loads(args.config)
    if not isinstance(config, dict):
        sys.exit("--config must be a JSON object")
    name = instance_name(args)
    config.setdefault("name", name)
    config.setdefault("data_dir", os.path.join(tempfile.gettempdir(), "microcosm-data", name))
    sock = socket.socket(fileno=args.fd) if args.fd is not None else listen_socket(args.port, args.host)
    config.setdefault("url", f"http://{_reachable(args.host)}:{sock.getsockname()[1]}")  # where others reach it
    module = load_module(args.service)
    where = f"http://{args.host}:{sock.getsockname()[1]}"
    if callable(getattr(module, "serve", None)) and not hasattr(module, "create_app"):  # not WSGI (the balancer)
        print(f"{name}: serving {args.service} on {where} with its own server", flush=True)
        module.serve(sock, config)
        return
    app = load_app(module, config)
    front = getattr(module, "serve_front", None) if args.server == "waitress" and config.get("front", True) else None
    if callable(front):  # the gateway: an asyncio front answers its plain routes, the app the rest (in threads)
        print(f"{name}: serving {args.service} on {where} with its asyncio front, the app in {args.threads} threads",
              flush=True)
        front(app, sock, config, args.threads)
        return
    print(f"{name}: serving {args.service} on {where} with {args.server}", flush=True)
    if args.server == "waitress":
        serve_waitress(app, sock, args.threads, app.config.get("MAX_CONTENT_LENGTH") or 1 << 20)
    elif args.server == "gunicorn":
        serve_gunicorn(app, sock, args.workers, make_app=lambda: load_app(args.service, config))
    else:
        serve_flask_dev(app, sock)


if __name__ == "__main__":
    main()
