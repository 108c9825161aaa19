"""paths.segment's shortcut: a segment of unreserved characters alone (RFC 3986: letters, digits, - . _ ~) is
taken as it is, and means exactly what the full reading gives it; dot segments are still refused."""
from __future__ import annotations

import itertools
from urllib.parse import unquote

import pytest

from microcosm.services.gateway import paths


@pytest.mark.parametrize("raw", ["1", "products", "a-b_c.d~e", "x" * 300, "...", ".a", "a.", "~", "_chaos"])
def test_an_unreserved_segment_is_itself(raw):
    assert paths.segment(raw) == raw == unquote(raw)


@pytest.mark.parametrize("raw", [".", ".."])
def test_a_dot_segment_is_refused_however_plain(raw):
    with pytest.raises(paths.UnsafePath, match="dot segment"):
        paths.segment(raw)


def test_every_short_segment_reads_the_same_as_its_decoded_form_or_is_refused():
    alphabet = ["a", ".", "-", "%2e", "%41", "%2F", "%", ";", "\\", "~", "%25", "%C3%A9"]
    for n in (1, 2, 3):
        for parts in itertools.product(alphabet, repeat=n):
            raw = "".join(parts)
            try:
                text = paths.segment(raw)
            except paths.UnsafePath:
                assert not paths.UNRESERVED.fullmatch(raw) or raw in (".", "..")  # never a plain one
                continue
            assert text == unquote(raw) and text not in (".", "..") and "/" not in text
