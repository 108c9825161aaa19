"""The balancer's answer head parsed by http1.py (Python) or by llhttp (the C parser aiohttp ships), and the
request id by one system call or by Python's generator: in-process, per call, as ratios of the same run (issue 12).

    python bench/answer_head_parsers.py [--rounds 7] [--number 20000]

Hot figures: the same call in a tight loop, caches warm (a "cold" column, each call after walking 8 MiB of
memory minus the walk alone, was tried and dropped: the difference of two 1 ms figures was noise). llhttp is
measured twice: bare (its parse, the names and values decoded to the str pairs the relay uses, the Head built: a
lower bound) and with the checks aiohttp's response parser leaves out (it is lenient unless asyncio's debug mode
is on: obs-fold, a bare LF, control characters in a value and a status above 599 all pass), which the balancer's
tests demand. The request id: today's `calls.request_id_from(None)` (one getrandom system call), the same call
bare, and Python's Mersenne Twister.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import timeit

import common  # noqa: F401 (puts this checkout on sys.path)
from aiohttp._http_parser import HttpResponseParser

from microcosm.services import http1
from microcosm.services.calls import request_id_from

BODY = b'{"id": 1, "name": "Teapot", "price_cents": 1999, "stock": 10}'
ANSWER = bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n"
                   b"Date: Sun, 29 Nov 2026 14:00:00 GMT\r\nServer: waitress\r\nX-Instance: catalog-1\r\n"
                   b"X-Request-Id: 0123456789abcdef0123456789abcdef\r\n\r\n" % len(BODY)) + BODY
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _Protocol:  # what HttpResponseParser calls on its protocol (never, for a head without a body)
    _reading_paused = False

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def python_parse(buf=ANSWER):
    head, used = http1.parse_head(buf)
    head._length = ...
    return head, used, http1.content_length(head)


def llhttp_parser():
    parser = HttpResponseParser(_Protocol(), asyncio.new_event_loop(), 2 ** 16, response_with_body=False)

    def bare(buf=ANSWER):
        end = buf.find(b"\r\n\r\n", 0, http1.MAX_HEAD)
        message = parser.feed_data(bytes(buf[:end + 4]))[0][0][0]
        headers = [(k.decode("ascii"), v.decode("latin-1")) for k, v in message.raw_headers]
        head = http1.Head(message.version.minor, message.code, headers)
        return head, end + 4, http1.content_length(head)

    def strict(buf=ANSWER):
        end = buf.find(b"\r\n\r\n", 0, http1.MAX_HEAD)
        block = bytes(buf[:end + 4])
        if (block.count(b"\n") != block.count(b"\r\n") or b"\n " in block or b"\n\t" in block
                or _CONTROL.search(block)):
            raise http1.ProtocolError("left to http1.parse_head to say what")
        message = parser.feed_data(block)[0][0][0]
        if message.code > 599:
            raise http1.ProtocolError("a malformed status line")
        headers = [(k.decode("ascii"), v.decode("latin-1")) for k, v in message.raw_headers]
        head = http1.Head(message.version.minor, message.code, headers)
        return head, end + 4, http1.content_length(head)
    return bare, strict


def per_call(fn, number: int, rounds: int) -> float:
    """Microseconds a call: the best of `rounds` rounds of `number` calls."""
    return min(timeit.repeat(fn, number=number, repeat=rounds)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    bare, strict = llhttp_parser()
    assert python_parse()[0].headers == bare()[0].headers == strict()[0].headers  # the same pairs, the same length
    assert python_parse()[2] == bare()[2] == strict()[2] == len(BODY)
    print(f"{'answer head (catalog-like, 7 fields)':<44}{'hot us':>9}{'ratio':>7}")
    base = None
    for name, fn in (("http1.parse_head + content_length (today)", python_parse), ("llhttp, bare", bare),
                     ("llhttp + the strict checks", strict)):
        hot = per_call(fn, args.number, args.rounds)
        base = base or hot
        print(f"{name:<44}{hot:>9.2f}{hot / base:>7.2f}")
    print(f"\n{'a new request id':<44}{'hot us':>9}{'ratio':>7}")
    base = None
    for name, fn in (("calls.request_id_from(None) (today)", lambda: request_id_from(None)),
                     ("os.urandom(16).hex()", lambda: os.urandom(16).hex()),
                     ("'%032x' % random.getrandbits(128)", lambda: "%032x" % random.getrandbits(128))):
        hot = per_call(fn, args.number, args.rounds)
        base = base or hot
        print(f"{name:<44}{hot:>9.2f}{hot / base:>7.2f}")


if __name__ == "__main__":
    main()
