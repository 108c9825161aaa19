"""Reading a request's input: a JSON body checked field by field, and integer query parameters.

Bad input is the caller's mistake, so it gets a 4xx that says what is wrong (which field, what was expected,
what arrived), never a 500:

    body = read_json(product_id=Int(min=1), quantity=Int(min=1, max=100), note=Str(required=False, max=200))
    limit = query_int("limit", default=20, low=1, high=100)
"""
from __future__ import annotations

import re

from flask import request

from .errors import ApiError, InvalidInput


class Field:
    """One expected JSON field: its type, whether it is required, its limits (`min`, `max`)."""

    kind = "value"
    types: tuple = (object,)

    def __init__(self, required: bool = True, default=None, **limits):
        self.required, self.default, self.limits = required, default, limits

    def check(self, name: str, value):
        """`value` if it has this field's type and limits; an InvalidInput naming the field otherwise."""
        if not isinstance(value, self.types) or isinstance(value, bool) and bool not in self.types:
            raise InvalidInput(f"field '{name}' must be {self.kind}, got {json_type(value)}", name)
        low, high = self.limits.get("min"), self.limits.get("max")
        size = len(value) if isinstance(value, str) else value  # a string's limits are on its length
        what = "length" if isinstance(value, str) else "value"
        if low is not None and size < low:
            raise InvalidInput(f"field '{name}' {what} must be at least {low}", name)
        if high is not None and size > high:
            raise InvalidInput(f"field '{name}' {what} must be at most {high}", name)
        return value


class Int(Field):
    kind, types = "an integer", (int,)


class Number(Field):
    kind, types = "a number", (int, float)


class Str(Field):
    kind, types = "a string", (str,)


class Bool(Field):
    kind, types = "true or false", (bool,)


class Obj(Field):
    kind, types = "an object", (dict,)


def json_type(value) -> str:
    """What a JSON value is, in the words an error message uses ("a string", "null", ...)."""
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def read_json(**fields: Field) -> dict:
    """The request's JSON object, checked against `fields`; a 4xx that says what is wrong otherwise."""
    if not request.mimetype == "application/json":
        raise ApiError(415, f"send JSON with 'Content-Type: application/json' (got '{request.mimetype or 'none'}')")
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput("the body is not valid JSON")
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object, got {json_type(body)}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}' (expected: {', '.join(fields)})", unknown[0])
    out = {}
    for name, field in fields.items():
        if name not in body:
            if field.required:
                raise InvalidInput(f"field '{name}' is required", name)
            out[name] = field.default
        else:
            out[name] = field.check(name, body[name])
    return out


_WHOLE = re.compile(r"-?[0-9]{1,18}")


def whole_number(text, low: int, high: int) -> int | None:
    """`text` as an integer if it is a plain decimal one ("42", "-3") from low to high, else None.
    ("²".isdigit() is True and "1_0", " 7", "0x10" are all things int() accepts: none is a number here.)"""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def query_int(name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name` as an integer from low to high (default when absent), or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise InvalidInput(f"query parameter '{name}' must be an integer from {low} to {high}", name)
    return value
