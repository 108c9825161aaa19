"""An event's envelope: what decode() refuses, and why (the reason a dead letter carries)."""
import json

import pytest

from microcosm.broker.envelope import MalformedEvent, decode, event

GOOD = event("OrderPlaced", {"order_id": 1, "product_id": 2, "quantity": 3, "total_cents": 400}, "req-1")


def with_(**changes):
    return {**GOOD.fields(), **changes}


def test_an_event_survives_the_trip_through_its_fields():
    again = decode({k.encode(): v.encode() for k, v in GOOD.fields().items()})  # as Redis may hand them back
    assert again == GOOD


# (fields, words in the reason)
MALFORMED = [
    ({}, "no event_id"),
    (with_(type=""), "no type"),
    (with_(type="Teleported"), "unknown event type 'Teleported'"),
    (with_(payload="{not json"), "not JSON"),
    (with_(payload="[1, 2]"), "must be a JSON object"),
    (with_(payload=json.dumps({"order_id": 1})), "missing product_id, quantity, total_cents"),
    (with_(payload=json.dumps({**GOOD.payload, "admin": True})), "unexpected admin"),
    (with_(payload=json.dumps({**GOOD.payload, "quantity": "3"})), "OrderPlaced.quantity must be int, got str"),
    (with_(payload=json.dumps({**GOOD.payload, "quantity": True})), "OrderPlaced.quantity must be int, got bool"),
    (with_(payload=json.dumps({**GOOD.payload, "order_id": -1})), "out of range"),
    (with_(payload=json.dumps({**GOOD.payload, "order_id": 2 ** 70})), "out of range"),
    (with_(payload="[" * 30_000 + "]" * 30_000), "limit is 16384"),
    (with_(payload="[" * 5_000 + "]" * 5_000), "not JSON"),
    (with_(at="yesterday"), "not a number"),
    (with_(event_id="e" * 101), "longer than 100"),
    ({b"event_id": b"\xff", b"type": b"x", b"payload": b"{}"}, "not UTF-8"),
    (with_(type="OrderRejected", payload=json.dumps({"order_id": 1, "reason": "r" * 501})), "longer than 500"),
]


@pytest.mark.parametrize("fields, words", MALFORMED, ids=[w for _, w in MALFORMED])
def test_a_malformed_entry_is_refused_saying_what_is_wrong(fields, words):
    with pytest.raises(MalformedEvent, match=None) as caught:
        decode(fields)
    assert words in str(caught.value)


def test_a_service_cannot_publish_what_consumers_would_refuse():
    with pytest.raises(MalformedEvent, match="missing reason"):
        event("OrderRejected", {"order_id": 1})


def test_event_ids_are_unique_and_sort_in_the_order_they_were_made():
    """Time first (microseconds), then 72 random bits: a consumer's applied_events index grows at its end."""
    ids = [event("OrderConfirmed", {"order_id": n}).event_id for n in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)  # the time part never goes back
