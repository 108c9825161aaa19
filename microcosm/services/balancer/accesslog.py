"""The balancer's access log, written off the request's path.

A line per request through Python's logging costs the event loop a LogRecord, the redaction filter
(redaction.py), the formatting and a write to stdout with its flush, all before the next request is read
(measured in bench/RESULTS.md, issue 12: the access log added about 80-120 us to a proxied request). So a request
only notes its line's time and arguments (`AccessLog.line`, a deque append); a writer thread wakes every
`every` seconds and turns what has gathered into log records, filtered and formatted by the same logger and
handlers as before, written in one piece per handler. The lines are the same, up to `every` seconds later.

No line is lost at a clean stop: `close()` (the balancer's, on SIGTERM/SIGINT) writes what is left before the
process ends. A process killed with SIGKILL loses at most the last `every` seconds of lines.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

access_log = logging.getLogger("microcosm.access")


class AccessLog:
    def __init__(self, logger: logging.Logger = access_log, every: float = 0.05):
        self.logger, self.every = logger, every
        self.pending: deque = deque()  # (time, format, args); append and popleft are safe across threads
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self.thread.start()

    def line(self, fmt: str, *args) -> None:
        """Note one line (logging's %-format and its arguments), to be written by the writer thread."""
        self.pending.append((time.time(), fmt, args))

    def close(self) -> None:
        """Write every line noted so far, and stop the writer thread."""
        self.stopping.set()
        self.thread.join(timeout=10)
        self.write()  # (if the thread could not finish in time, what is left is written here)

    def _run(self) -> None:
        while not self.stopping.wait(self.every):
            self.write()
        self.write()

    def write(self) -> None:
        """Turn the noted lines into records (the logger's filters, such as the redaction, apply) and hand
        them to the handlers logging would have used, one write per stream handler."""
        records = []
        while self.pending:
            created, fmt, args = self.pending.popleft()
            if not self.logger.isEnabledFor(logging.INFO):
                continue
            record = self.logger.makeRecord(self.logger.name, logging.INFO, __file__, 0, fmt, args, None)
            record.created, record.msecs = created, (created - int(created)) * 1000
            if self.logger.filter(record):
                records.append(record)
        if records:
            for handler in self._handlers():
                self._emit(handler, records)

    def _handlers(self) -> list[logging.Handler]:
        """The handlers `logger.handle` would reach: the logger's own, then its parents' while they propagate."""
        found, logger = [], self.logger
        while logger is not None:
            found += logger.handlers
            if not logger.propagate:
                break
            logger = logger.parent
        return found or [logging.lastResort]

    @staticmethod
    def _emit(handler: logging.Handler, records: list) -> None:
        mine = [r for r in records if r.levelno >= handler.level and handler.filter(r)]
        if not mine:
            return
        if type(handler) is not logging.StreamHandler:  # a file or anything else: its own way, record by record
            for record in mine:
                handler.handle(record)
            return
        with handler.lock:
            try:
                handler.stream.write("".join(handler.format(r) + handler.terminator for r in mine))
                handler.flush()
            except Exception:  # what logging does: a broken stream must not stop the balancer
                handler.handleError(mine[0])
