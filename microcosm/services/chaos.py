"""Faults on purpose, and the admin secret that guards them.

`/_chaos` makes a service slow or failing while it runs, for the fault-injection cells and the graders:

    PUT /_chaos {"delay_ms": 300}              every request waits 300 ms first
    PUT /_chaos {"fail_next": 5}               the next 5 requests fail (503, or `fail_status`)
    PUT /_chaos {"fail_rate": 0.2}             a fifth of requests fail, at random
    DELETE /_chaos                             back to normal

Like every admin route it needs the launch secret (`require_admin`, used by the registry's writes too): on one
machine anything can reach the port, so the secret is what keeps a stranger from breaking the service.
"""
from __future__ import annotations

import random
import threading
import time

from flask import Blueprint, request

from .. import trust
from .errors import ApiError
from .inputs import Int, Number, read_json


def require_admin() -> None:
    """Refuse this request (401/403) unless it carries the launch secret (see microcosm/trust.py)."""
    refusal = trust.admin_refusal(request.headers.get(trust.ADMIN_HEADER))
    if refusal is not None:
        raise ApiError(*refusal, reason="admin_only")


class Chaos:
    """Faults on purpose: a delay on every request, the next N failing, or a share of them failing."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.delay_ms, self.fail_next, self.fail_rate, self.fail_status = 0, 0, 0.0, 503

    def state(self) -> dict:
        return {"delay_ms": self.delay_ms, "fail_next": self.fail_next, "fail_rate": self.fail_rate,
                "fail_status": self.fail_status}

    def apply(self):
        """Called before each request: wait, then fail it if a fault says so."""
        with self.lock:
            delay, fail = self.delay_ms, False
            if self.fail_next > 0:
                self.fail_next -= 1
                fail = True
            elif self.fail_rate and random.random() < self.fail_rate:
                fail = True
            status = self.fail_status
        if delay:
            time.sleep(delay / 1000)
        if fail:
            raise ApiError(status, "failure injected by /_chaos")


def chaos_routes(chaos: Chaos) -> Blueprint:
    """`GET`, `PUT` and `DELETE /_chaos`: read, set and clear `chaos`, for holders of the launch secret."""
    bp = Blueprint("microcosm_chaos", __name__)

    @bp.route("/_chaos", methods=["GET", "PUT", "DELETE"])
    def set_chaos():
        require_admin()
        if request.method == "PUT":
            body = read_json(delay_ms=Int(required=False, min=0, max=60000),
                             fail_next=Int(required=False, min=0, max=1_000_000),
                             fail_rate=Number(required=False, min=0, max=1),
                             fail_status=Int(required=False, min=400, max=599))
            with chaos.lock:
                for key, value in body.items():
                    if value is not None:
                        setattr(chaos, key, value)
        elif request.method == "DELETE":
            with chaos.lock:
                chaos.reset()
        return chaos.state()

    return bp
