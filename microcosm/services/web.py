"""web: the web shop's origin, a service that serves static files (component 1, chapter 09).

    shop = microcosm.launch("web")                                    # serves microcosm/clients/web/
    gateway = microcosm.launch("gateway", cors_origins=[shop.url], routes=web.GATEWAY_ROUTES,
                               upstreams={"identity": identity.url, ...})
    shop.put("/_web/config", json={"gateway_url": gateway.link})      # where the page's script calls
    shop.link                                                         # open it in a browser

The shop is a page and a script, plain HTML and JavaScript with no build step and no library from elsewhere:
everything it runs comes from this origin. The browser does the rest: it calls the gateway, from another
origin, so the gateway must allow it (CORS, gateway/cors.py). What an origin has to get right:

- **Only the files it was given.** The folder (config `root`, default microcosm/clients/web/) is listed once
  at start: its files, not hidden ones (a name starting with '.'), not symlinks, not Python. A request names one
  of those files or gets a JSON 404. The path is read as the client sent it and split like the gateway does
  (gateway/paths.py): `..` and `.` however encoded, encoded slashes or backslashes, empty segments, control
  characters and double encoding are a 400, and the file is found by looking the decoded path up in the list,
  never by joining it to a folder: no path the client writes can name a file outside the list.
  Files added later are served after a restart; a listed file's new contents are served at once.
- **The right type.** Content-Type comes from a fixed table of extensions (`TYPES`), with
  `X-Content-Type-Options: nosniff` so a browser never guesses (a guessed type is how an uploaded "image"
  runs as a script).
- **Caching that a CDN can use** (chapter 10 puts one in front): every file has an `ETag` (a hash of its
  bytes) and a `Last-Modified`; a request with `If-None-Match` (or `If-Modified-Since`) for the same version
  is a 304 without a body. HTML and config.json say `Cache-Control: no-cache` (keep it, but ask every time, so
  a new version of the page is seen at once); scripts, styles and images `public, max-age=<max_age>`
  (config, default 60 s), and they are also served under a name holding a hash of their bytes
  (`shop.3f2a9c1d0b.js`, fingerprint.py) with `public, max-age=31536000, immutable`: a new version is a new
  name, so it can be cached for a year. Pages are served rewritten to name the current fingerprinted files
  (so a page's ETag and Last-Modified change when one of its scripts does); an older version's name is a 404.
- **What the page may do**: `Content-Security-Policy` lets it run scripts and styles from this origin only
  (no inline script: an injected `<script>` does not run) and connect only to itself and the gateway.

`/config.json` tells the page where the gateway is: `gateway_url` from the launch config, or set while it runs
with `PUT /_web/config {"gateway_url": ...}` (the launch secret only, like every admin route; kept in the
data folder for a restart without `gateway_url`). Launch order explains why: the gateway must know the shop's
origin (`cors_origins`) before it starts, and the shop learns the gateway's address after. On Binder both go
through jupyter-server-proxy (`Service.link`), one origin for both, and the browser needs no CORS at all.

Config: `root`, `max_age`, `gateway_url`, `poll_ms` (how often the page asks for an order's status).
"""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import NamedTuple

from flask import Response, g, request

from . import fingerprint
from .base import ApiError, Int, Str, create_service, error_response, read_json, require_admin
from .conditional import last_modified_header, not_modified, strong_etag
from .gateway import paths

