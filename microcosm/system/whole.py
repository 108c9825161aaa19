"""The whole system as one topology: what `microcosm.up()` starts when it is given nothing.

    browser -> cdn -> web (the shop's page)          the page then calls the gateway, from the CDN's origin
    browser -> gateway -> identity                   log in; every token checked against identity's keys
                       -> catalog-lb -> catalog-1, catalog-2
                       -> orders -> catalog-lb;  orders -> Redis stream orders.events -> inventory, notifications
                       -> carts -> orders
    every service -> registry (registration, heartbeats);  every hop -> Redis (the traffic view)
    ZooKeeper runs for the coordination experiments (chapter 08's locks and elections, and the chaos panel)

The gateway is set up as chapter 09 sets it up: the shop's routes (`web.GATEWAY_ROUTES`), CORS for the page's
origin (the CDN's, and the origin's own for a page loaded from it directly), token checks against identity, and
its rate limit in Redis. Once it runs, the web origin is told where it is (then=: the page reads it from
/config.json). Leave the CDN out with `SYSTEM.only(...)`, or make a smaller one:

    microcosm.up(SYSTEM.only("gateway"))            # the gateway and what it needs, no web shop
    microcosm.up(SYSTEM.scaled(catalog=3))          # three catalog instances behind the balancer
"""
from __future__ import annotations

from ..services.web import GATEWAY_ROUTES
from .topology import Component, Topology, link, url, urls

SYSTEM = Topology(
    Component("redis"),
    Component("zookeeper"),
    Component("registry"),
    Component("identity"),
    Component("catalog", count=2),
    Component("catalog-lb", "balancer", upstream="catalog", backends=urls("catalog")),
    Component("orders", catalog_url=url("catalog-lb"), events=url("redis"), claim_idle=1.0),
    Component("inventory", events=url("redis"), claim_idle=1.0, max_deliveries=3),
    Component("notifications", events=url("redis"), claim_idle=1.0, max_deliveries=3),
    Component("carts", redis_url=url("redis"), orders_url=url("orders")),
    Component("web", then=[("PUT", "/_web/config", {"gateway_url": link("gateway")})]),
    Component("cdn", origin=url("web"), origin_service="web"),
    Component("gateway", identity_url=url("identity"), redis_url=url("redis"), routes=GATEWAY_ROUTES,
              cors_origins=[url("cdn"), url("web")],
              upstreams={"identity": url("identity"), "catalog": url("catalog-lb"), "orders": url("orders"),
                         "carts": url("carts")}),
)
