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
from pathlib import Path
from typing import Any

from vectordb.errors import CorruptionError
from vectordb.storage.checksummed import read_checksummed_map, write_checksummed_map
from vectordb.storage.headers import MANIFEST_MAGIC

__all__ = ["Manifest"]


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
        write_checksummed_map(path, MANIFEST_MAGIC, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        fields = read_checksummed_map(path, MANIFEST_MAGIC, "MANIFEST")
        try:
            return cls(**fields)
        except TypeError as error:
            raise CorruptionError(f"MANIFEST does not decode: {error}", path=path) from error