ROOT = Path(__file__).resolve().parent.parent / "clients" / "web"
TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8", ".webmanifest": "application/manifest+json", ".woff2": "font/woff2",
}
REVALIDATE = (".html", ".json")  # always asked again (no-cache): the page and its settings
NEVER_SERVED = (".py", ".pyc")
# what the page needs from the back end beyond the gateway's default routes (products, orders, carts): logging
# in, staying logged in, logging out, all at the identity provider, all public (the grant checks the password)
GATEWAY_ROUTES = [
    {"prefix": "/api/token", "service": "identity", "path": "/token", "methods": {"POST": None},
     "summary": "Log in (password grant) and stay logged in (refresh_token grant): the identity provider's /token."},
    {"prefix": "/api/revoke", "service": "identity", "path": "/revoke", "methods": {"POST": None},
     "summary": "Log out: the refresh token's whole family is revoked (the identity provider's /revoke)."},
]
URL_PATH = r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*"
GATEWAY_URL = re.compile(rf"^(https?://[A-Za-z0-9.\-\[\]:]+(/{URL_PATH})?|/(?!/){URL_PATH})$")  # a path, but not //host


class Served(NamedTuple):
    data: bytes
    etag: str
    mtime: float
    fingerprinted: str | None  # the name it is also served under, with a hash of its bytes (fingerprint.py)
    immutable: bool = False  # asked for by that name: cacheable for a year


class Files:
    """The files an origin serves: a listing made once, each file's bytes and ETag read when it changes. Scripts,
    styles and images are also served under a fingerprinted name, and pages are rewritten to name them so."""

    def __init__(self, root: Path):
        self.root = root
        self.listed = dict(self._walk(root))  # "css/shop.css" -> its Path
        self.cache: dict[str, tuple] = {}  # name -> (version, Served); a page's version includes its assets'
        self.lock = threading.Lock()

    @staticmethod
    def _walk(root: Path):
        if not root.is_dir():
            raise ValueError(f"web: root {root} is not a folder")
        for folder, dirs, files in os.walk(root):  # symlinked folders are not followed
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
            for name in sorted(files):
                path = Path(folder) / name
                if name.startswith(".") or path.suffix in NEVER_SERVED or path.is_symlink():
                    continue
                yield path.relative_to(root).as_posix(), path

    def _cached(self, key: str, version, make) -> Served:
        with self.lock:
            cached = self.cache.get(key)
        if cached is None or cached[0] != version:
            cached = (version, make())
            with self.lock:
                self.cache[key] = cached
        return cached[1]

    def _read(self, name: str) -> Served | None:
        """A listed file as it is on disk now."""
        try:
            stat = self.listed[name].stat()
        except OSError:
            return None  # listed at start, deleted since

        def read():
            data = self.listed[name].read_bytes()
            alias = None if name.endswith(REVALIDATE) else fingerprint.fingerprinted_name(name, data)
            return Served(data, strong_etag(data), stat.st_mtime, alias)

        try:
            return self._cached(name, (stat.st_mtime_ns, stat.st_size), read)
        except OSError:
            return None  # deleted (or made unreadable) between the stat and the read

    def _page(self, name: str, page: Served) -> Served:
        """A page naming the current fingerprinted names of the assets it links to."""
        assets = {n: f for n in self.listed if not n.endswith(REVALIDATE) and (f := self._read(n)) is not None}
        current = {n: f.fingerprinted for n, f in assets.items()}
        mtime = max([page.mtime] + [f.mtime for f in assets.values()])  # a newer asset is a newer page

        def rewrite():
            data = fingerprint.rewrite_references(page.data, name, current)
            return Served(data, strong_etag(data), mtime, None)

        return self._cached("page:" + name, (page.etag, tuple(sorted(current.items())), mtime), rewrite)

    def get(self, name: str) -> Served | None:
        """A listed file (a page rewritten), or a file asked for by its current fingerprinted name; else None."""
        if name in self.listed:
            found = self._read(name)
            return self._page(name, found) if found is not None and name.endswith(".html") else found
        plain = fingerprint.plain_name(name)
        if plain is None or plain[0] not in self.listed:
            return None
        found = self._read(plain[0])
        if found is None or found.fingerprinted != name:
            return None  # an older version's name: its bytes are gone
        return found._replace(immutable=True)


def content_type(name: str) -> str:
    return TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


def cache_control(name: str, max_age: int) -> str:
    return "no-cache" if name.endswith(REVALIDATE) else f"public, max-age={max_age}"


