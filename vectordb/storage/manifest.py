"""Manifest: a collection's committed state, replaced atomically at each checkpoint.

File ``MANIFEST``: header (16 bytes, ``headers.MANIFEST_MAGIC``) then
``body_length u64 LE | xxh3-64(body) u64 LE | body`` where body is a msgpack map:
``uid`` (hex string, unique per created collection: log records name collections by uid, so a
dropped and re-created name never receives its predecessor's records), ``name``, ``config``
(map, see ``CollectionConfig.to_dict``), ``created_at`` / ``updated_at`` (Unix seconds, float),
``checkpoint_lsn`` (log records up to it are in the files), ``snapshot`` (file name or nil for
an empty collection), ``count`` (live records at the checkpoint).
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import Any

import msgpack
import xxhash

from vectordb.errors import CorruptionError
from vectordb.storage.atomic import atomic_write_bytes, os_error
from vectordb.storage.headers import HEADER, MANIFEST_MAGIC, pack_header, unpack_header

__all__ = ["Manifest"]

_BODY = struct.Struct("<QQ")


@dataclasses.dataclass(slots=True)
class Manifest:
    uid: str
    name: str
    config: dict[str, Any]
    created_at: float
    updated_at: float
    checkpoint_lsn: int
    snapshot: str | None
    count: int

    def commit(self, path: Path) -> None:
        body = msgpack.packb(dataclasses.asdict(self), use_bin_type=True)
        atomic_write_bytes(
            path,
            pack_header(MANIFEST_MAGIC)
            + _BODY.pack(len(body), xxhash.xxh3_64_intdigest(body))
            + body,
        )

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as error:
            raise os_error(error, f"read {path}") from error
        unpack_header(data, MANIFEST_MAGIC, path, "MANIFEST")
        start = HEADER.size + _BODY.size
        if len(data) < start:
            raise CorruptionError("MANIFEST truncated", path=path, offset=HEADER.size)
        length, checksum = _BODY.unpack_from(data, HEADER.size)
        body = data[start : start + length]
        if len(body) != length or xxhash.xxh3_64_intdigest(body) != checksum:
            raise CorruptionError("MANIFEST fails its checksum", path=path, offset=start)
        try:
            fields = msgpack.unpackb(body, raw=False)
            return cls(**fields)
        except (TypeError, ValueError, msgpack.UnpackException) as error:
            raise CorruptionError(
                f"MANIFEST does not decode: {error}", path=path, offset=start
            ) from error
