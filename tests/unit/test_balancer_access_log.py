"""The balancer's access log written by a thread of its own (microcosm/services/balancer/accesslog.py): the same
lines as logging writes them itself, redacted the same way, in order, and none lost at a clean stop."""
import io
import logging
import uuid

from microcosm.services.balancer.accesslog import AccessLog
from microcosm.services.redaction import redact_access_log
from microcosm.testing import wait_until

FORMAT = "%(asctime)s %(message)s"


def logger_to(stream) -> logging.Logger:
    logger = logging.getLogger(f"test-access-{uuid.uuid4().hex}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    redact_access_log(logger.name)
    return logger


def test_every_line_is_written_in_order_by_close_and_redacted():
    stream = io.StringIO()
    log = AccessLog(logger_to(stream), every=60)  # the thread would not write before close()
    for i in range(500):
        log.line("%s GET %s -> %s %.1f ms", "lb", f"/p/{i}?token=secret-{i}", 200, 1.25)
    assert stream.getvalue() == ""  # nothing on the request's path
    log.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 500
    assert [line.split(" ", 1)[1] for line in lines] == [f"lb GET /p/{i}?token=[redacted] -> 200 1.2 ms"
                                                          for i in range(500)]
    assert "secret-" not in stream.getvalue()


def test_the_lines_match_what_logging_writes_itself():
    direct, threaded = io.StringIO(), io.StringIO()
    logger_to(direct).info("%s %s -> %s", "lb", "/a?password=x&b=1", 404)
    log = AccessLog(logger_to(threaded), every=0.01)
    log.line("%s %s -> %s", "lb", "/a?password=x&b=1", 404)
    log.close()
    assert threaded.getvalue().split(" ", 1)[1] == direct.getvalue().split(" ", 1)[1]


def test_the_writer_thread_writes_without_a_stop():
    stream = io.StringIO()
    log = AccessLog(logger_to(stream), every=0.01)
    log.line("one %s", 1)
    assert wait_until(lambda: stream.getvalue().endswith("one 1\n"), timeout=5)
    log.close()
    assert stream.getvalue().count("one 1") == 1
