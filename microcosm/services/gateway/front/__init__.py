"""The gateway's asyncio front: the plain routes answered on an event loop, everything else by the Flask app.

Under waitress every request costs the gateway a Flask request (its context, hooks, routing and response
objects) on top of its own work: measured (bench/RESULTS.md, issue 12), more CPU per request than the service
behind it spends answering. The front serves the gateway's port with aiohttp's low-level server on uvloop (as
the balancer and the cdn edge do) and answers the plain routes (`/api/products/...`, the routing table's)
itself, with the same code the Flask views call, in the same order; whatever else arrives it hands to the
Flask app that `create_app(config)` built, in a thread. `front=False` in the config keeps waitress alone.

    server.py        which half answers a request; what every answer gets (request id, metrics, hop, log); serve
    plain.py         a plain route on the loop: edge checks, route, token, owner, rate limit, forward, answer
    fast.py          a plain GET/HEAD read straight from the connection's bytes (the balancer's FastConnection)
    forward.py       the call to one instance, on the balancer's pooled asyncio connections
    redis_async.py   the rate limit's EVALSHA on one pipelined asyncio Redis connection
    bridge.py        the WSGI bridge: a request as waitress would give it to the Flask app, run in a thread
"""
from __future__ import annotations

from .server import Front, serve

serve_front = serve  # what serve.py looks for on a service's module (the gateway package names it so)

__all__ = ["Front", "serve", "serve_front"]
