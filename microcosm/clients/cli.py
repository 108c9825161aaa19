"""The client from a terminal: `python -m microcosm.clients ...`, the same Client a cell uses.

    python -m microcosm.clients --url http://127.0.0.1:PORT products
    python -m microcosm.clients --url http://127.0.0.1:PORT/api --token "$TOKEN" order 1 --quantity 2
    python -m microcosm.clients --url http://127.0.0.1:PORT/api --token "$TOKEN" orders
    python -m microcosm.clients --url http://127.0.0.1:PORT get /products/1 --stats
    export MICROCOSM_TOKEN=$(python -m microcosm.clients --url http://127.0.0.1:PORT login ada)

`--url` is a service's own URL (catalog for products, orders for orders) or the gateway's with `/api`;
MICROCOSM_URL and MICROCOSM_TOKEN are read when the options are left out. `--stats` prints what the client
did (attempts, retries, ...) on stderr. Exit status: 0 done, 1 the service answered with an error,
2 a mistake on the command line, 3 no answer (unreachable, timed out, or the breaker open).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from .budget import RetryBudget
from .client import Client
from .errors import ClientError, ServiceError
from .retry import JitteredBackoff, NoRetry


def options(after_command: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command's name (`... products --stats`)."""
    def default(value) -> dict:  # after the name, an option left out must not undo the same option given before
        return {"default": argparse.SUPPRESS if after_command else value}

    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--url", **default(os.environ.get("MICROCOSM_URL")),
                   help="a service's URL, or the gateway's with /api (default: $MICROCOSM_URL)")
    p.add_argument("--token", **default(os.environ.get("MICROCOSM_TOKEN")),
                   help="a bearer token (default: $MICROCOSM_TOKEN)")
    p.add_argument("--timeout", type=float, **default(5.0), help="read timeout in seconds (connect: 1 s)")
    p.add_argument("--retries", type=int, **default(3), help="retries of a failed idempotent request (0: none)")
    p.add_argument("--stats", action="store_true", **default(False), help="print what the client did on stderr")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m microcosm.clients", description="microcosm's Python client.",
                                parents=[options(after_command=False)])
    after = [options(after_command=True)]
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    c = commands.add_parser("products", help="list the products", parents=after)
    c.add_argument("--limit", type=int, default=100)
    c = commands.add_parser("order", help="place an order (POST /orders with an Idempotency-Key)", parents=after)
    c.add_argument("product_id", type=int)
    c.add_argument("--quantity", type=int, default=1)
    c.add_argument("--key", help="the Idempotency-Key (default: a new UUID); the same key again repeats nothing")
    c.add_argument("--no-key", action="store_true", help="send no key (then the order is never retried)")
    c = commands.add_parser("orders", help="list the orders", parents=after)
    c.add_argument("--limit", type=int, default=100)
    c = commands.add_parser("get", help="GET any path and print its JSON", parents=after)
    c.add_argument("path")
    c = commands.add_parser("login", help="print an access token (password from $MICROCOSM_PASSWORD, or asked)",
                            parents=after)
    c.add_argument("username")
    return p


def main(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)
    if not args.url:
        print("no URL: pass --url http://... (a service, or the gateway with /api) or set MICROCOSM_URL", file=err)
        return 2
    if args.timeout <= 0 or args.retries < 0:
        print("--timeout must be above 0 and --retries 0 or more", file=err)
        return 2
    retry = JitteredBackoff(max_retries=args.retries) if args.retries else NoRetry()
    try:
        client = Client(args.url, token=args.token, timeout=(1.0, args.timeout), retry=retry, budget=RetryBudget(),
                        name="cli")
    except ValueError as exc:
        print(exc, file=err)
        return 2
    try:
        if args.command == "products":
            _table(client.products(limit=args.limit), ("id", "name", "price_cents"), out)
        elif args.command == "orders":
            _table(client.orders(limit=args.limit), ("id", "product_name", "quantity", "total_cents", "status"), out)
        elif args.command == "order":
            key = False if args.no_key else args.key
            print(json.dumps(client.place_order(args.product_id, args.quantity, key=key), indent=2), file=out)
        elif args.command == "login":
            password = os.environ.get("MICROCOSM_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
            print(client.login(args.username, password), file=out)
        else:
            path = args.path if args.path.startswith("/") else "/" + args.path
            print(json.dumps(client.json("GET", path), indent=2), file=out)
        status = 0
    except ServiceError as exc:
        print(f"error: {exc}", file=err)
        status = 1
    except ClientError as exc:
        print(f"error: {exc}", file=err)
        status = 3
    if args.stats:
        print(json.dumps(client.stats()), file=err)
    return status


def _table(rows: list[dict], columns: tuple, out) -> None:
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    for line in [dict(zip(columns, columns))] + rows:
        print("  ".join(str(line.get(c, "")).ljust(w) for c, w in zip(columns, widths)).rstrip(), file=out)
