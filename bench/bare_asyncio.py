"""The floor under the balancer: an asyncio server on uvloop that answers every request itself, proxying nothing.

    python bench/bare_asyncio.py PORT --aiohttp     # aiohttp's low-level server (the balancer's front half)
    python bench/bare_asyncio.py PORT --protocol    # a bare asyncio.Protocol: find the head's end, answer

Both answer each keep-alive request with the same small JSON product as catalog. What the balancer costs per
request beyond the first is its proxying; beyond the second, what aiohttp's server itself costs. Not HTTP-
complete (the bare protocol ignores request bodies): a measuring stick, never a server to use.
"""
from __future__ import annotations

import argparse
import asyncio

BODY = b'{"id": 1, "name": "Teapot", "price_cents": 1999, "stock": 10}'
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY


class Bare(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4:]
            self.transport.write(ANSWER)


async def serve(port: int, use_aiohttp: bool) -> None:
    loop = asyncio.get_running_loop()
    if use_aiohttp:
        from aiohttp import web, web_server

        async def handle(request):
            return web.Response(body=BODY, content_type="application/json")

        factory = web_server.Server(handle, access_log=None)
    else:
        factory = Bare
    server = await loop.create_server(factory, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("port", type=int)
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--aiohttp", action="store_true")
    kind.add_argument("--protocol", action="store_true")
    args = p.parse_args(argv)
    try:
        import uvloop  # as the balancer runs

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.port, args.aiohttp))


if __name__ == "__main__":
    main()
