"""Idempotency keys: a retried write with the same key is applied once.

A write given ``idempotency_key=`` logs the key with its record, together with a digest of
the request and the result it returned. Every process learns the key when it replays the
record; checkpoints save the table (``<db>/IDEMPOTENCY``, a checksummed msgpack map: ``lsn``
and ``keys``: key -> [commit time, digest, result]) so it outlives the log. A key is kept for
``idempotency_window`` seconds after its write.

A retry with the same key and the same request returns the first result without writing; the
same key with a different request raises ``IdempotencyKeyReuseError`` (a key names one
request, as in HTTP APIs that take an Idempotency-Key header).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xxhash

from vectordb.errors import CorruptionError, IdempotencyKeyReuseError, InvalidArgumentError
from vectordb.files.checksummed import read_checksummed_map, write_checksummed_map
from vectordb.files.headers import IDEMPOTENCY_MAGIC

__all__ = ["IdempotencyKeys", "RequestPart", "check_key", "request_digest"]

MAX_KEY_LENGTH = 256


def check_key(key: object) -> str:
    """Validate an ``idempotency_key`` argument."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"idempotency_key must be a non-empty string of at most {MAX_KEY_LENGTH} "
            f"characters; got {key!r:.80}"
        )
    return key


#: one part of a write request's description (an operation name, joined ids, vector bytes)
RequestPart = bytes | str | memoryview | None


def request_digest(parts: Iterable[RequestPart]) -> bytes:
    """xxh3-128 over the parts of a request (each length-prefixed, so parts cannot run into
    each other)."""
    hasher = xxhash.xxh3_128()
    for part in parts:
        if part is None:
            hasher.update(b"\xff")
            continue
        data = part.encode() if isinstance(part, str) else part
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        hasher.update(size.to_bytes(8, "little"))
        hasher.update(data)
    return hasher.digest()


class IdempotencyKeys:
    """Key -> (commit time, request digest, result), pruned after ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.keys: dict[str, tuple[float, bytes, Any]] = {}

    def remember(self, key: str, committed_at: float, digest: bytes, result: Any) -> None:
        self.keys[key] = (committed_at, digest, result)

    def lookup(self, key: str, digest: bytes) -> tuple[bool, Any]:
        """``(True, first result)`` if ``key`` was applied within the window; raises
        ``IdempotencyKeyReuseError`` if it was applied to a different request."""
        entry = self.keys.get(key)
        if entry is None or entry[0] < time.time() - self.window:
            return False, None
        if entry[1] != digest:
            raise IdempotencyKeyReuseError(
                f"idempotency key {key!r} was used {time.time() - entry[0]:.0f} s ago for a "
                "different request; nothing was written. Use a new key for a new request"
            )
        return True, entry[2]

    def prune(self, now: float | None = None) -> None:
        oldest = (time.time() if now is None else now) - self.window
        stale = [key for key, entry in self.keys.items() if entry[0] < oldest]
        for key in stale:
            del self.keys[key]

    def save(self, path: Path, lsn: int) -> None:
        self.prune()
        body = {"lsn": lsn, "keys": {k: list(v) for k, v in self.keys.items()}}
        write_checksummed_map(path, IDEMPOTENCY_MAGIC, body)

    def load(self, path: Path) -> int:
        """Replace the table with the saved one; returns the LSN it covers (0: no file)."""
        self.keys = {}
        if not path.exists():
            return 0
        fields = read_checksummed_map(path, IDEMPOTENCY_MAGIC, "idempotency keys")
        try:
            lsn, keys = fields["lsn"], fields["keys"]
            if type(lsn) is not int or lsn < 0 or not isinstance(keys, dict):
                raise TypeError(f"lsn {lsn!r:.40} is not a count or keys are not a map")
            for key, entry in keys.items():
                committed_at, digest, result = entry
                # bytes(n) of an int would allocate n bytes: only bytes are a digest
                if (not isinstance(key, str) or not isinstance(digest, bytes)
                        or not isinstance(committed_at, (int, float))):  # fmt: skip
                    raise TypeError(f"key {key!r:.40} has a malformed entry {entry!r:.60}")
                self.keys[key] = (float(committed_at), digest, result)
        except (KeyError, TypeError, ValueError) as error:
            self.keys = {}
            raise CorruptionError(f"idempotency keys do not decode: {error}", path=path) from error
        self.prune()
        return lsn
