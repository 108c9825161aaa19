"""http1.py, the strict parser (balancer and gateway) of backend answers, without sockets: bytes in, a verdict out."""
import pytest

from microcosm.services import chunked, http1
from microcosm.services.http1 import ProtocolError


def head(text: bytes) -> http1.Head:
    parsed = http1.parse_head(text)
    assert parsed is not None and parsed[1] == len(text)
    return parsed[0]


def test_a_head_is_parsed_into_status_version_and_fields():
    h = head(b"HTTP/1.0 404 Not Found\r\nContent-Type:text/plain\r\nX-Empty:\r\nX-Pad: \t a b \t\r\n\r\n")
    assert (h.minor, h.status) == (0, 404)
    assert h.headers == [("Content-Type", "text/plain"), ("X-Empty", ""), ("X-Pad", "a b")]


@pytest.mark.parametrize("prefix", [b"", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nA: 1\r\n",
                                    b"HTTP/1.1 200 OK\r\nA: 1\r\n\r"])
def test_an_unfinished_head_waits_for_more(prefix):
    assert http1.parse_head(prefix) is None


@pytest.mark.parametrize("text", [
    b"HTTP/1.1 200 OK\nA: 1\r\n\r\n",  # bare LF
    b"HTTP/1.1 200 OK\r\nA : 1\r\n\r\n",  # whitespace before the colon
    b"HTTP/1.1 200 OK\r\nA: 1\r\n\t2\r\n\r\n",  # obs-fold
    b"HTTP/1.1 200 OK\r\n\xc3\xa9: 1\r\n\r\n",  # a name that is not a token
    b"HTTP/1.1 200 OK\r\nA: \x1b[31m\r\n\r\n",  # a control character
    b"HTTP/1.1 \xd9\xa200 OK\r\n\r\n",  # a non-ASCII digit
])
def test_a_broken_head_is_refused(text):
    with pytest.raises(ProtocolError):
        http1.parse_head(text)


def test_a_head_that_never_ends_is_refused_once_it_passes_the_bounds():
    with pytest.raises(ProtocolError, match="longer than"):
        http1.parse_head(b"HTTP/1.1 200 OK\r\nA: " + b"a" * (http1.MAX_LINE + 10))  # no end of line yet
    many = b"HTTP/1.1 200 OK\r\n" + b"A: 1\r\n" * (http1.MAX_FIELDS + 1)
    with pytest.raises(ProtocolError, match="header lines"):
        http1.parse_head(many)  # not even finished: refused as soon as the count is passed
    big = b"HTTP/1.1 200 OK\r\n" + (b"A: " + b"a" * 4000 + b"\r\n") * 17
    with pytest.raises(ProtocolError, match="head longer"):
        http1.parse_head(big)


@pytest.mark.parametrize("values, expected", [([], None), (["0"], 0), (["12"], 12), (["7", "7"], 7), (["7, 7"], 7)])
def test_content_length_accepts_only_plain_agreeing_digits(values, expected):
    h = http1.Head(1, 200, [("Content-Length", v) for v in values])
    assert http1.content_length(h) == expected


@pytest.mark.parametrize("value", ["²", "-5", "+5", "0x5", "5_0", "5 5", "", "5,", "٥", "99999999999999999",
                                   str(http1.MAX_CONTENT_LENGTH + 1)])
def test_content_length_refuses_anything_else(value):
    with pytest.raises(ProtocolError):
        http1.content_length(http1.Head(1, 200, [("Content-Length", value)]))


@pytest.mark.parametrize("fields, method, status, expected", [
    ([("Content-Length", "5")], "GET", 200, ("length", 5)),
    ([("Transfer-Encoding", "chunked")], "GET", 200, ("chunked", 0)),
    ([], "GET", 200, ("close", 0)),
    ([("Content-Length", "5")], "HEAD", 200, ("none", 0)),
    ([("Transfer-Encoding", "chunked")], "GET", 204, ("none", 0)),
    ([("Content-Length", "5")], "GET", 304, ("none", 0)),
])
def test_framing_follows_rfc_9112(fields, method, status, expected):
    assert http1.framing(http1.Head(1, status, fields), method) == expected


@pytest.mark.parametrize("fields, minor", [
    ([("Transfer-Encoding", "chunked"), ("Content-Length", "5")], 1),
    ([("Transfer-Encoding", "gzip, chunked")], 1),
    ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], 1),
    ([("Transfer-Encoding", "identity")], 1),
    ([("Transfer-Encoding", "chunked")], 0),
    ([("Content-Length", "5"), ("Content-Length", "6")], 1),
])
def test_ambiguous_framing_is_refused(fields, minor):
    with pytest.raises(ProtocolError):
        http1.framing(http1.Head(minor, 200, fields), "GET")


def test_agreeing_content_lengths_become_one_header():
    h = http1.Head(1, 200, [("Content-Length", "2, 2"), ("X-A", "1"), ("content-length", "2")])
    assert http1.framing(h, "GET") == ("length", 2)
    assert h.headers == [("X-A", "1"), ("Content-Length", "2")]


@pytest.mark.parametrize("line, size", [(b"0", 0), (b"a", 10), (b"FF", 255), (b"0010", 16), (b"5;x", 5),
                                        (b"5 ; x = y", 5), (b'5;x="a;b\\"c"', 5), (b"f" * 16, 2 ** 64 - 1)])
def test_chunk_sizes_are_hex_digits_with_optional_extensions(line, size):
    assert chunked.chunk_size(line) == size


@pytest.mark.parametrize("line", [b"-5", b"+5", b"0x5", b"5_0", b" 5", b"5 ", b"", b"g", "٥".encode(),
                                  b"1" + b"0" * 16, b"5;", b"5;=x", b'5;x="', b"5;x=a b", b"5\r"])
def test_other_chunk_size_lines_are_refused(line):
    with pytest.raises(ProtocolError):
        chunked.chunk_size(line)


BODY = b"5;a=b\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"


def test_a_chunked_body_parses_the_same_whole_or_byte_by_byte():
    assert chunked.chunked_length(BODY) == 15
    assert chunked.chunked_length(BODY[:-1]) is None
    body, buf, data = chunked.Chunked(), bytearray(), bytearray()
    for byte in BODY:  # as if every byte arrived on its own
        buf.append(byte)
        while (step := body.step(buf)) is not None:
            used, is_data = step
            if is_data:
                data += buf[:used]
            del buf[:used]
    assert (body.state, bytes(data), bytes(buf)) == ("done", b"hello0123456789", b"")


@pytest.mark.parametrize("body, match", [
    (b"5\r\nhelloXY", "not followed by CRLF"),
    (b"f" * (chunked.MAX_CHUNK_LINE + 2), "longer than"),  # an endless size line is refused at the bound
    (b"0\r\n" + b"X-T: 1\r\n" * (http1.MAX_FIELDS + 1), "trailer lines"),
    (b"0\r\nX-T: " + b"t" * (http1.MAX_LINE + 2), "longer than"),
    (b"0\r\nnot a field\r\n\r\n", "malformed header"),
])
def test_a_broken_chunked_body_is_refused_as_soon_as_it_shows(body, match):
    with pytest.raises(ProtocolError, match=match):
        chunked.chunked_length(body)
