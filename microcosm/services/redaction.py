"""Secrets out of the logs.

Every access log line prints a request's path and query string. A client that (wrongly) puts a password or a
token in the URL must not get it written to disk: `redact_access_log()` blanks such values before the line is
written. Every service installs it (`base.create_service`), and so does the balancer; identity and the gateway
also refuse such URLs outright (`SECRET_PARAMS.search(query)`), with a 400 that says where secrets belong.
"""
from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(r"(?i)\b(password|client_secret|refresh_token|access_token|token|secret)=[^&\s]*")


def redact(text: str) -> str:
    """`text` with the value of every secret-looking query parameter replaced by [redacted]."""
    if "=" not in text:  # no parameter at all: most of a log line's parts (a method, an id, a path without query)
        return text
    return SECRET_PARAMS.sub(r"\1=[redacted]", text)


class RedactSecrets(logging.Filter):
    """A logging filter that redacts a record's message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log(logger: str = "microcosm.access") -> None:
    """Install the filter on the access log (once, however often it is called)."""
    access = logging.getLogger(logger)
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