def origin_of(url: str) -> str | None:
    """'http://127.0.0.1:8002/x' -> 'http://127.0.0.1:8002'; a path (same origin) -> None."""
    found = re.match(r"^(https?://[^/]+)", url or "")
    return found.group(1) if found else None


def create_app(config: dict):
    app = create_service("web", config)
    files = Files(Path(config.get("root") or ROOT).expanduser().resolve())
    max_age = int(config.get("max_age", 60))
    data_dir = Path(config["data_dir"])
    saved = data_dir / "web_config.json"
    settings = {"gateway_url": str(config.get("gateway_url") or "").rstrip("/"),
                "poll_ms": int(config.get("poll_ms", 500))}
    if not settings["gateway_url"]:  # not given at launch: what PUT /_web/config set before a restart, if anything
        try:
            settings.update({k: v for k, v in json.loads(saved.read_text()).items() if k in settings})
        except (OSError, ValueError, AttributeError):
            pass

    @app.before_request
    def file_name():
        """The file a request names, read from the path as the client sent it (not Flask's decoded one): an
        unsafe path is refused here, before routing (which would merge `//` into `/` and redirect)."""
        try:
            parts = paths.segments(paths.raw_path(request.environ))
        except paths.UnsafePath as exc:
            return error_response(400, str(exc), reason="unsafe_path")
        g.file_name = "/".join(parts) or "index.html"
        return None

    @app.get("/config.json")
    def page_config():
        """The page's settings: where the gateway is, how often to ask for an order's status."""
        body = json.dumps(settings, sort_keys=True).encode()
        etag = strong_etag(body)
        fresh = not_modified(etag)
        response = Response(b"" if fresh else body, status=304 if fresh else 200, content_type="application/json")
        response.headers["ETag"], response.headers["Cache-Control"] = etag, "no-cache"
        return response

    @app.put("/_web/config")
    def set_config():
        """Tell the page where the gateway is (launch secret only): {"gateway_url": ..., "poll_ms": ...}."""
        require_admin()
        body = read_json(gateway_url=Str(required=False, max=500), poll_ms=Int(required=False, min=100, max=60_000))
        url = body.get("gateway_url")
        if url is not None:
            if not GATEWAY_URL.match(url):
                raise ApiError(400, "gateway_url: an http(s) URL (http://127.0.0.1:8002) or a path on this "
                                    "host (/user/me/proxy/8002/)", field="gateway_url")
            settings["gateway_url"] = url.rstrip("/")
        if body.get("poll_ms") is not None:
            settings["poll_ms"] = body["poll_ms"]
        data_dir.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(settings))
        return dict(settings)

    @app.get("/")
    @app.get("/<path:rest>")
    def serve(rest: str = ""):
        """A listed file (found by its name in the list, never by a path joined to a folder), or a 404."""
        name = g.file_name
        found = files.get(name)
        if found is None:
            raise ApiError(404, f"no file /{name[:200]} here", reason="no_such_file")
        fresh = not_modified(found.etag, found.mtime)  # the client's copy is this version: 304, no body
        response = Response(b"" if fresh else found.data, status=304 if fresh else 200,
                            content_type=content_type(name))
        response.headers["ETag"] = found.etag
        response.headers["Last-Modified"] = last_modified_header(found.mtime)
        response.headers["Cache-Control"] = fingerprint.IMMUTABLE if found.immutable else cache_control(name, max_age)
        return response

    @app.after_request
    def page_rules(response: Response) -> Response:
        """What the page may load and call (CSP), no type guessing; a refusal is never cached as the file."""
        gateway = origin_of(settings["gateway_url"])
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'{' ' + gateway if gateway else ''}; base-uri 'none'; form-action 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


__all__ = ["GATEWAY_ROUTES", "ROOT", "TYPES", "Files", "Served", "cache_control", "content_type", "create_app",
           "not_modified"]
