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
import re
from pathlib import Path
from typing import Any

from vectordb.errors import CorruptionError
from vectordb.files.checksummed import read_checksummed_map, write_checksummed_map
from vectordb.files.headers import MANIFEST_MAGIC

__all__ = ["Manifest"]

_SNAPSHOT_NAME = re.compile(r"snapshot-\d{12}\.bin")


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

    def checkpointed(
        self, lsn: int, snapshot: str | None, count: int, *, updated_at: float | None = None
    ) -> Manifest:
        """This collection's manifest as of a checkpoint at ``lsn``: the same identity and
        configuration, the new snapshot and count."""
        return dataclasses.replace(
            self,
            checkpoint_lsn=lsn,
            snapshot=snapshot,
            count=count,
            updated_at=self.updated_at if updated_at is None else updated_at,
        )

    @classmethod
    def load(cls, path: Path) -> Manifest:
        fields = read_checksummed_map(path, MANIFEST_MAGIC, "MANIFEST")
        try:
            manifest = cls(**fields)
        except TypeError as error:
            raise CorruptionError(f"MANIFEST does not decode: {error}", path=path) from error
        problem = _problem(fields)
        if problem is not None:
            raise CorruptionError(f"MANIFEST does not decode: {problem}", path=path)
        return manifest


def _problem(fields: dict[str, Any]) -> str | None:
    """What is wrong with a MANIFEST's decoded fields (None: nothing): a dataclass checks no
    types, and every reader trusts them (the snapshot's name becomes a path)."""
    from vectordb.config import CollectionConfig

    def is_count(value: object) -> bool:
        return type(value) is int and value >= 0

    uid, name, config, snapshot = (fields[key] for key in ("uid", "name", "config", "snapshot"))
    if not isinstance(uid, str) or not uid or not isinstance(name, str):
        return f"uid {uid!r:.40} / name {name!r:.40} are not strings"
    for key in ("created_at", "updated_at"):
        value = fields[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{key} is {value!r:.40}, not a time"
    if not is_count(fields["checkpoint_lsn"]) or not is_count(fields["count"]):
        return f"checkpoint_lsn {fields['checkpoint_lsn']!r:.40} / count {fields['count']!r:.40}"
    named = isinstance(snapshot, str) and _SNAPSHOT_NAME.fullmatch(snapshot) is not None
    if snapshot is not None and not named:
        return f"snapshot is {snapshot!r:.60}, not a snapshot file name"
    if not isinstance(config, dict):
        return f"config is {config!r:.40}, not a map"
    try:
        CollectionConfig.from_mapping(config)
    except (ValueError, TypeError, LookupError, ArithmeticError) as error:
        return f"config does not parse: {error}"
    return None
