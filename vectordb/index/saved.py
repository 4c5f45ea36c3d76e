"""SavedIndex: an index's files in ``<collection>/index/``, as of a checkpoint.

``<kind>-<lsn:012d>.bin`` is the structure in its own format (hnswlib's, or the IVF lists');
``INDEX`` names it (header ``VDB-IDX``, then body length, xxh3-64 of the body, and a msgpack
body: ``version`` (``INDEX_VERSION``), ``kind``, ``lsn``, ``file``, ``file_size``,
``file_checksum`` = xxh3-64 of the structure file, ``params``, ``rows``, ``present_bits`` = a
bitmap of ``in_structure`` over the rows, ``valid_bits`` = a bitmap of the rows present and
holding the row's current vector). Version 1 (no ``version`` key, still read) kept ``present``
and ``valid`` as one byte per row instead. The structure file's checksum is verified before it
is parsed, so a damaged file is refused instead of crashing the process. A save writes the
structure file, then replaces INDEX atomically, then deletes the structure files INDEX no
longer names: a crash leaves the old pair or the new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import xxhash

from vectordb.errors import CorruptionError, StorageError
from vectordb.files import io
from vectordb.files.atomic import os_error
from vectordb.files.checksummed import read_checksummed_map, write_checksummed_map

__all__ = [
    "INDEX_FILE", "INDEX_MAGIC", "INDEX_VERSION", "SavedFlags", "SavedIndex", "saved_flags",
    "saved_index_files",
]  # fmt: skip

INDEX_MAGIC = b"VDB-IDX\x00"
#: in a collection's index directory: names the structure file in force, its LSN and checksum
INDEX_FILE = "INDEX"
#: the INDEX body's own version (its ``version`` key; absent in version 1): 1 kept ``present``
#: and ``valid`` as one byte per row; 2 keeps ``rows`` and the bitmaps ``present_bits`` and
#: ``valid_bits`` (bit ``r % 8`` of byte ``r // 8``). INDEX is derived data: a version this
#: code does not know is refused like a damaged file, and the index rebuilt.
INDEX_VERSION = 2


class SavedFlags(NamedTuple):
    """INDEX's per-row flags: ``rows`` (the collection's rows when it was saved),
    ``present`` (the structure holds an element for the row) and ``valid`` (present, and
    the element holds the row's vector as of the save), both ``rows`` long."""

    rows: int
    present: npt.NDArray[np.bool_]
    valid: npt.NDArray[np.bool_]


def saved_flags(body: dict[str, Any], path: Path) -> SavedFlags:
    """The flags of an INDEX body of either version (``CorruptionError`` if malformed)."""
    version = body.get("version", 1)
    if version == 1:
        present_bytes, valid_bytes = body.get("present"), body.get("valid")
        if not isinstance(present_bytes, bytes) or not isinstance(valid_bytes, bytes):
            raise CorruptionError("INDEX holds no present / valid flags", path=path)
        present = np.frombuffer(present_bytes, dtype=np.uint8).astype(np.bool_)
        valid = np.zeros(len(present), np.bool_)
        given = np.frombuffer(valid_bytes, dtype=np.uint8)[: len(present)].astype(np.bool_)
        valid[: len(given)] = given
        return SavedFlags(len(present), present, valid & present)
    if type(version) is not int or version != INDEX_VERSION:
        raise CorruptionError(
            f"INDEX has version {version!r:.20}; this vectordb reads 1 to {INDEX_VERSION}",
            path=path,
        )
    rows = body.get("rows")
    present_bits, valid_bits = body.get("present_bits"), body.get("valid_bits")
    if type(rows) is not int or rows < 0:
        raise CorruptionError(f"INDEX counts {rows!r:.20} rows", path=path)
    size = (rows + 7) // 8
    if not (isinstance(present_bits, bytes) and isinstance(valid_bits, bytes)
            and len(present_bits) == size and len(valid_bits) == size):  # fmt: skip
        raise CorruptionError(f"INDEX holds no present / valid bitmaps of {rows} rows", path=path)
    present = _unpacked(present_bits, rows)
    return SavedFlags(rows, present, _unpacked(valid_bits, rows) & present)


def _packed(flags: npt.NDArray[np.bool_]) -> bytes:
    return np.packbits(flags, bitorder="little").tobytes()


def _unpacked(bits: bytes, rows: int) -> npt.NDArray[np.bool_]:
    unpacked = np.unpackbits(np.frombuffer(bits, np.uint8), count=rows, bitorder="little")
    return unpacked.astype(np.bool_)


class SavedIndex:
    """The files of one collection's index of kind ``kind`` in ``directory``."""

    def __init__(self, directory: Path, kind: str) -> None:
        self.directory = directory
        self.kind = kind
        self.meta_path = directory / INDEX_FILE

    def read_meta(self) -> dict[str, Any] | None:
        """The INDEX map, or None when no index was saved (CorruptionError if damaged)."""
        if not self.meta_path.exists():
            return None
        return _read_meta(self.meta_path)

    def saved_at(self, lsn: int) -> bool:
        """True if the saved index is this kind's, as of checkpoint ``lsn``."""
        body = self.read_meta()
        return body is not None and body.get("lsn") == lsn and body.get("kind") == self.kind

    def verified_file(self, body: dict[str, Any]) -> Path:
        """The structure file ``body`` (the INDEX map) names, after checking its size and
        xxh3; CorruptionError if missing or damaged."""
        name, lsn = body.get("file"), body.get("lsn")
        # only the name write() gives it: never a path elsewhere (or one open() refuses)
        if type(lsn) is not int or name != self.structure_file(lsn).name:
            raise CorruptionError(
                f"INDEX names {name!r:.60} as the {self.kind} file for LSN {lsn!r:.20}",
                path=self.meta_path,
            )
        path = self.directory / str(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError as error:
            raise CorruptionError("index file named by INDEX is missing", path=path) from error
        except OSError as error:
            raise os_error(error, f"read {path}") from error
        if len(data) != body.get("file_size") or xxhash.xxh3_64_intdigest(data) != body.get(
            "file_checksum"
        ):
            raise CorruptionError("index file fails its checksum", path=path, offset=0)
        return path

    def structure_file(self, lsn: int) -> Path:
        return self.directory / f"{self.kind}-{lsn:012d}.bin"

    # ----------------------------------------------------------------- writing
    def write_structure(self, lsn: int, save: Callable[[Path], None]) -> tuple[str, bytes]:
        """Have ``save(path)`` write the structure file for checkpoint ``lsn`` and fsync it;
        returns its name and bytes (for INDEX's checksum). A failed save leaves no file
        that INDEX does not name."""
        path = self.structure_file(lsn)
        try:
            io.mkdir(self.directory, exist_ok=True)
            save(path)
            data = path.read_bytes()
            io.fsync_file(path)
        except (OSError, RuntimeError) as error:
            self._discard_unnamed(path.name)
            if isinstance(error, OSError):
                raise os_error(error, f"save index {path}") from error
            raise os_error(OSError(str(error)), f"save index {path}") from error
        return path.name, data

    def make_directory(self) -> None:
        try:
            io.mkdir(self.directory, exist_ok=True)
        except OSError as error:
            raise os_error(error, f"create index directory {self.directory}") from error

    def write_meta(
        self,
        lsn: int,
        name: str | None,
        data: bytes,
        params: dict[str, Any],
        present: npt.NDArray[np.bool_],
        valid: npt.NDArray[np.bool_],
    ) -> None:
        """Replace INDEX so it names structure file ``name`` (None: no structure yet) holding
        ``data``, with the per-row flags ``present`` and ``valid`` (as long as the rows), then
        delete the structure files it no longer names."""
        write_checksummed_map(
            self.meta_path,
            INDEX_MAGIC,
            {
                "version": INDEX_VERSION,
                "kind": self.kind,
                "lsn": lsn,
                "file": name,
                "file_size": len(data),
                "file_checksum": xxhash.xxh3_64_intdigest(data),
                "params": params,
                "rows": len(present),
                "present_bits": _packed(present),
                "valid_bits": _packed(valid & present),
            },
        )
        try:
            io.fsync_dir(self.directory)
        except OSError as error:
            raise os_error(error, f"fsync index directory {self.directory}") from error
        for entry in self.directory.iterdir():
            if entry.name.endswith(".bin") and entry.name != name:
                with contextlib.suppress(OSError):
                    io.unlink(entry)

    def _discard_unnamed(self, name: str) -> None:
        """Delete the structure file ``name`` a failed save left, unless INDEX names it (a
        save at the same LSN rewrites the file in force: a damaged one is rebuilt at load)."""
        with contextlib.suppress(OSError, CorruptionError):
            body = self.read_meta()
            if body is None or body.get("file") != name:
                io.unlink(self.directory / name, missing_ok=True)

    # ----------------------------------------------------------------- integrity
    def verify(self) -> list[tuple[Path, str]]:
        """Problems with the saved files: ``(path, what)`` pairs (empty: intact, or none
        saved). Reads the files only."""
        try:
            body = self.read_meta()
        except CorruptionError as error:
            return [(self.meta_path, str(error))]
        if body is None or body.get("file") is None:
            return []
        try:
            self.verified_file(body)
        except CorruptionError as error:
            return [(self.directory / str(body["file"]), error.message)]
        except StorageError as error:
            return [(self.directory / str(body["file"]), str(error))]
        return []

    def stray_files(self) -> list[Path]:
        """Files in the directory that INDEX does not name (left by a crash)."""
        if not self.directory.is_dir():
            return []
        named = {INDEX_FILE}
        try:
            body = _read_meta(self.meta_path)
            if body.get("file"):
                named.add(str(body["file"]))
        except (CorruptionError, OSError):
            return []
        return sorted(p for p in self.directory.iterdir() if p.name not in named)


def saved_index_files(directory: Path) -> list[Path]:
    """The files of the index saved in ``directory`` (INDEX and the structure files), or none
    when no index was saved: what a backup copies."""
    if not (directory / INDEX_FILE).exists():
        return []
    return [directory / INDEX_FILE, *sorted(directory.glob("*.bin"))]


def _read_meta(path: Path) -> dict[str, Any]:
    return read_checksummed_map(path, INDEX_MAGIC, "index metadata (INDEX)")
