"""The edge's own routes; every other path goes to the origin through the cache (flow.py).

    GET  /health          anyone: is the edge up, its region and origin
    GET  /metrics         anyone: request counts and latencies, and the cache's: hits, misses, stale,
                          revalidated, passed through, hit ratio, bytes served from the store, origin requests,
                          collapsed requests, entries and bytes stored, evictions, invalidations
    POST /_cdn/purge      admin: {"path": "/products/7"} (every variant of it), {"prefix": "/products/"},
                          or {"all": true}; answers {"purged": <entries removed>}
    GET  /_cdn/status     admin: the settings and the same counts

Purging changes what every client sees, so like `/_balancer/*` and `/_chaos` it answers only a caller
holding the launch secret (`trust.ADMIN_HEADER`, which the notebook's `Service` handle sends): anyone else
gets a 401 or 403. A purge body is a small JSON object whose fields are checked (400 naming the field).
"""
from __future__ import annotations

from aiohttp import web

from ... import trust
from ..balancer.admin import Admin as BalancerAdmin, _BadInput
from ..base import REQUEST_ID, request_id_from

ROUTES = {"/health": ("GET",), "/metrics": ("GET",), "/_cdn/purge": ("POST",), "/_cdn/status": ("GET",)}
STATES = ("HIT", "MISS", "STALE", "REVALIDATED", "PASS")


class Admin:
    """The edge's own API. `Edge` (app.py) mixes it in and sets `name`, `region`, `origin`, `store`, `counts`,
    `collapser`, `metrics`, `invalidated`, `settings()` and `error`."""

    async def admin(self, request) -> web.Response:
        path, method = request.path, request.method
        request_id = request_id_from(request.headers.get(REQUEST_ID))
        if path not in ROUTES:
            return self.error(404, f"the edge has no route {path[:200]} (its own: {', '.join(ROUTES)})", request_id)
        if method not in ROUTES[path]:
            response = self.error(405, f"{path} takes {', '.join(ROUTES[path])}, not {method[:20]}", request_id)
            response.headers["Allow"] = ", ".join(ROUTES[path])
            return response
        if path.startswith("/_cdn/"):
            refusal = trust.admin_refusal(request.headers.get(trust.ADMIN_HEADER))
            if refusal is not None:
                return self.error(*refusal, request_id, reason="admin_only")
        if path == "/health":
            return web.json_response({"status": "ok", "service": "cdn", "name": self.name, "region": self.region,
                                      "origin": self.origin.url})
        if path == "/metrics":
            return web.json_response({"service": "cdn", "name": self.name, "region": self.region,
                                      **self.metrics.snapshot(), "cache": self.cache_stats()})
        if path == "/_cdn/status":
            return web.json_response({"name": self.name, "settings": self.settings(), "cache": self.cache_stats()})
        try:
            body = await BalancerAdmin._read_json(self, request)
            return web.json_response({"purged": self.purge(body)})
        except _BadInput as bad:
            return self.error(bad.status, bad.message, request_id, **({"field": bad.field} if bad.field else {}))

    def purge(self, body: dict) -> int:
        if len(body) != 1 or next(iter(body)) not in ("path", "prefix", "all"):
            raise _BadInput(400, 'send one of {"path": "/p"}, {"prefix": "/p/"} or {"all": true}')
        (field, value), = body.items()
        if field == "all":
            if value is not True:
                raise _BadInput(400, 'field "all" must be true', field)
            return self.store.purge("")
        if not isinstance(value, str) or not value.startswith("/") or len(value) > 8192:
            raise _BadInput(400, f'field "{field}" must be a path starting with "/"', field)
        return self.store.invalidate(value) if field == "path" else self.store.purge(value)

    def cache_stats(self) -> dict:
        counts = self.counts
        lookups = counts["HIT"] + counts["MISS"] + counts["STALE"] + counts["REVALIDATED"]
        return {"hits": counts["HIT"], "misses": counts["MISS"], "stale": counts["STALE"],
                "revalidated": counts["REVALIDATED"], "passed": counts["PASS"],
                "hit_ratio": round((counts["HIT"] + counts["STALE"]) / lookups, 4) if lookups else None,
                "bytes_from_store": self.bytes_from_store, "origin_requests": self.origin.requests,
                "collapsed": self.collapser.collapsed, "invalidated": self.invalidated, **self.store.stats()}
