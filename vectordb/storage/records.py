"""The log's records as typed values: the only place their wire keys appear.

A record is a msgpack map (``docs/file-format.md`` section 6): ``lsn`` and ``op`` always,
``t`` (commit time) on every record vectordb writes, ``c`` (the collection's uid) on a write
to one collection, ``k`` / ``h`` / ``r`` (idempotency key, request digest, first result) on a
write made with an idempotency key, and the fields of its operation:

=============  =================================================================
``put``        ``ids``, ``rows`` (bin of ``<i8``), ``meta`` (list of bin, or nil),
               ``doc`` (format 3, optional: list of str or nil per record),
               ``vec`` (bin of ``<f4``, always the map's last value)
``del``        ``ids``
``meta``       ``ids``, ``meta``, ``doc`` (format 3, optional: absent = documents kept)
``txn``        ``ops``: the writes above, each with its own ``c``
``seal``       ``checkpoint`` / ``reload`` (optional), ``next``
``create``     ``name``, ``uid``, ``config`` (format 2)
``drop``       ``name``, ``uid``
``compacted``  ``name``, ``uid``
=============  =================================================================

``encode_write`` / ``encode_transaction`` / ``encode_event`` build the map (keys in the order
vectordb has always written them, so the bytes do not change) and ``decode`` turns a map read
back into a typed record, raising only ``CorruptionError`` for one that does not make sense.
The frame around a map (length, checksum) and the ``lsn`` are ``wal.py``'s business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.errors import CorruptionError

__all__ = [
    "CollectionEvent",
    "Delete",
    "IdempotencyStamp",
    "Put",
    "Seal",
    "SetMetadata",
    "TransactionRecord",
    "Write",
    "decode",
    "encode_event",
    "encode_seal",
    "encode_transaction",
    "encode_write",
    "is_seal",
    "seal_next",
]

PUT, DELETE, SET_METADATA, TRANSACTION, SEAL = "put", "del", "meta", "txn", "seal"
CREATE, DROP, COMPACTED = "create", "drop", "compacted"
EVENTS = frozenset({CREATE, DROP, COMPACTED})

#: the key of a record's vector bytes: the map's last value, written from the caller's buffer
VECTORS_KEY = "vec"
#: a record's documents (format 3): a list of str or nil, one per id
DOCUMENTS_KEY = "doc"


@dataclasses.dataclass(frozen=True, slots=True)
class IdempotencyStamp:
    """What a write made with ``idempotency_key=`` logs: the key, the digest of the request
    and the result to give a retry (``docs/concurrency.md``)."""

    key: str
    digest: bytes
    result: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Put:
    """Records stored at explicit rows (each id replaces its previous row, if any)."""

    collection: str  # uid
    ids: list[str]
    rows: npt.NDArray[np.int64]
    vectors: Any  # (n, dim) float32 array when written; the raw bytes when decoded
    metadata: list[bytes] | None
    #: UTF-8 documents, b"" for none (format 3; None: no record of the batch has one)
    documents: list[bytes] | None = None

    def vector_array(self, dim: int) -> npt.NDArray[np.float32]:
        """The vectors as an ``(n, dim)`` float32 array (a view of the record's bytes)."""
        if isinstance(self.vectors, np.ndarray):
            return self.vectors
        return np.frombuffer(self.vectors, dtype="<f4").reshape(len(self.rows), dim)


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    collection: str
    ids: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class SetMetadata:
    collection: str
    ids: list[str]
    metadata: list[bytes]
    #: new UTF-8 documents, b"" for none (format 3; None: the documents do not change)
    documents: list[bytes] | None = None


Write = Put | Delete | SetMetadata


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionRecord:
    writes: list[Write]


@dataclasses.dataclass(frozen=True, slots=True)
class Seal:
    """The end of a segment; ``checkpoint``: sealed by a checkpoint; ``reload``: uids of
    collections written unlogged (durability "off") that other processes must reload."""

    next_lsn: int
    checkpoint: bool
    reload: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionEvent:
    """A collection created, dropped or compacted (``kind``: ``"create"``, ``"drop"``,
    ``"compacted"``); ``config`` only on a format-2 ``create``."""

    kind: str
    name: str
    uid: str
    config: dict[str, Any] | None = None


Record = Write | TransactionRecord | Seal | CollectionEvent


@dataclasses.dataclass(frozen=True, slots=True)
class Decoded:
    """A record read back: the typed value, its commit time and idempotency stamp."""

    record: Record
    committed_at: float | None
    stamp: IdempotencyStamp | None


# ----------------------------------------------------------------------------- encoding
def _write_fields(write: Write) -> dict[str, Any]:
    if isinstance(write, Put):
        rows = write.rows.astype("<i8").tobytes()
        fields: dict[str, Any] = {"op": PUT, "ids": write.ids, "rows": rows, "meta": write.metadata}
    elif isinstance(write, Delete):
        return {"op": DELETE, "ids": write.ids}
    else:
        fields = {"op": SET_METADATA, "ids": write.ids, "meta": write.metadata}
    if write.documents is not None:
        fields[DOCUMENTS_KEY] = _document_texts(write.documents)
    return fields


def _document_texts(documents: list[bytes]) -> list[str | None]:
    """The ``doc`` list: each document as msgpack ``str`` (nil for none)."""
    return [blob.decode("utf-8") if blob else None for blob in documents]


def _vector_bytes(write: Write) -> memoryview | None:
    if isinstance(write, Put):
        return np.ascontiguousarray(write.vectors, dtype="<f4").data.cast("B")
    return None


def _stamp_fields(stamp: IdempotencyStamp | None) -> dict[str, Any]:
    if stamp is None:
        return {}
    return {"k": stamp.key, "h": stamp.digest, "r": stamp.result}


def encode_write(
    write: Write, committed_at: float, stamp: IdempotencyStamp | None = None
) -> tuple[dict[str, Any], tuple[str, memoryview] | None]:
    """The map of a write to one collection (without ``lsn``) and its vector bytes, which
    ``wal.encode_payload`` appends as the last value without copying them."""
    fields = {"c": write.collection, "t": committed_at, **_write_fields(write)}
    fields.update(_stamp_fields(stamp))
    vector_bytes = _vector_bytes(write)
    return fields, None if vector_bytes is None else (VECTORS_KEY, vector_bytes)


def encode_transaction(
    record: TransactionRecord, committed_at: float, stamp: IdempotencyStamp | None = None
) -> dict[str, Any]:
    """The map of a transaction: its writes inline, each naming its collection."""
    parts = []
    for write in record.writes:
        part = {"c": write.collection, **_write_fields(write)}
        vector_bytes = _vector_bytes(write)
        if vector_bytes is not None:
            part[VECTORS_KEY] = vector_bytes
        parts.append(part)
    return {"op": TRANSACTION, "t": committed_at, "ops": parts, **_stamp_fields(stamp)}


def encode_seal(
    committed_at: float, next_lsn: int, *, checkpoint: bool = False, reload: list[str] | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"op": SEAL, "t": committed_at}
    if checkpoint:
        fields["checkpoint"] = True
    if reload:
        fields["reload"] = reload
    fields["next"] = next_lsn
    return fields


def encode_event(event: CollectionEvent, committed_at: float) -> dict[str, Any]:
    fields: dict[str, Any] = {"t": committed_at, "op": event.kind, "name": event.name,
                              "uid": event.uid}  # fmt: skip
    if event.config is not None:
        fields["config"] = event.config
    return fields


# ----------------------------------------------------------------------------- decoding
def is_seal(fields: Mapping[str, Any]) -> bool:
    return fields.get("op") == SEAL


def seal_next(payload: Mapping[str, Any], lsn: int) -> int | None:
    """The first LSN of the next segment if ``payload`` is a seal (always ``lsn + 1``), else
    None; ``ValueError`` for a seal that names anything else."""
    if payload.get("op") != SEAL:
        return None
    following = payload.get("next")
    if type(following) is not int or following != lsn + 1:
        raise ValueError(
            f"seal record {lsn} names {following!r} as the next segment's first LSN, "
            f"expected {lsn + 1}"
        )
    return following


def decode(payload: Mapping[str, Any]) -> Decoded:
    """The typed record of a map read from the log; ``CorruptionError`` (without a location:
    the caller adds it) when it is not one vectordb writes."""
    try:
        record = _decode(payload)
        stamp = None
        if payload.get("k") is not None:
            stamp = IdempotencyStamp(_text(payload["k"]), _bytes(payload["h"]), payload.get("r"))
        committed = payload.get("t")
        if committed is not None and not isinstance(committed, (int, float)):
            raise TypeError(f"commit time {committed!r}")
        return Decoded(record, None if committed is None else float(committed), stamp)
    except CorruptionError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptionError(f"log record does not make sense: {error!r}") from error


def _decode(payload: Mapping[str, Any]) -> Record:
    op = payload["op"]
    if op == TRANSACTION:
        parts = payload["ops"]
        if not isinstance(parts, list):
            raise TypeError(f"ops is {type(parts).__name__}")
        return TransactionRecord([_decode_write(part) for part in parts])
    if op == SEAL:
        reload = payload.get("reload") or []
        return Seal(int(payload["next"]), bool(payload.get("checkpoint")),
                    [_text(uid) for uid in reload])  # fmt: skip
    if op in EVENTS:
        config = payload.get("config")
        if config is not None and not isinstance(config, dict):
            raise TypeError(f"config is {type(config).__name__}")
        return CollectionEvent(op, _text(payload["name"]), _text(payload["uid"]), config)
    return _decode_write(payload)


def _decode_write(part: Mapping[str, Any]) -> Write:
    if not isinstance(part, Mapping):
        raise TypeError(f"a write is {type(part).__name__}")
    op = part["op"]
    collection = _text(part["c"])
    ids = _text_list(part["ids"])
    if op == PUT:
        rows = np.frombuffer(_bytes(part["rows"]), dtype="<i8").astype(np.int64)
        vectors = _bytes(part[VECTORS_KEY])
        metadata = part.get("meta")
        if len(rows) != len(ids) or (metadata is not None and len(metadata) != len(ids)):
            raise ValueError(f"put of {len(ids)} ids with {len(rows)} rows")
        return Put(collection, ids, rows, vectors,
                   None if metadata is None else [_bytes(blob) for blob in metadata],
                   _documents(part, len(ids)))  # fmt: skip
    if op == DELETE:
        return Delete(collection, ids)
    if op == SET_METADATA:
        metadata = [_bytes(blob) for blob in part["meta"]]
        if len(metadata) != len(ids):
            raise ValueError(f"metadata for {len(ids)} ids holds {len(metadata)} entries")
        return SetMetadata(collection, ids, metadata, _documents(part, len(ids)))
    raise CorruptionError(f"unknown log operation {op!r}")


def _documents(part: Mapping[str, Any], count: int) -> list[bytes] | None:
    """A write's ``doc`` list as UTF-8 bytes (b"" for nil); None when the key is absent or
    nil (records of formats 1 and 2 never have it)."""
    documents = part.get(DOCUMENTS_KEY)
    if documents is None:
        return None
    if not isinstance(documents, list) or len(documents) != count:
        raise ValueError(f"documents for {count} ids: {type(documents).__name__} {documents!r:.40}")
    return [b"" if text is None else _text(text).encode("utf-8") for text in documents]


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _text_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of ids, got {type(value).__name__}")
    return [_text(item) for item in value]


def _bytes(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return bytes(value) if not isinstance(value, bytes) else value
