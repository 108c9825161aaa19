"""Is this machine ready for the course? `check_environment()` looks and says what to do about what is not.

    import microcosm
    microcosm.check_environment()          # a table in Jupyter: check, status, detail, what to do

Each check is one small function that returns a `Check`. Required parts decide `report.ok`; optional ones
(a browser for the client chapter) only warn.
"""
from __future__ import annotations

import html
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from dataclasses import dataclass

from . import paths
from .infra import REDIS_ENV, ZK_ENV, install_hint, zookeeper_classpath
from .ports import HOST, listen_socket

OK, FAIL, WARN = "ok", "fail", "warn"
SYMBOLS = {OK: "✓", FAIL: "✗", WARN: "!"}
COLOURS = {OK: "#1a7f37", FAIL: "#cf222e", WARN: "#9a6700"}
MIN_PYTHON = (3, 10)
MIN_REDIS = (5, 0)   # Redis Streams (the message broker chapter) arrived in 5.0
MIN_JAVA = 8         # ZooKeeper 3.8 runs on Java 8 and later
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_APPS = ("/Applications/Chromium.app/Contents/MacOS/Chromium",
                 "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str            # "ok", "fail" or "warn"
    detail: str
    todo: str = ""         # what to do about it ("" when nothing)
    required: bool = True

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]


class EnvironmentReport(list):
    """The checks, shown as a table. `ok` is True when every required part is fine."""

    columns = ("check", "status", "detail", "what to do")

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self if c.required)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self if c.status != OK]

    def __getitem__(self, key):
        if isinstance(key, str):
            for check in self:
                if check.name == key:
                    return check
            raise KeyError(key)
        return super().__getitem__(key)

    def summary(self) -> str:
        if self.ok and not self.problems:
            return "Everything the course needs is here."
        if self.ok:
            return "Everything required is here; see the notes marked ! for optional parts."
        missing = ", ".join(c.name for c in self if c.required and c.status == FAIL)
        return f"Not ready yet: {missing}. Do what the last column says, then run the check again."

    def _rows(self):
        for c in self:
            name = c.name if c.required else f"{c.name} (optional)"
            yield name, c.symbol, c.detail, c.todo

    def __repr__(self) -> str:
        rows = [self.columns] + list(self._rows())
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
        return "\n".join(line.rstrip() for line in lines) + "\n" + self.summary()

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in self.columns)
        body = ""
        for check, (name, symbol, detail, todo) in zip(self, self._rows()):
            todo = f"<code>{html.escape(todo)}</code>" if todo else ""
            body += (f"<tr><td style='text-align:left'>{html.escape(name)}</td>"
                     f"<td style='text-align:center;color:{COLOURS[check.status]};font-weight:bold'>{symbol}</td>"
                     f"<td style='text-align:left'>{html.escape(detail)}</td>"
                     f"<td style='text-align:left'>{todo}</td></tr>")
        colour = COLOURS[OK if self.ok else FAIL]
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p style='color:{colour}'><b>{html.escape(self.summary())}</b></p>")


# --- the checks ------------------------------------------------------------------------------------
def _version(text: str, pattern: str) -> tuple[int, ...] | None:
    match = re.search(pattern, text)
    return tuple(int(p) for p in re.findall(r"\d+", match.group(1))) if match else None


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run: {exc}"
    return (done.stdout + done.stderr).strip()


def _pip_hint(package: str) -> str:
    return f"{sys.executable} -m pip install {package}   (or run `make lab`, which installs everything)"


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    detail = f"Python {version} ({sys.executable})"
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("Python", OK, detail)
    need = ".".join(map(str, MIN_PYTHON))
    return Check("Python", FAIL, f"{detail}; microcosm needs {need} or newer",
                 f"use Python {need}+ for the kernel and the .venv (run `make lab` with a newer python3)")


def _ping(host: str, port: int, command: bytes) -> bytes:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(command)
            return s.recv(64)
    except OSError:
        return b""


def check_redis() -> Check:
    if os.environ.get(REDIS_ENV):
        url = os.environ[REDIS_ENV]
        match = re.match(r"redis://([^:/]+)(?::(\d+))?", url)
        host, port = (match.group(1), int(match.group(2) or 6379)) if match else (HOST, 6379)
        if _ping(host, port, b"PING\r\n").startswith(b"+PONG"):
            return Check("Redis", OK, f"attached to {url} ({REDIS_ENV})")
        return Check("Redis", FAIL, f"{REDIS_ENV}={url}, but nothing answers PING there",
                     f"start that Redis server, or unset {REDIS_ENV} so microcosm starts its own")
    binary = shutil.which("redis-server")
    if not binary:
        return Check("Redis", FAIL, "redis-server not found on PATH", install_hint("redis"))
    version = _version(_run([binary, "--version"]), r"v=(\d+\.\d+(?:\.\d+)?)")
    if version is None:
        return Check("Redis", FAIL, f"{binary} did not say its version", install_hint("redis"))
    shown = ".".join(map(str, version))
    if version[:2] < MIN_REDIS:
        return Check("Redis", FAIL, f"redis-server {shown} at {binary}; streams need 5.0 or newer",
                     install_hint("redis"))
    return Check("Redis", OK, f"redis-server {shown} ({binary})")


