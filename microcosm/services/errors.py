"""Errors a service answers with: always JSON, always saying what went wrong.

Raise `ApiError(status, message, **details)` anywhere in a route and the service answers
`{"error": ..., "message": ..., "status": ..., "request_id": ..., **details}` with that status
(the handlers that do this are installed by `create_service`, in base.py).
"""
from __future__ import annotations

from flask import g, has_request_context, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES


class ApiError(HTTPException):
    """An error answer with a status and a message; extra keyword arguments go into the JSON body."""

    def __init__(self, status: int, message: str, **details):
        self.code = status
        super().__init__(description=message)
        self.details = details


class InvalidInput(ApiError):
    """A 400 about the request's input, naming the field that is wrong when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(400, message, **({"field": field} if field else {}))


class UpstreamError(ApiError):
    """An upstream service could not be reached (503) or did not answer in time (504)."""

    def __init__(self, upstream: str, message: str, status: int = 503):
        super().__init__(status, message, upstream=upstream)
        self.upstream = upstream


def error_body(status: int, message: str, **details) -> dict:
    """The JSON body of an error answer: a machine-readable name, a sentence, the status, the request id."""
    body = {"error": error_name(status), "message": message, "status": status}
    body.update(details)
    if has_request_context() and "request_id" in g:
        body["request_id"] = g.request_id
    return body


def error_response(status: int, message: str, **details):
    """A JSON error answer, for handlers that turn an exception into one."""
    response = jsonify(error_body(status, message, **details))
    response.status_code = status
    return response


def error_name(status: int) -> str:
    """404 -> "not_found", 503 -> "service_unavailable": the status's reason phrase as an identifier."""
    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_").replace("-", "_")


def found(row, missing: str):
    """`row` if the store had it, else a 404 that says what is missing ("no product with id 7")."""
    if row is None:
        raise ApiError(404, missing)
    return row
