"""What the identity provider's steps cost: password hashing, signing and checking tokens, and its endpoints.

    .venv/bin/python bench/identity_tokens.py [--seconds 3]

In this process: one argon2id verification with the provider's settings, RS256 signing and verifying
(`microcosm.tokens.verify` with the JWKS in hand). Over HTTP, one client, sequential requests, against a
launched provider (pinned to one core like every service): the password grant (argon2 bound), the refresh grant
(no hashing: SQLite + one signature) and /userinfo (one verification). Prints a Markdown table; asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

import microcosm
from microcosm.services.identity import DEFAULT_ARGON2, Passwords, public_jwk, thumbprint
from microcosm.tokens import verify


def rate(fn, seconds: float) -> tuple[float, float]:
    """(operations per second, median ms) of fn run back to back for `seconds`."""
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return len(times) / sum(times), statistics.median(times) * 1000


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=3.0)
    s = p.parse_args(argv).seconds
    rows = []

    hasher = Passwords(DEFAULT_ARGON2["time_cost"], DEFAULT_ARGON2["memory_kib"], DEFAULT_ARGON2["parallelism"])
    stored = hasher.hash("correct horse battery")
    rows.append(("argon2id verify (t=3, 64 MiB, p=1), in process", *rate(lambda: hasher.check(stored, "guess"), s)))

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = thumbprint(key.public_key())
    jwks = {"keys": [public_jwk(key.public_key(), kid)]}
    now = int(time.time())
    claims = {"iss": "bench", "aud": "microcosm", "sub": "ada", "iat": now, "nbf": now, "exp": now + 3600,
              "jti": "j", "scope": "orders:write"}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    rows.append(("RS256 sign (2048-bit), in process", *rate(lambda: jwt.encode(claims, key, algorithm="RS256",
                                                                            headers={"kid": kid}), s)))
    rows.append(("tokens.verify (RS256 + claims), in process",
                 *rate(lambda: verify(token, jwks, "bench", "microcosm", ["orders:write"]), s)))

    with tempfile.TemporaryDirectory() as data:
        identity = microcosm.launch("identity", name="identity-bench", data_dir=data, traffic=False)
        try:
            http = requests.Session()
            http.post(f"{identity.url}/users", json={"username": "ada", "password": "correct horse battery"})
            login = lambda: http.post(f"{identity.url}/token", data={  # noqa: E731
                "grant_type": "password", "username": "ada", "password": "correct horse battery"}).json()
            rows.append(("POST /token password grant, over HTTP", *rate(login, s)))
            state = login()

            def refresh():
                state.update(http.post(f"{identity.url}/token", data={
                    "grant_type": "refresh_token", "refresh_token": state["refresh_token"]}).json())

            rows.append(("POST /token refresh grant, over HTTP", *rate(refresh, s)))
            bearer = {"Authorization": f"Bearer {state['access_token']}"}
            rows.append(("GET /userinfo (verifies the token), over HTTP",
                         *rate(lambda: http.get(f"{identity.url}/userinfo", headers=bearer), s)))
            rows.append(("GET /health (baseline), over HTTP", *rate(lambda: http.get(f"{identity.url}/health"), s)))
        finally:
            identity.stop()
            identity.forget()

    print("| step | per second | median ms |\n|---|---:|---:|")
    for name, per_second, ms in rows:
        print(f"| {name} | {per_second:,.0f} | {ms:.2f} |")


if __name__ == "__main__":
    main()
