"""What the asyncio services (the balancer, the CDN edge, the gateway's front) share to run as a process: uvloop
when it is installed, and a clean stop on SIGTERM or SIGINT (their `serve` waits for it, then closes what it opened).

    def serve(sock, config):
        async def main():
            ...start...
            await until_stopped()
            ...close...
        run(main)
"""
from __future__ import annotations

import asyncio
import signal


async def until_stopped() -> None:
    """Return once the process is asked to stop (SIGTERM, SIGINT)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run(main, use_uvloop: bool = True) -> None:
    """Run the coroutine function `main` to its end, on uvloop when installed (and wanted)."""
    if use_uvloop:
        try:
            import uvloop  # libuv's event loop: less CPU per request than asyncio's own

            uvloop.install()
        except ImportError:
            pass
    asyncio.run(main())
