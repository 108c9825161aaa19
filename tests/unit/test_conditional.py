"""If-None-Match read by its grammar and compared weakly, and the cacheable() decorator's bounds
(services/conditional.py). Over HTTP: tests/integration/test_conditional_requests.py."""
from __future__ import annotations

import pytest

from microcosm.services.conditional import cacheable, entity_tags, none_match, strong_etag


@pytest.mark.parametrize("header, tags", [
    ("*", ["*"]), (" * ", ["*"]), ('"a"', ['"a"']), ('W/"a"', ['"a"']), ('"a", W/"b" ,"c"', ['"a"', '"b"', '"c"']),
    ('"a,b"', ['"a,b"']), (",,", []), ("", []),
    ("a", None), ('"a" "b"', None), ('*, "a"', None), ('W/ "a"', None), ('w/"a"', None), ('"a', None),
    ('"a"b', None), ('"a\x7f"', None), ('"a b"', None),
])
def test_if_none_match_grammar(header, tags):
    assert entity_tags(header) == tags


def test_none_match_compares_weakly():
    etag = strong_etag(b"x")
    assert none_match(etag, etag) and none_match("W/" + etag, etag) and none_match("*", etag)
    assert not none_match(None, etag) and not none_match(etag.strip('"'), etag) and not none_match('"y"', etag)


@pytest.mark.parametrize("max_age", [-1, 1.5, "10", None, True])
def test_cacheable_refuses_a_max_age_that_is_not_whole_seconds(max_age):
    with pytest.raises(ValueError, match="max_age"):
        cacheable(max_age)
