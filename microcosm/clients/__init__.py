"""Clients of the system (chapter 09). This package holds the Python client, the desktop/CLI kind:

    from microcosm.clients import Client
    shop = Client(gateway.url + "/api", token=token)
    shop.products(); shop.place_order(1, quantity=2); shop.stats()

    python -m microcosm.clients --url http://127.0.0.1:PORT/api --token ... products

One idea a module:

    client.py    the Client: timeouts, idempotency keys on POSTs, and the loop that asks the breaker, sends,
                 judges the answer and decides on a retry
    retry.py     which requests may be retried (idempotent ones) and how long to wait: capped exponential
                 backoff with full jitter (JitteredBackoff), and the naive NoBackoff to compare with
    budget.py    the retry budget: retries at most a share of requests (a token bucket)
    breaker.py   the circuit breaker: closed, open, half-open with one probe
    plugins.py   how your own breaker, policy or budget is plugged in (an object, a class, 'file.py:Name')
    stats.py     what the client did: counts, every attempt, every breaker transition, with times
    errors.py    CircuitOpen, Unreachable, ServiceError
    cli.py       the terminal's commands

And what chapter 09 runs with them (web/ is the web shop's page and script, served by services/web.py):

    journey.py   a shopper's whole journey through the web shop, in Chromium driven by Playwright
    storm.py     a retry storm: a fleet of clients in each retry style against one struggling service
    outage.py    callers with and without a breaker while a service hangs and recovers
    profiles.py  one screen web vs mobile, through the network proxy (bytes, round trips, time)
    chart.py     the breaker's life and load amplification, as charts
"""
from .breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, NoBreaker
from .budget import RetryBudget, Unlimited
from .client import RETRY_STATUSES, Client
from .errors import CircuitOpen, ClientError, ServiceError, Unreachable
from .retry import JitteredBackoff, NoBackoff, NoRetry, is_idempotent

__all__ = ["Client", "RETRY_STATUSES", "CircuitBreaker", "NoBreaker", "CLOSED", "OPEN", "HALF_OPEN",
           "RetryBudget", "Unlimited", "JitteredBackoff", "NoBackoff", "NoRetry", "is_idempotent",
           "ClientError", "CircuitOpen", "Unreachable", "ServiceError"]
