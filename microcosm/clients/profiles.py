"""Web vs mobile, measured: one screen loaded the way each client loads it, through the network proxy.

    netem = launch("netem", upstream=gateway.url, delay_down_ms=150, delay_up_ms=150, bandwidth=20_000)
    figures = profiles.compare(netem, token, "ada", order=7)
    profiles.table(figures); print(profiles.verdict(figures))

A screen is the shop's home screen: a list of products, the user's cart, the status of their latest order.
- `web_screen`: what the web page does, one call after the other (`GET /api/products`, then
  `GET /api/carts/<user>`, then `GET /api/orders/<id>`); with `preflight=True` also the CORS preflight
  (`OPTIONS`) a browser sends first for each call that carries a token, when its preflight cache is empty.
- `mobile_screen`: the app's one call to the backend for frontend, `GET /api/mobile/home`.

`measure` runs a screen through the proxy (`netem`, the handle `launch("netem", ...)` returned) and reads the
proxy's own counters before and after, so the figures are what crossed the slow link: bytes each way, round
trips, the latency and the pacing the link added; and `seconds`, the time until the whole screen was there
(time to first useful screen), measured by the client. Nothing else should use the proxy while it measures.
"""
from __future__ import annotations

import time
from urllib.parse import quote

import requests

COUNTED = ("round_trips", "bytes_up", "bytes_down", "added_latency_ms", "paced_ms", "dropped")


def web_screen(base_url: str, token: str, user: str, order: int | None = None, preflight: bool = False,
               timeout: float = 30.0, origin: str = "http://127.0.0.1") -> dict:
    """The web page's calls for one screen, in its order; returns what the screen shows."""
    auth = {"Authorization": f"Bearer {token}"}
    calls = [("/api/products", {}), (f"/api/carts/{quote(user, safe='')}", auth)]
    if order:
        calls.append((f"/api/orders/{int(order)}", auth))
    shown = {}
    for path, headers in calls:
        if preflight and headers:
            asked = requests.options(base_url + path, timeout=timeout, headers={
                "Origin": origin, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization"})
            asked.raise_for_status()  # a browser stops here too: no preflight, no call
        answer = requests.get(base_url + path, headers=headers, timeout=timeout)
        answer.raise_for_status()
        shown[path.split("/")[2]] = answer.json()
    return shown


def mobile_screen(base_url: str, token: str, user: str, order: int | None = None, limit: int = 6,
                  timeout: float = 30.0) -> dict:
    """The mobile app's one call for the same screen; returns what the screen shows."""
    params = {"limit": limit, **({"order": int(order)} if order else {})}
    answer = requests.get(f"{base_url}/api/mobile/home", params=params, timeout=timeout,
                          headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return answer.json()


def counters(netem) -> dict:
    stats = netem.get("/_netem/stats")
    stats.raise_for_status()
    return {k: stats.json()[k] for k in COUNTED}


def measure(netem, screen, *args, **kwargs) -> dict:
    """Run `screen(netem.url, *args, **kwargs)` once through the proxy: what crossed the link, and how long."""
    before = counters(netem)
    started = time.perf_counter()
    screen(netem.url, *args, **kwargs)
    seconds = time.perf_counter() - started
    after = counters(netem)
    figures = {k: round(after[k] - before[k], 3) for k in COUNTED}
    figures["bytes"] = figures["bytes_up"] + figures["bytes_down"]
    figures["seconds"] = round(seconds, 3)
    return figures


def compare(netem, token: str, user: str, order: int | None = None, preflight: bool = False, repeat: int = 1,
            origin: str = "http://127.0.0.1") -> dict:
    """{"web": figures, "mobile": figures} for one screen, each the median run of `repeat` (by seconds)."""
    def median(screen, **kwargs):
        runs = sorted((measure(netem, screen, token, user, order, **kwargs) for _ in range(repeat)),
                      key=lambda f: f["seconds"])
        return runs[len(runs) // 2]

    return {"web": median(web_screen, preflight=preflight, origin=origin), "mobile": median(mobile_screen)}


def table(figures: dict) -> str:
    """The figures as a small text table (one row per profile)."""
    columns = ("round_trips", "bytes_up", "bytes_down", "bytes", "added_latency_ms", "paced_ms", "seconds")
    rows = [f"{'profile':<8}" + "".join(f"{c:>18}" for c in columns)]
    for name, f in figures.items():
        rows.append(f"{name:<8}" + "".join(f"{f[c]:>18}" for c in columns))
    return "\n".join(rows)


def verdict(figures: dict) -> str:
    """A sentence computed from the figures (never written in advance)."""
    web, mobile = figures["web"], figures["mobile"]
    fewer = web["bytes"] / mobile["bytes"] if mobile["bytes"] else float("inf")
    faster = web["seconds"] / mobile["seconds"] if mobile["seconds"] else float("inf")
    return (f"web: {web['round_trips']} round trips, {web['bytes']} bytes, {web['seconds']} s; mobile: "
            f"{mobile['round_trips']} round trip(s), {mobile['bytes']} bytes, {mobile['seconds']} s "
            f"-> the mobile screen moved {fewer:.1f}x fewer bytes and was ready {faster:.1f}x sooner.")
