"""The Python client (the desktop/CLI kind): one object that talks to one base URL and survives a bad network.

    from microcosm.clients import Client
    shop = Client(gateway.url + "/api", token=token)   # or a service's own URL: Client(catalog.url)
    shop.products()                                    # [{"id": 1, "name": ..., "price_cents": ...}, ...]
    shop.place_order(product_id=1, quantity=2)         # POST /orders with a fresh Idempotency-Key
    shop.get("/products/1")                            # any request: a requests.Response
    shop.stats()                                       # attempts, retries, budget refusals, fast failures

Every request goes through the same steps:

1. **idempotency key**: a POST gets an `Idempotency-Key` (a new UUID, or the one you pass; `idempotency_key=False`
   sends none), the same one on each of its retries, so the service can tell a retry from a new order;
2. **breaker** (breaker.py): asked before each attempt; if it refuses, nothing is sent and `CircuitOpen` is
   raised at once (a fast failure);
3. **timeouts**: every attempt has a connect timeout and a read timeout (`timeout=(connect_s, read_s)`): no call
   can hang for ever;
4. **the answer is judged**: no answer, a timeout or a 429/5xx is a failure; the breaker is told either way
   (a 4xx counts as a working service);
5. **retry?** (retry.py, budget.py): a failure is retried only if the request is idempotent (GET, PUT, DELETE;
   a POST only with a key), the policy still wants to (its delay is not None) and the budget has a token.
   The client then sleeps the policy's delay (full jitter) and goes back to step 2.

The last answer is returned, even a 503 (like `requests`); no answer at all raises `Unreachable`.
The breaker, the retry policy and the budget are plugins (plugins.py): chapter 09's lab writes its own.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import requests

from .breaker import CircuitBreaker, NoBreaker
from .budget import RetryBudget, Unlimited
from .errors import CircuitOpen, ServiceError, Unreachable
from .plugins import DEFAULT, plug
from .retry import IDEMPOTENCY_KEY, JitteredBackoff, NoRetry, is_idempotent
from .stats import Stats

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # answers that say "try again later"
MAX_RETRY_AFTER = 5.0  # a Retry-After longer than this (seconds) is not waited for: the client gives up


class Client:
    """A client of one base URL. `retry`, `budget` and `breaker`: an object, a class, 'file.py:Name', or None
    (off); left out, the reference ones with their defaults. `timeout` is (connect, read) in seconds."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: tuple[float, float] = (1.0, 5.0),
                 retry: Any = DEFAULT, budget: Any = DEFAULT, breaker: Any = DEFAULT, name: str = "client",
                 headers: dict | None = None, sleep=time.sleep):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the base URL must start with http:// or https://, got {base_url!r:.80}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = plug("retry", retry, JitteredBackoff, NoRetry)
        self.budget = plug("budget", budget, RetryBudget, Unlimited)
        self.breaker = plug("breaker", breaker, CircuitBreaker, NoBreaker)
        self.name = name
        self.headers = {"X-Caller": name, **(headers or {})}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.sleep = sleep  # how the client waits before a retry (a test may count the waits instead)
        self.log = Stats()
        self._local = threading.local()  # a connection pool per thread: requests.Session is not thread-safe

    # --- the one way every request goes ------------------------------------------------------------------
    def request(self, method: str, path: str = "/", *, idempotency_key: str | bool | None = None,
                headers: dict | None = None, timeout: tuple[float, float] | float | None = None,
                **kwargs) -> requests.Response:
        """Send `method path` (json=, params=, data= as in requests) with the steps above; the last answer."""
        method, url = method.upper(), self.base_url + path
        headers = {**self.headers, "X-Request-ID": uuid.uuid4().hex, **(headers or {})}  # one id, every attempt
        if method in ("POST", "PATCH") and idempotency_key is not False:
            if not any(name.lower() == IDEMPOTENCY_KEY.lower() for name in headers):
                headers[IDEMPOTENCY_KEY] = idempotency_key if isinstance(idempotency_key, str) else str(uuid.uuid4())
        number = self.log.add("requests")
        self.budget.deposit()
        attempt = 0
        while True:
            attempt += 1
            if not self._ask_breaker():
                self.log.add("fast_failures")
                self.log.add("gave_up")
                self.log.log_attempt(request=number, attempt=attempt, method=method, path=path,
                                     outcome="circuit open", ms=0.0, then="failed fast")
                raise CircuitOpen(method, url, self.breaker.state)
            self.log.add("attempts")
            if attempt > 1:
                self.log.add("retries")
            started = time.perf_counter()
            answer, error = None, None
            try:
                answer = self._session().request(method, url, headers=headers, timeout=timeout or self.timeout,
                                                 **kwargs)
                outcome = str(answer.status_code)
            except requests.Timeout as exc:  # connect or read: either way, no answer in time
                error, outcome = exc, "timeout"
            except requests.ConnectionError as exc:  # refused, reset, DNS
                error, outcome = exc, "unreachable"
            except requests.exceptions.ChunkedEncodingError as exc:  # the connection broke in the middle of the body
                error, outcome = exc, "broken"
            ms = round((time.perf_counter() - started) * 1000, 3)
            self._tell_breaker(answer is not None and answer.status_code < 500)
            if answer is not None and answer.status_code not in RETRY_STATUSES:
                self.log.log_attempt(request=number, attempt=attempt, method=method, path=path, outcome=outcome,
                                     ms=ms, then="done")
                return answer
            self.log.add("failures")
            wait, why = self._retry_wait(method, headers, attempt, answer)
            self.log.log_attempt(request=number, attempt=attempt, method=method, path=path, outcome=outcome,
                                 ms=ms, **({"wait": wait} if wait is not None else {"then": why}))
            if wait is None:
                self.log.add("gave_up")
                if answer is not None:
                    return answer  # the last answer, a 429 or 5xx: the caller judges it
                raise Unreachable(method, url, attempt, error, why) from error
            self.sleep(wait)

    def _retry_wait(self, method: str, headers: dict, attempt: int, answer) -> tuple[float | None, str]:
        """(seconds to wait before retrying, "") or (None, why not)."""
        if not self.retry.retryable(method, headers):
            if not is_idempotent(method, headers):
                return None, "not retried: not idempotent (a POST needs an Idempotency-Key)"
            return None, f"not retried: the policy retries no {method}"
        wait = self.retry.delay(attempt)  # retry number `attempt`: the first retry follows attempt 1
        if wait is None:
            return None, "not retried: the policy gave up"
        retry_after = (answer.headers.get("Retry-After", "") if answer is not None else "").strip()
        if retry_after.isdigit() and retry_after.isascii():  # the service said when to come back
            if int(retry_after) > MAX_RETRY_AFTER:
                return None, f"not retried: the service asked for {retry_after} s"
            wait = max(wait, float(retry_after))
        if not self.budget.withdraw():
            self.log.add("budget_refusals")
            return None, "not retried: the retry budget is spent"
        return max(0.0, float(wait)), ""

    def _ask_breaker(self) -> bool:
        was = self.breaker.state
        allowed = self.breaker.allow()
        self._saw(was)
        return allowed

    def _tell_breaker(self, ok: bool) -> None:
        was = self.breaker.state
        if ok:
            self.breaker.success()
        else:
            self.breaker.failure()
        self._saw(was)

    def _saw(self, was: str) -> None:
        now = self.breaker.state
        if now != was:
            self.log.saw_state(was, now)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    # --- shortcuts -----------------------------------------------------------------------------------------
    def get(self, path: str = "/", **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # --- the shop, as JSON (an error status raises ServiceError) --------------------------------------------
    def json(self, method: str, path: str, **kwargs):
        answer = self.request(method, path, **kwargs)
        try:
            body = answer.json()
        except ValueError:
            body = {"message": answer.text[:200]}
        if answer.status_code >= 400:
            raise ServiceError(method.upper(), self.base_url + path, answer.status_code, body)
        return body

    def login(self, username: str, password: str) -> str:
        """Log in (OAuth password grant, POST /token: the identity provider's own URL, or the gateway's /api
        with web.GATEWAY_ROUTES); the client sends the token from now on. Returns the access token."""
        answer = self.json("POST", "/token", data={"grant_type": "password", "username": username,
                                                   "password": password}, idempotency_key=False)
        self.headers["Authorization"] = f"Bearer {answer['access_token']}"
        return answer["access_token"]

    def products(self, limit: int = 100) -> list[dict]:
        return self.json("GET", "/products", params={"limit": limit})["products"]

    def product(self, product_id: int) -> dict:
        return self.json("GET", f"/products/{int(product_id)}")

    def place_order(self, product_id: int, quantity: int = 1, *, key: str | bool | None = None) -> dict:
        """POST /orders. `key`: your Idempotency-Key (send the same to retry the same order), None: a new one,
        False: none (then the POST is never retried)."""
        return self.json("POST", "/orders", json={"product_id": product_id, "quantity": quantity},
                         idempotency_key=key)

    def orders(self, limit: int = 100) -> list[dict]:
        return self.json("GET", "/orders", params={"limit": limit})["orders"]

    def order(self, order_id: int) -> dict:
        return self.json("GET", f"/orders/{int(order_id)}")

    # --- what it did ----------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """The counts (stats.py) and the breaker's state now."""
        return {**self.log.counts(), "breaker": self.breaker.state}

    @property
    def attempts(self) -> list[dict]:
        """Every attempt, oldest first (stats.py says what an entry holds)."""
        return list(self.log.attempts)

    @property
    def breaker_events(self) -> list[dict]:
        """Every change of the breaker's state, oldest first: {"t", "state", "was"}."""
        return list(self.log.breaker_events)

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, retry={self.retry!r}, budget={self.budget!r}, breaker={self.breaker!r})"