def check_java() -> Check:
    binary = shutil.which("java")
    if not binary:
        return Check("Java", FAIL, "java not found on PATH (ZooKeeper runs on it)", install_hint("java"))
    out = _run([binary, "-version"])
    version = _version(out, r'version "([\d._]+)')
    if version is None:
        return Check("Java", FAIL, f"{binary} -version said: {out[:80]}", install_hint("java"))
    major = version[1] if version[0] == 1 and len(version) > 1 else version[0]  # "1.8.0" is Java 8
    shown = ".".join(map(str, version))
    if major < MIN_JAVA:
        return Check("Java", FAIL, f"Java {shown} at {binary}; ZooKeeper needs {MIN_JAVA} or newer",
                     install_hint("java"))
    return Check("Java", OK, f"Java {shown} ({binary})")


def _zookeeper_version(classpath: list[str]) -> str:
    for entry in classpath:
        base = os.path.basename(entry)
        if not (base.startswith("zookeeper") and base.endswith(".jar")):
            continue
        match = re.match(r"zookeeper-(\d+\.\d+\.\d+)\.jar$", base)
        if match:
            return match.group(1)
        try:
            with zipfile.ZipFile(entry) as jar:
                text = jar.read("META-INF/maven/org.apache.zookeeper/zookeeper/pom.properties").decode()
            found = re.search(r"^version=(\S+)", text, re.M)
            if found:
                return found.group(1)
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
    return "version unknown"


def check_zookeeper() -> Check:
    if os.environ.get(ZK_ENV):
        hosts = os.environ[ZK_ENV]
        host, _, port = hosts.split(",")[0].partition(":")
        if _ping(host or HOST, int(port or 2181), b"ruok") == b"imok":
            return Check("ZooKeeper", OK, f"attached to {hosts} ({ZK_ENV})")
        return Check("ZooKeeper", FAIL, f"{ZK_ENV}={hosts}, but it does not answer 'ruok'",
                     f"start that ZooKeeper server, or unset {ZK_ENV} so microcosm starts its own")
    classpath = zookeeper_classpath()
    jars = [p for p in classpath if p.endswith(".jar")]
    if not jars:
        return Check("ZooKeeper", FAIL, "no ZooKeeper installation found (ZOOKEEPER_HOME, Debian, Homebrew, conda)",
                     install_hint("zookeeper"))
    folder = os.path.dirname(jars[0])
    return Check("ZooKeeper", OK, f"ZooKeeper {_zookeeper_version(jars)} ({folder})")


def check_port() -> Check:
    try:
        sock = listen_socket(0)
    except OSError as exc:
        return Check("free loopback port", FAIL, f"cannot listen on {HOST}: {exc.strerror or exc}",
                     "services need the loopback interface: check firewall/sandbox rules for 127.0.0.1")
    try:
        port = sock.getsockname()[1]
        with socket.create_connection((HOST, port), timeout=2):
            pass
        return Check("free loopback port", OK, f"bound {HOST}:{port} and connected to it")
    except OSError as exc:
        return Check("free loopback port", FAIL, f"bound {HOST}:{port} but could not connect: {exc}",
                     "services need the loopback interface: check firewall/sandbox rules for 127.0.0.1")
    finally:
        sock.close()


def check_run_folder() -> Check:
    try:
        folder = paths.run_dir()
        probe = folder / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        where = getattr(exc, "filename", None) or paths.runs_root()
        return Check("run folder", FAIL, f"cannot write {where}: {exc.strerror or exc}",
                     f"make it writable, or set {paths.RUN_DIR_ENV}=/a/folder/you/own")
    return Check("run folder", OK, f"{folder} is writable")


def check_ipywidgets() -> Check:
    try:
        import ipywidgets
    except ImportError:
        return Check("ipywidgets", FAIL, "cannot import ipywidgets (the live traffic widgets need it)",
                     _pip_hint("ipywidgets"))
    return Check("ipywidgets", OK, f"ipywidgets {ipywidgets.__version__}")


def _chromium_hint() -> str:
    if os.environ.get("CONDA_PREFIX") or platform.system() not in ("Linux", "Darwin"):
        return "install Chromium or Google Chrome"
    if platform.system() == "Darwin":
        return "brew install --cask chromium"
    if shutil.which("apt-get"):
        return "sudo apt-get install -y chromium   (or run `make test`, which installs everything)"
    return "install chromium with your system's package manager"


def check_chromium() -> Check:
    found = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    found = found or next((p for p in CHROMIUM_APPS if os.path.exists(p)), None)
    if not found:
        return Check("Chromium", WARN, "no Chromium/Chrome found: only the browser tests of the client chapter need it",
                     _chromium_hint(), required=False)
    return Check("Chromium", OK, f"{found}", required=False)


CHECKS = (check_python, check_redis, check_java, check_zookeeper, check_port, check_run_folder,
          check_ipywidgets, check_chromium)


def check_environment() -> EnvironmentReport:
    """Check what the course needs on this machine; show the result for a table of what to do."""
    report = EnvironmentReport()
    for check in CHECKS:
        try:
            report.append(check())
        except Exception as exc:  # a check that breaks is itself a finding, never a traceback
            name = check.__name__.removeprefix("check_")
            report.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}",
                                "please report this"))
    return report
