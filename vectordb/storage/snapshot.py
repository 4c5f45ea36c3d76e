"""Snapshot: a collection's ids, metadata, row checksums and norms as of one checkpoint.

File ``snapshot-<lsn:012d>.bin``::

    header (16 bytes: headers.SNAPSHOT_MAGIC, format version, flags)
    body_length u64 LE | body_checksum u64 LE (xxh3-64 of the body)
    body: msgpack map
        lsn           int     checkpoint LSN this snapshot is the state at
        n_rows        int     rows in use (the high-water mark); arrays below have this length
        live          bin     uint8 per row: 1 if the row holds a stored record
        ids           bin     UTF-8 ids, one per row, joined by NUL ("" for rows not live)
        meta_offsets  bin     uint64 LE, n_rows + 1 entries; row r's metadata is
                              meta[meta_offsets[r]:meta_offsets[r+1]] (empty: no metadata)
        meta          bin     concatenated msgpack maps
        checksums     bin     uint64 LE per row: xxh3-64 of the row's bytes in vectors.bin
        sq_norms      bin     float32 LE per row: squared L2 norm of the row
        doc_offsets   bin     format 3, optional (with docs; absent: no row has a document):
                              uint64 LE, n_rows + 1 entries, like meta_offsets
        docs          bin     concatenated UTF-8 documents (empty: the row has none)

Written once to a fresh name (temp file, fsync, rename, fsync dir) and never modified; the
MANIFEST names the snapshot in force.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np
import numpy.typing as npt
import xxhash

from vectordb.errors import CorruptionError
from vectordb.files.atomic import atomic_write_bytes, os_error
from vectordb.files.headers import HEADER, SNAPSHOT_MAGIC, pack_header, unpack_header

__all__ = ["Snapshot", "read_snapshot", "write_snapshot"]

_BODY = struct.Struct("<QQ")


@dataclass(slots=True)
class Snapshot:
    lsn: int
    n_rows: int
    live: npt.NDArray[np.bool_]
    ids: list[str]
    meta_offsets: npt.NDArray[np.uint64]
    meta: bytes
    checksums: npt.NDArray[np.uint64]
    sq_norms: npt.NDArray[np.float32]
    #: format 3: row r's document is docs[doc_offsets[r]:doc_offsets[r+1]] (UTF-8, empty:
    #: none); doc_offsets None when no row has a document (written without the two keys)
    doc_offsets: npt.NDArray[np.uint64] | None = None
    docs: bytes = b""

    @classmethod
    def empty(cls, lsn: int) -> Snapshot:
        return cls(
            lsn,
            0,
            np.zeros(0, np.bool_),
            [],
            np.zeros(1, np.uint64),
            b"",
            np.zeros(0, np.uint64),
            np.zeros(0, np.float32),
        )


def write_snapshot(path: Path, snapshot: Snapshot) -> int:
    """Write ``snapshot`` durably to ``path``; returns the file size."""
    n = snapshot.n_rows
    fields: dict[str, object] = {
            "lsn": snapshot.lsn,
            "n_rows": n,
            "live": snapshot.live[:n].astype(np.uint8).tobytes(),
            "ids": "\x00".join(snapshot.ids[:n]).encode("utf-8"),
            "meta_offsets": snapshot.meta_offsets[: n + 1].astype("<u8").tobytes(),
            "meta": snapshot.meta,
            "checksums": snapshot.checksums[:n].astype("<u8").tobytes(),
            "sq_norms": snapshot.sq_norms[:n].astype("<f4").tobytes(),
    }  # fmt: skip
    if snapshot.doc_offsets is not None and snapshot.docs:
        fields["doc_offsets"] = snapshot.doc_offsets[: n + 1].astype("<u8").tobytes()
        fields["docs"] = snapshot.docs
    body = msgpack.packb(fields, use_bin_type=True)
    data = (
        pack_header(SNAPSHOT_MAGIC) + _BODY.pack(len(body), xxhash.xxh3_64_intdigest(body)) + body
    )
    atomic_write_bytes(path, data)
    return len(data)


def read_snapshot(path: Path) -> Snapshot:
    """Read and verify a snapshot; any damage raises CorruptionError naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise CorruptionError("snapshot named by the MANIFEST is missing", path=path) from error
    except OSError as error:
        raise os_error(error, f"read snapshot {path}") from error
    unpack_header(data, SNAPSHOT_MAGIC, path, "snapshot")
    if len(data) < HEADER.size + _BODY.size:
        raise CorruptionError("snapshot truncated", path=path, offset=HEADER.size)
    length, checksum = _BODY.unpack_from(data, HEADER.size)
    start = HEADER.size + _BODY.size
    body = memoryview(data)[start : start + length]
    if len(body) != length:
        raise CorruptionError(
            f"snapshot truncated: body has {len(body)} of {length} bytes", path=path, offset=start
        )
    if xxhash.xxh3_64_intdigest(body) != checksum:
        raise CorruptionError("snapshot fails its checksum", path=path, offset=start)
    try:
        fields = msgpack.unpackb(body, raw=False)
    except Exception as error:  # msgpack's errors, RecursionError, MemoryError
        raise CorruptionError(
            f"snapshot does not decode: {error}", path=path, offset=start
        ) from error
    try:
        if not isinstance(fields, dict):
            raise TypeError(f"the body is a {type(fields).__name__}, not a map")
        n = _count(fields, "n_rows")
        ids = _bytes(fields, "ids").decode("utf-8").split("\x00") if n else []
        snapshot = Snapshot(
            lsn=_count(fields, "lsn"),
            n_rows=n,
            live=np.frombuffer(_bytes(fields, "live"), dtype=np.uint8).astype(np.bool_),
            ids=ids,
            meta_offsets=np.frombuffer(_bytes(fields, "meta_offsets"), "<u8").astype(np.uint64),
            meta=_bytes(fields, "meta"),
            checksums=np.frombuffer(_bytes(fields, "checksums"), dtype="<u8").astype(np.uint64),
            sq_norms=np.frombuffer(_bytes(fields, "sq_norms"), dtype="<f4").astype(np.float32),
        )
        if fields.get("doc_offsets") is not None:  # format 3, when some row has a document
            snapshot.doc_offsets = np.frombuffer(_bytes(fields, "doc_offsets"), "<u8").astype(
                np.uint64
            )
            snapshot.docs = _bytes(fields, "docs")
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptionError(
            f"snapshot does not decode: {error}", path=path, offset=start
        ) from error
    if not (
        len(snapshot.live) == len(ids) == len(snapshot.checksums) == len(snapshot.sq_norms) == n
        and len(snapshot.meta_offsets) == n + 1
    ):
        raise CorruptionError("snapshot arrays disagree on the row count", path=path, offset=start)
    _check_offsets(snapshot.meta_offsets, snapshot.meta, "metadata", path, start)
    if snapshot.doc_offsets is not None:
        if len(snapshot.doc_offsets) != n + 1:
            raise CorruptionError("snapshot document offsets disagree on the row count",
                                  path=path, offset=start)  # fmt: skip
        _check_offsets(snapshot.doc_offsets, snapshot.docs, "document", path, start)
    return snapshot


def _check_offsets(
    offsets: npt.NDArray[np.uint64], blob: bytes, what: str, path: Path, start: int
) -> None:
    # a row's bytes are blob[offsets[r]:offsets[r + 1]]: the offsets must climb from 0 to the
    # end of the blob, or rows would read other rows' bytes
    climbs = not np.any(offsets[1:] < offsets[:-1])
    if offsets[0] != 0 or offsets[-1] != len(blob) or not climbs:
        raise CorruptionError(
            f"snapshot {what} offsets do not climb from 0 to the length of the {what} bytes",
            path=path,
            offset=start,
        )


def _count(fields: dict[str, object], name: str) -> int:
    value = fields[name]
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} is {value!r:.40}, not a count")
    return value


def _bytes(fields: dict[str, object], name: str) -> bytes:
    value = fields[name]
    if not isinstance(value, bytes):
        raise TypeError(f"{name} is a {type(value).__name__}, not bytes")
    return value
