"""A real nginx beside microcosm's own parts, for side-by-side figures: Debian's /usr/sbin/nginx in the foreground
with a generated config in a temp prefix, on a free loopback port; stopped by `stop()`.

    nginx = Nginx([b.url for b in backends])     # a reverse proxy over keep-alive connections to the backends
    ...
    nginx.stop()

    nginx = cached_nginx(origin.url)             # the same, with a proxy_cache zone: a cache to set beside the CDN edge

bench/balancer_vs_nginx.py and bench/cdn_vs_nginx.py measure with them, chapter 12 runs a short side by side.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .ports import HOST, free_port, is_listening

NGINX = "/usr/sbin/nginx"
NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream catalog {{
{servers}
        keepalive 32;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://catalog;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


class Nginx:
    """Debian's nginx in the foreground with a generated config in a temp prefix (`conf`: another template with
    the same fields, e.g. bench/cdn_vs_nginx.py's proxy_cache one)."""

    def __init__(self, backends: list[str], workers: str = "auto", conf: str = NGINX_CONF):
        if not os.path.exists(NGINX):
            raise FileNotFoundError(f"{NGINX} is not installed (Debian/Ubuntu: apt-get install nginx-light)")
        self.prefix = Path(tempfile.mkdtemp(prefix="microcosm-nginx-"))
        self.port = free_port()
        servers = "\n".join(f"        server {u.split('//', 1)[1]};" for u in backends)
        conf = conf.format(workers=workers, prefix=self.prefix, servers=servers, host=HOST, port=self.port)
        (self.prefix / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen([NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                                      "-e", str(self.prefix / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not is_listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.prefix / "error.log").read_text() if (self.prefix / "error.log").exists() else ""
                self.stop()
                raise RuntimeError(f"nginx did not start:\n{log}")
            time.sleep(0.05)
        self.url, self.pid = f"http://{HOST}:{self.port}", self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


def installed() -> bool:
    return os.path.exists(NGINX)


CACHE_PATH = "    proxy_cache_path @CACHE@ levels=1:2 keys_zone=edge:10m max_size=256m inactive=10m use_temp_path=off;\n"
CACHING = """\
            proxy_cache edge;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status always;
"""
# the reverse proxy's config (the same start-up, upstream keep-alive, headers), plus a cache zone and its use
NGINX_CACHE_CONF = NGINX_CONF.replace("    upstream catalog {{", CACHE_PATH + "    upstream catalog {{").replace(
    "            proxy_next_upstream error timeout http_502 http_503;\n", CACHING)
assert "@CACHE@" in NGINX_CACHE_CONF and "proxy_cache edge;" in NGINX_CACHE_CONF


def cached_nginx(origin_url: str, workers: str = "auto") -> Nginx:
    """nginx with proxy_cache in front of `origin_url`. Its cache lives in a folder that its workers can reach
    even when the master runs as root (workers then run as nobody, and the temp prefix is 0700)."""
    outer = tempfile.mkdtemp(prefix="microcosm-nginx-cache-")
    os.chmod(outer, 0o755)
    nginx = Nginx([origin_url], workers, conf=NGINX_CACHE_CONF.replace("@CACHE@", os.path.join(outer, "cache")))
    stop = nginx.stop

    def stop_and_clean():
        stop()
        shutil.rmtree(outer, ignore_errors=True)

    nginx.stop = stop_and_clean
    return nginx
