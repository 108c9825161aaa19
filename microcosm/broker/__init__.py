"""The message broker: events on Redis Streams, and what services need to use them safely (component 6).

- envelope.py   what an event is, its known types and their fields; decoding that refuses a malformed one
- streams.py    publish (XADD), consumer groups, the dead-letter stream: inspect and replay
- consumer.py   the consumer loop: read in a group, apply, acknowledge after, claim what a dead consumer left,
                dead-letter what keeps failing
- applied.py    idempotent consumers: an event applied once, in the same transaction as its side effect (a batch
                in one transaction, a savepoint per event)
- outbox.py     the transactional outbox: a service writes its data and its event together; a relay publishes
- downstream.py chapter 07's contrast: checkout with the services downstream of it killed, calling vs events

Chapter 07 teaches them in that order. The services that use them: orders (its saga), inventory, notifications.
"""
