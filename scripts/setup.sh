#!/usr/bin/env bash
# Set up everything microcosm needs, on this machine, from the repository's root:
#   1. system programs: redis-server, ZooKeeper (+ a headless Java), nginx (chapter 12's yardstick), Chromium
#      (for browser tests);
#      installed with apt on Debian/Ubuntu when missing, named for you elsewhere;
#   2. a Python virtual environment in .venv with microcosm and its dev extras installed (editable);
#   3. mermaid.js for `make book`, fetched once with npm when npm is there.
# `make lab` and `make test` call it. A second run is quick: apt is skipped when every program is there,
# and pip is skipped while pyproject.toml and this script are unchanged (stamp: .venv/.setup-done).
# Environment: PYTHON=python3.12 to pick the interpreter; MICROCOSM_SKIP_APT=1 to never call apt;
# CI=true (as CI services set it): a Chromium that cannot be installed stops the set-up with an error instead
# of a warning, so the browser tests can never be skipped quietly.
# Sourcing this file (`source scripts/setup.sh`) only defines its functions: the tests check them that way.
set -euo pipefail

VENV=.venv
STAMP="$VENV/.setup-done"

say()  { printf '==> %s\n' "$*"; }
warn() { printf '!!  %s\n' "$*" >&2; }
die()  { printf 'xx  %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# CI=true, CI=1, CI=yes ...: truthy unless empty, 0, false, no or off (tests/browser/conftest.py agrees).
in_ci() {
    local ci
    ci=$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')
    case "$ci" in ""|0|false|no|off) return 1 ;; *) return 0 ;; esac
}

# --- 1. system packages -----------------------------------------------------------------------------
have_java()      { have java && java -version >/dev/null 2>&1; }  # macOS has a /usr/bin/java stub without a JDK
have_zookeeper() {
    [ -e /usr/share/java/zookeeper.jar ] || [ -n "${ZOOKEEPER_HOME:-}" ] ||
        [ -d /opt/homebrew/opt/zookeeper ] || [ -d /usr/local/opt/zookeeper ]
}
have_chromium()  { have chromium || have chromium-browser || [ -x /snap/bin/chromium ] ||
                   [ -d "/Applications/Chromium.app" ]; }
have_venv()      { "$1" -c 'import venv, ensurepip' >/dev/null 2>&1; }

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10; do
        [ -n "$candidate" ] && have "$candidate" || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# Does apt offer a chromium package? The policy is read into a variable first and matched without a pipe:
# `apt-cache policy chromium | grep -q ...` fails under `set -o pipefail`, because grep -q exits at the first
# match and apt-cache, still writing, dies of SIGPIPE (status 141), so the whole pipeline counted as "no".
chromium_candidate() {
    local policy
    policy=$(apt-cache policy chromium 2>/dev/null) || return 1
    [[ $policy =~ Candidate:\ [0-9] ]]
}

# Chromium could not be installed: a warning on a learner's machine (only the browser tests need it),
# an error under CI, where a skipped browser test would look like a passing one.
chromium_missing() {
    if in_ci; then
        die "$* -- CI is set ($CI), and without /usr/bin/chromium the browser tests cannot run"
    fi
    warn "$*"
    warn "the browser tests will be skipped without Chromium (with CI=true they fail instead)"
}

