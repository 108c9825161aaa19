"""One small Flask app per component, each built by `create_app(config)`.

What each built-in service needs from the others, so `launch` can fill it in when a cell does not say:
a config key -> the running instance (or infrastructure) that provides it. OPTIONAL ones are filled when
such an instance runs, and left out otherwise.
"""
NEEDS = {
    "catalog": {},
    "orders": {"catalog_url": "catalog"},
    "carts": {"redis_url": "redis"},
    "gateway": {"redis_url": "redis"},
    "inventory": {"events": "redis"},       # the broker: Redis Streams (chapter 07)
    "notifications": {"events": "redis"},
    "ledger": {"events": "redis"},
    "reporter": {"journal_url": "journal", "zk": "zookeeper"},  # coordination (chapter 08)
    "flash_sale": {"redis_url": "redis", "zk": "zookeeper"},   # the stock, and the lock (chapter 08)
}
OPTIONAL = {
    "carts": {"orders_url": "orders"},
    "gateway": {"identity_url": "identity"},
}
