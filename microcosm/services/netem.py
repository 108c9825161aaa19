"""A slow, lossy link you control from a cell: the mobile profile's network, as a real proxy process.

    netem = launch("netem", upstream=gateway.url)         # then talk to netem.url instead of gateway.url
    netem.put("/_netem", json={"delay_down_ms": 150, "delay_up_ms": 150, "bandwidth": 20_000, "drop_rate": 0.1})
    netem.get("/_netem/stats").json()                     # bytes and round trips it carried, what it added

Each connection carries one request (the proxy asks the upstream to close after its answer, so the client
opens a new connection for the next request: every request is a round trip on the link). For each one:

    drop it?        `drop_next` (the next N) or `drop_rate` (a share, at random): the request is read and
                    then never answered (`drop_mode` "silent": the client's timeout decides) or the
                    connection is reset ("reset": the client sees ECONNRESET at once)
    delay_up_ms     waited before the request goes on to the upstream
    delay_down_ms   waited before the answer's first byte comes back
    bandwidth       bytes per second, shared by every connection, each direction paced on its own (0: no limit)

Settings (`PUT /_netem`, unknown or out-of-range ones are a 400; `DELETE /_netem`: back to a clean link) and
counters (`GET /_netem/stats`, `DELETE /_netem/stats` to zero them) need the launch secret, like every admin
route (microcosm/trust.py). The counters are the proxy's own accounting: `added_latency_ms` is the sum of the
delays it applied, `paced_ms` the time its bandwidth limit made bytes wait (bytes / bandwidth, by construction).
Memory is bounded whatever the traffic: a request head is at most 64 KiB, bytes move in chunks of at most
16 KiB, at most `max_connections` connections at once, the log of recent round trips keeps the last 200.
"""
from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import struct
import time
from collections import deque
from urllib.parse import urlsplit

from .. import trust
from .errors import error_name

MAX_HEAD = 64 * 1024
CHUNK = 16 * 1024
SETTINGS = {  # name: (type, min, max, default)
    "delay_up_ms": (int, 0, 60_000, 0), "delay_down_ms": (int, 0, 60_000, 0), "bandwidth": (int, 0, 10**10, 0),
    "drop_rate": (float, 0.0, 1.0, 0.0), "drop_next": (int, 0, 1_000_000, 0),
}
DROP_MODES = ("silent", "reset")
COUNTERS = ("connections", "round_trips", "dropped", "bytes_up", "bytes_down", "added_latency_ms", "paced_ms",
            "upstream_errors", "refused")


