"""Request collapsing: N clients missing the same key at once make one origin request, not N.

The first request for a key becomes the *leader* and goes to the origin; the ones that arrive while it is
on its way are *followers*: they wait for it (at most `wait` seconds), then look in the store again. When
the leader's answer was stored they are served from it; when it could not be (it was `private`, or varies
on a header they send differently) each follower goes to the origin itself. A thundering herd of 100
requests for one product page therefore reaches the origin once (nginx calls this `proxy_cache_lock`,
Varnish does it by default).
"""
from __future__ import annotations

import asyncio


class Collapser:
    def __init__(self, wait: float = 10.0):
        self.wait = wait
        self.flights: dict[str, asyncio.Future] = {}  # key -> done when its leader has its answer
        self.collapsed = 0  # requests that waited for a leader instead of asking the origin

    def leader_of(self, key: str) -> asyncio.Future | None:
        """The flight already under way for `key`, if any."""
        return self.flights.get(key)

    def lead(self, key: str) -> asyncio.Future:
        """Become the leader for `key`; call `land(key)` when the origin's answer is stored (or failed)."""
        flight = asyncio.get_running_loop().create_future()
        self.flights[key] = flight
        return flight

    def land(self, key: str, flight: asyncio.Future) -> None:
        if self.flights.get(key) is flight:
            del self.flights[key]
        if not flight.done():
            flight.set_result(None)

    async def follow(self, flight: asyncio.Future) -> None:
        """Wait for the leader's flight (bounded: a leader stuck on a slow origin does not hold us forever)."""
        self.collapsed += 1
        try:
            await asyncio.wait_for(asyncio.shield(flight), self.wait)
        except asyncio.TimeoutError:
            pass