apt_setup() {
    local sudo=() missing=() py
    have redis-server  || missing+=(redis-server)
    have_zookeeper     || missing+=(zookeeper)
    have_java          || missing+=(default-jre-headless)
    [ -x /usr/sbin/nginx ] || missing+=(nginx-light)  # chapter 12 sets our balancer and CDN edge beside it
    py=$(pick_python || echo python3)
    { have "$py" && have_venv "$py"; } || missing+=(python3-venv)
    if [ ${#missing[@]} -eq 0 ] && have_chromium; then
        say "system packages: all there (redis-server, java, zookeeper, nginx, chromium)"
        return 0
    fi
    if [ "${MICROCOSM_SKIP_APT:-}" = 1 ]; then
        have_chromium || missing+=(chromium)
        warn "MICROCOSM_SKIP_APT=1: not installing what is missing: ${missing[*]}"
        have_chromium || chromium_missing "MICROCOSM_SKIP_APT=1 and chromium is not installed"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo; then
            sudo=(sudo)
        else
            warn "not root and no sudo: please install these yourself, then run again:"
            warn "  apt-get install --no-install-recommends ${missing[*]:-} chromium"
            have_chromium || chromium_missing "not root and no sudo: cannot install chromium"
            return 0
        fi
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q)
    local updated=0
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing system packages with apt: ${missing[*]}"
        "${apt[@]}" update >/dev/null || die "apt-get update failed"
        updated=1
        "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null ||
            die "apt-get install failed for: ${missing[*]} (run it by hand to see why)"
    fi
    if ! have_chromium; then
        # Debian ships Chromium as the deb `chromium`; Ubuntu only as a snap (`chromium-browser` is a stub).
        if [ $updated = 0 ] && ! ls /var/lib/apt/lists/*Packages* >/dev/null 2>&1; then
            "${apt[@]}" update >/dev/null || true
        fi
        if chromium_candidate; then
            say "installing chromium with apt (for the browser tests)"
            # a stale package list names a version the mirror no longer has: update once, try again
            "${apt[@]}" install --no-install-recommends chromium >/dev/null ||
                { [ $updated = 0 ] && "${apt[@]}" update >/dev/null &&
                  "${apt[@]}" install --no-install-recommends chromium >/dev/null; } ||
                chromium_missing "apt-get install chromium failed (run it by hand to see why)"
            have_chromium || chromium_missing "apt installed chromium, but no chromium program is on the PATH"
        else
            chromium_missing "apt has no chromium package here (Ubuntu ships Chromium only as a snap:" \
                             "sudo snap install chromium)"
        fi
    fi
}

other_setup() {
    local missing=()
    have redis-server || missing+=(redis)
    have_zookeeper    || missing+=(zookeeper)
    have_java         || missing+=(openjdk)
    have_chromium     || missing+=(chromium)
    if [ ${#missing[@]} -eq 0 ]; then
        say "system programs: all there (redis-server, java, zookeeper, chromium)"
        return 0
    fi
    if [ "$(uname -s)" = Darwin ]; then
        warn "missing: ${missing[*]}. With Homebrew: brew install redis zookeeper openjdk chromium"
        warn "(then put openjdk's java on your PATH as brew's message says)"
    else
        warn "missing: ${missing[*]}. Install redis-server, ZooKeeper, a Java runtime and Chromium"
        warn "with your package manager (or conda: conda env create -f environment.yml)."
    fi
    have_chromium || chromium_missing "chromium is not installed (this set-up installs it only on Debian)"
    warn "continuing: notebooks that need a missing program will tell you so"
}

# --- 3. mermaid.js for `make book` ---------------------------------------------------------------------
# The executed edition (scripts/book.py) draws its diagrams with mermaid.js from npm's `mermaid` package,
# fetched once with npm into .venv/share/microcosm/, so its pages (and their browser test) work offline.
# Without npm only `make book` and that test miss it: a note here; under CI npm is installed with apt (an
# error if that fails, as for Chromium).
mermaid_setup() {
    local version out
    version=$(sed -n 's/^MERMAID_VERSION = "\([^"]*\)".*/\1/p' scripts/book.py)
    [ -n "$version" ] && [ -f "$VENV/share/microcosm/mermaid-$version.min.js" ] && return 0  # fetched before
    if ! have npm && in_ci && [ "${MICROCOSM_SKIP_APT:-}" != 1 ]; then
        # under CI the book's browser test must run: npm from apt (a learner's `make lab` does not need it)
        local sudo=()
        [ "$(id -u)" -ne 0 ] && have sudo && sudo=(sudo)
        say "installing npm with apt (CI: the readable edition's browser test needs mermaid.js once)"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends npm \
            >/dev/null || die "apt-get install npm failed (run it by hand to see why)"
    fi
    if ! have npm; then
        in_ci && die "npm is missing: make book and its browser test need it once, to fetch mermaid.js"
        say "no npm: make book will ask for it (to fetch mermaid.js once); nothing else needs it"
        return 0
    fi
    say "fetching mermaid.js $version with npm, for make book"
    out=$("$VENV/bin/python" scripts/book.py --fetch-mermaid 2>&1) && return 0
    in_ci && die "$out"
    warn "$out"
}

# Sourced (by a test): the functions above are defined, nothing is run.
(return 0 2>/dev/null) && return 0

here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here/.."
[ -f pyproject.toml ] && [ -f scripts/setup.sh ] || die "cannot find the microcosm repository"

if have apt-get && [ -r /etc/debian_version ]; then
    apt_setup
else
    other_setup
fi

# --- 2. Python virtual environment --------------------------------------------------------------------
PY=$(pick_python) || die "microcosm needs Python 3.10 or newer (python3 --version says: $(python3 --version 2>&1 || echo none))"

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    warn "$VENV is broken or too old; making it again"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PY" --version 2>&1)"
    "$PY" -m venv "$VENV" || die "could not create $VENV (on Debian/Ubuntu: apt-get install python3-venv)"
fi

hash_of() {
    if have sha256sum; then cat "$@" | sha256sum | cut -d' ' -f1; else cat "$@" | shasum -a 256 | cut -d' ' -f1; fi
}
want="$(hash_of pyproject.toml scripts/setup.sh) $("$VENV/bin/python" --version 2>&1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    say "$VENV: up to date"
else
    say "installing microcosm and its Python packages into $VENV (a few minutes the first time)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]' ||
        die "pip install failed (see above)"
    # jsonschema imports rfc3987-syntax when it is there, and that compiles 39 grammars at import: measured here,
    # 2 s more for every process that imports nbformat (each grader and nbgrader run, JupyterLab's start, pytest
    # with nbval). It checks the syntax of "iri" strings in JSON schemas, which nothing here uses (jupyter-events
    # pulls it in with jsonschema's format-nongpl extra); without it, jsonschema skips that one format.
    "$VENV/bin/python" -m pip uninstall --quiet --yes rfc3987-syntax >/dev/null 2>&1 || true
    echo "$want" > "$STAMP"
    say "$VENV: ready"
fi
mermaid_setup