class Refusal(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.reason = status, message, field, reason


def check_settings(body) -> dict:
    """The settings in a PUT body, checked: a Refusal (400) names the first bad field and what it must be."""
    if not isinstance(body, dict):
        raise Refusal(400, "send a JSON object of settings, e.g. {\"delay_down_ms\": 100}")
    checked = {}
    for name, value in body.items():
        if name == "drop_mode":
            if value not in DROP_MODES:
                raise Refusal(400, f"drop_mode must be one of {', '.join(DROP_MODES)}", name)
            checked[name] = value
            continue
        if name not in SETTINGS:
            raise Refusal(400, f"unknown setting {str(name)[:60]!r} (known: {', '.join([*SETTINGS, 'drop_mode'])})",
                          str(name)[:60])
        kind, low, high, _ = SETTINGS[name]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        if not numeric or (kind is int and not isinstance(value, int)) or not low <= value <= high:
            raise Refusal(400, f"{name} must be {'an integer' if kind is int else 'a number'} from {low} to {high}",
                          name)
        checked[name] = kind(value)
    return checked


class Link:
    """One direction of the link: bytes leave no faster than `bandwidth`, whichever connection sends them."""

    def __init__(self):
        self.free_at = 0.0

    def wait_for(self, size: int, bandwidth: int) -> float:
        """Seconds to wait before `size` more bytes may go, and book them on the link."""
        now = time.monotonic()
        start = max(now, self.free_at)
        self.free_at = start + size / bandwidth
        return self.free_at - now


class Netem:
    def __init__(self, config: dict):
        upstream = str(config.get("upstream") or "")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"netem needs upstream='http://host:port' (where to send traffic), got {upstream!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.name = str(config.get("name", "netem"))
        self.max_connections = int(config.get("max_connections", 256))
        self.silent_hold = float(config.get("silent_hold", 30.0))  # a silently dropped connection is closed after this
        self.timeout = float(config.get("timeout", 30.0))  # an upstream silent this long: the connection is closed
        self.open = 0
        self.up, self.down = Link(), Link()
        self.reset()
        self.settings.update(check_settings({k: v for k, v in config.items() if k in SETTINGS or k == "drop_mode"}))
        self.zero()

    def reset(self):
        self.settings = {name: spec[3] for name, spec in SETTINGS.items()}
        self.settings["drop_mode"] = "silent"

    def zero(self):
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.recent = deque(maxlen=200)

    def stats(self) -> dict:
        c = dict(self.counters)
        c["added_latency_ms"], c["paced_ms"] = round(c["added_latency_ms"], 3), round(c["paced_ms"], 3)
        return {**c, "open_connections": self.open, "settings": dict(self.settings), "recent": list(self.recent)}

    # --- one connection -------------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        if self.open >= self.max_connections:
            self.counters["refused"] += 1
            writer.close()
            return
        self.open += 1
        try:
            await self.one_request(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def one_request(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return await self.answer(writer, 431, {"message": f"request head over {MAX_HEAD} bytes"})
        except asyncio.IncompleteReadError:
            return
        lines = head[:-4].split(b"\r\n")
        request_line = lines[0].decode("latin-1").split(" ")
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            return await self.answer(writer, 400, {"message": "not an HTTP/1.x request line"})
        method, target = request_line[0], request_line[1]
        path = target.split("?", 1)[0]
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                return await self.answer(writer, 400, {"message": "a malformed header line"})
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        if path == "/health" or path.startswith("/_netem"):
            return await self.local(reader, writer, method, path, headers)
        await self.forward(reader, writer, method, path, lines, headers)

    async def forward(self, reader, writer, method, path, lines, headers):
        s = self.settings
        self.counters["connections"] += 1  # requests for the upstream (its own routes are not link traffic)
        drop = False
        if s["drop_next"] > 0:
            s["drop_next"] -= 1
            drop = True
        elif s["drop_rate"] and random.random() < s["drop_rate"]:
            drop = True
        if drop:
            self.counters["dropped"] += 1
            self.recent.append({"method": method, "path": path[:200], "dropped": s["drop_mode"]})
            if s["drop_mode"] == "reset":  # RST instead of FIN: the client sees "connection reset by peer"
                linger = struct.pack("ii", 1, 0)
                writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                return
            try:  # silent: nothing comes back; wait for the client to give up (or silent_hold)
                await asyncio.wait_for(self.drain_until_eof(reader), self.silent_hold)
            except asyncio.TimeoutError:
                pass
            return
        record = {"method": method, "path": path[:200], "bytes_up": 0, "bytes_down": 0, "added_ms": 0}
        self.recent.append(record)
        kept = [line for line in lines[1:] if line.split(b":", 1)[0].strip().lower()
                not in (b"connection", b"keep-alive", b"proxy-connection")]
        head = b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"
        await self.delay("delay_up_ms", record)
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5.0)
        except (OSError, asyncio.TimeoutError) as exc:
            self.counters["upstream_errors"] += 1
            return await self.answer(writer, 502, {"message": f"netem could not reach its upstream: {type(exc).__name__}"})
        try:
            pump = None
            await self.send(up_writer, head, self.up, "bytes_up", record)
            pump = asyncio.ensure_future(self.pipe(reader, up_writer, self.up, "bytes_up", record))
            first = await asyncio.wait_for(up_reader.read(CHUNK), self.timeout)
            if first:
                await self.delay("delay_down_ms", record)
                self.counters["round_trips"] += 1
            while first:
                await self.send(writer, first, self.down, "bytes_down", record)
                first = await asyncio.wait_for(up_reader.read(CHUNK), self.timeout)
        finally:
            if pump is not None:
                pump.cancel()
            up_writer.close()

    async def drain_until_eof(self, reader):
        while await reader.read(CHUNK):
            pass

    async def pipe(self, reader, writer, link, counter, record):
        while data := await reader.read(CHUNK):
            await self.send(writer, data, link, counter, record)

    async def delay(self, setting: str, record: dict):
        ms = self.settings[setting]
        if ms:
            self.counters["added_latency_ms"] += ms
            record["added_ms"] += ms
            await asyncio.sleep(ms / 1000)

    async def send(self, writer, data: bytes, link: Link, counter: str, record: dict):
        bandwidth = self.settings["bandwidth"]
        step = max(1, min(CHUNK, bandwidth // 20)) if bandwidth else len(data)
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            if bandwidth:
                self.counters["paced_ms"] += len(piece) / bandwidth * 1000
                await asyncio.sleep(link.wait_for(len(piece), bandwidth))
            writer.write(piece)
            await writer.drain()
            self.counters[counter] += len(piece)
            record[counter] += len(piece)

    # --- its own routes -----------------------------------------------------------------------------
    async def local(self, reader, writer, method, path, headers):
        given = {name.lower(): value for name, value in headers}
        try:
            length = int(given.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_HEAD:
            return await self.answer(writer, 400, {"message": f"Content-Length must be 0 to {MAX_HEAD}"})
        body = await reader.readexactly(length)
        try:
            status, answer = self.admin(method, path, given, body)
        except Refusal as exc:
            status, answer = exc.status, {"message": exc.message, **({"field": exc.field} if exc.field else {}),
                                       **({"reason": exc.reason} if exc.reason else {})}
        await self.answer(writer, status, answer)

    def admin(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        routes = {"/health": ("GET",), "/_netem": ("GET", "PUT", "DELETE"), "/_netem/stats": ("GET", "DELETE")}
        if path not in routes:
            raise Refusal(404, f"netem has no route {path[:100]} (its own: {', '.join(routes)})")
        if method not in routes[path]:
            raise Refusal(405, f"{path} does not accept {method[:20]} (allowed: {', '.join(routes[path])})")
        if path == "/health":
            return 200, {"status": "ok", "service": "netem", "name": self.name}
        refusal = trust.admin_refusal(headers.get(trust.ADMIN_HEADER.lower()))
        if refusal is not None:
            raise Refusal(*refusal, field=None, reason="admin_only")
        if path == "/_netem/stats":
            if method == "DELETE":
                self.zero()
            return 200, self.stats()
        if method == "PUT":
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise Refusal(400, "the body must be JSON, e.g. {\"delay_down_ms\": 100}") from None
            self.settings.update(check_settings(parsed))
        elif method == "DELETE":
            self.reset()
        return 200, dict(self.settings)

    async def answer(self, writer, status: int, body: dict):
        data = json.dumps({"error": error_name(status), **body, "status": status} if status >= 400 else body).encode()
        writer.write(f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        await writer.drain()


def serve(sock: socket.socket, config: dict) -> None:
    """Run the proxy on `sock` until SIGTERM/SIGINT (what `python -m microcosm.serve netem` calls)."""
    async def main():
        netem = Netem(config)
        server = await asyncio.start_server(netem.handle, sock=sock, limit=MAX_HEAD, backlog=512)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())
