"""Writes from many threads and processes: transactions and idempotency keys.

The locks themselves are in ``vectordb.locking``; how processes follow each other's log is in
``vectordb.engine`` (``refresh`` / ``catch_up``). docs/concurrency.md describes the model.
"""

from vectordb.concurrency.idempotency import IdempotencyKeys, request_digest
from vectordb.concurrency.transaction import PendingWrites, Transaction

__all__ = ["IdempotencyKeys", "PendingWrites", "Transaction", "request_digest"]
