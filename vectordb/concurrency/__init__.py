"""Idempotency keys: a retried write applies once.

The locks themselves are in ``vectordb.locking``; transactions and how processes follow each
other's log are in ``vectordb.engine``. docs/concurrency.md describes the model.
"""

from vectordb.concurrency.idempotency import IdempotencyKeys, request_digest

__all__ = ["IdempotencyKeys", "request_digest"]
