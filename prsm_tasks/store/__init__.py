"""Access to the KV buckets: task records by compare-and-set, node adverts, idempotency keys."""
