"""The WSGI bridge: a request the front does not answer itself goes to the gateway's Flask app, in a thread.

Composition, translation, the BFF, OpenAPI, CORS, `/_gateway`, `/health`, `/metrics`, `/_chaos`, unknown
paths, and every request that is not a well-formed plain-route request: the Flask app (`create_app(config)`,
the one chapter 05 reads) answers them as it does under waitress. So the bridge gives the app the environ
waitress gives it:

- `REQUEST_URI` the request target as sent, `PATH_INFO` its path percent-decoded and read as latin-1,
  `QUERY_STRING` as sent, `REMOTE_ADDR`, `SERVER_*`, `wsgi.*`;
- each header as `HTTP_NAME` (`CONTENT_TYPE`, `CONTENT_LENGTH` without the prefix), a repeated header's values
  joined by ", ", and a header whose name holds `_` dropped (it would read like one with `-`: a client could
  smuggle `X_User` past a filter of `X-User`);
- the body in `wsgi.input`, read whole first, and only up to the app's limit (`max_body`, 64 KiB by default):
  a longer one is a 413 in JSON, answered before the body is read.

The app runs in the front's thread pool (the blocking calls it makes, to services and Redis, never hold up the
event loop); its answer is sent back as it gave it.
"""
from __future__ import annotations

import io
import sys
from urllib.parse import unquote_to_bytes

from aiohttp import web
from multidict import CIMultiDict

SPECIAL = {"CONTENT_TYPE", "CONTENT_LENGTH"}


class TooBig(Exception):
    """The body is over the limit."""


async def read_body(request, limit: int) -> bytes:
    """The whole body, or TooBig once more than `limit` bytes arrived (chunked bodies have no length first)."""
    if request.content_length is not None and request.content_length > limit:
        raise TooBig(request.content_length)
    if not request.body_exists:
        return b""
    if request.headers.get("Expect", "").lower() == "100-continue":  # the client waits for a go-ahead (curl does
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # over 1 KiB), as waitress gives it
    data = bytearray()
    while piece := await request.content.readany():
        data += piece
        if len(data) > limit:
            raise TooBig(len(data))
    return bytes(data)


def fields_of(request) -> dict:
    """The request's headers as waitress reads them: lower-case name -> value, the bytes read as latin-1, a
    repeated header's values joined by ", ", a name holding `_` dropped. (aiohttp reads them as UTF-8 and keeps
    each repeated one apart: a token with a byte over 127, or two Authorization headers, must read the same.)"""
    return fields_from((name.decode("latin-1"), value.decode("latin-1")) for name, value in request.raw_headers)


def fields_from(pairs) -> dict:
    """fields_of's dict from (name, value) pairs as sent."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        if "_" in name:
            continue
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return fields


def environ_of(request, body: bytes, server: tuple) -> dict:
    """The WSGI environ waitress would give the app for this request."""
    target = request.raw_path
    path, _, query = target.partition("?")
    if not path.startswith("/"):  # absolute form, `GET http://host/path`: the edge checks refuse it with a 400
        path = "/"
    environ = {
        "REQUEST_METHOD": request.method, "SCRIPT_NAME": "",
        "PATH_INFO": "/" + unquote_to_bytes(path.split("#", 1)[0]).decode("latin-1").lstrip("/"),
        "QUERY_STRING": query.split("#", 1)[0], "REQUEST_URI": target,
        "SERVER_NAME": server[0], "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "", "REMOTE_HOST": request.remote or "",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in fields_of(request).items():
        key = name.upper().replace("-", "_")
        environ[key if key in SPECIAL else "HTTP_" + key] = value
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        environ["CONTENT_LENGTH"] = str(len(body))  # as waitress: the app sees the length it got
    return environ


def call_app(app, environ: dict) -> tuple[str, list, bytes]:
    """Run the WSGI app (in a thread): its status line, its headers and its whole body."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return lambda data: None  # the legacy write(): Flask never uses it

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return answer["status"], answer["headers"], body


def response_of(status: str, headers: list, body: bytes, method: str) -> web.Response:
    """The app's answer as aiohttp sends it (its own Content-Length, except for a HEAD: the GET's)."""
    code, _, reason = status.partition(" ")
    out = CIMultiDict(headers)
    if method != "HEAD":
        out.popall("Content-Length", None)
        return web.Response(status=int(code), reason=reason or None, headers=out, body=body)
    return web.Response(status=int(code), reason=reason or None, headers=out)
