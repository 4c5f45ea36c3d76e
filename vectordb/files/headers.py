"""File headers: every file vectordb writes starts with an 8-byte magic and a format version.

Header layout (16 bytes, little-endian): ``magic[8] | format_version u32 | flags u32``.
A file with another magic is foreign (``UnsupportedFormatError``); a newer format version
than this code knows is refused with a message asking for a newer vectordb.
"""

from __future__ import annotations

import os
import struct

from vectordb.errors import CorruptionError, UnsupportedFormatError

__all__ = ["FORMAT_VERSION", "HEADER", "pack_header", "unpack_header"]

#: 2: ``create`` log records carry the collection's configuration (storage/migrations.py)
#: 3: records may carry a document (``doc`` in ``put`` / ``meta`` log records, ``docs`` and
#: ``doc_offsets`` in snapshots)
FORMAT_VERSION = 4
HEADER = struct.Struct("<8sII")

DATABASE_MAGIC = b"VECTORDB"
WAL_MAGIC = b"VDB-WAL\x00"
VECTORS_MAGIC = b"VDB-VEC\x00"
SNAPSHOT_MAGIC = b"VDB-SNP\x00"
MANIFEST_MAGIC = b"VDB-MAN\x00"
IDEMPOTENCY_MAGIC = b"VDB-IDK\x00"
COLUMNS_MAGIC = b"VDB-COL\x00"


def pack_header(magic: bytes, version: int = FORMAT_VERSION, flags: int = 0) -> bytes:
    return HEADER.pack(magic, version, flags)


def unpack_header(data: bytes, magic: bytes, path: str | os.PathLike[str], what: str) -> int:
    """Check the header at the start of ``data``; return the format version."""
    if len(data) < HEADER.size:
        raise CorruptionError(
            f"{what} is truncated: {len(data)} bytes, header needs {HEADER.size}",
            path=path,
            offset=0,
        )
    found_magic, version, _flags = HEADER.unpack_from(data, 0)
    if found_magic != magic:
        raise UnsupportedFormatError(
            f"not a vectordb {what}: magic {found_magic!r}, expected {magic!r}", path=path, offset=0
        )
    if version > FORMAT_VERSION:
        raise UnsupportedFormatError(
            f"{what} has format version {version}, newer than this vectordb supports "
            f"({FORMAT_VERSION}); upgrade vectordb to open it",
            path=path,
            offset=8,
        )
    if version < 1:
        raise CorruptionError(f"{what} has invalid format version {version}", path=path, offset=8)
    return int(version)
