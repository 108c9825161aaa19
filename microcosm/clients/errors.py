"""What the client raises when it has no good answer to give.

    ClientError          the base of all three
    ├── CircuitOpen      the breaker refused: nothing was sent (a fast failure)
    ├── Unreachable      no answer at all (refused, reset, timed out), after the retries the client was allowed
    └── ServiceError     an answer with an error status (4xx, 5xx): raised by the helpers (products(),
                         place_order(), ...) only; `Client.request` returns every answer it gets
"""
from __future__ import annotations


class ClientError(Exception):
    """Something the client could not do; `method` and `url` say what it tried."""

    def __init__(self, message: str, method: str = "", url: str = ""):
        super().__init__(message)
        self.method, self.url = method, url


class CircuitOpen(ClientError):
    """The circuit breaker is open (or half-open with its probe out): the request was not sent."""

    def __init__(self, method: str, url: str, state: str):
        super().__init__(f"{method} {url} not sent: the circuit breaker is {state}", method, url)
        self.state = state


class Unreachable(ClientError):
    """No answer after `attempts` attempts; `cause` is the last network error (requests' exception)."""

    def __init__(self, method: str, url: str, attempts: int, cause: BaseException, why: str):
        super().__init__(f"{method} {url}: no answer after {attempts} attempt{'s' * (attempts != 1)} "
                         f"({type(cause).__name__}); {why}", method, url)
        self.attempts, self.cause = attempts, cause


class ServiceError(ClientError):
    """The service answered with an error: `status`, and its JSON error (`body`, with a `message`)."""

    def __init__(self, method: str, url: str, status: int, body):
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"{method} {url} -> {status}: {message or str(body)[:200]}", method, url)
        self.status, self.body = status, body
