"""Small files that are one checksummed msgpack map: ``MANIFEST`` and ``index/INDEX``.

Layout: the common 16-byte header (``headers.py``), then
``body_length u64 LE | xxh3-64(body) u64 LE | body`` (a msgpack map). Written by atomic
replace; any damage found on reading raises ``CorruptionError`` naming the file and offset.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import msgpack
import xxhash

from vectordb.errors import CorruptionError
from vectordb.files.atomic import atomic_write_bytes, os_error
from vectordb.files.headers import HEADER, pack_header, unpack_header

__all__ = ["read_checksummed_map", "write_checksummed_map"]

_BODY = struct.Struct("<QQ")


def write_checksummed_map(path: Path, magic: bytes, fields: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``fields`` as a checksummed msgpack map."""
    body = msgpack.packb(fields, use_bin_type=True)
    atomic_write_bytes(
        path, pack_header(magic) + _BODY.pack(len(body), xxhash.xxh3_64_intdigest(body)) + body
    )


def read_checksummed_map(path: Path, magic: bytes, what: str) -> dict[str, Any]:
    """Read and verify a file written by ``write_checksummed_map``; ``what`` names it in
    error messages. ``FileNotFoundError`` passes through for the caller to judge."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise os_error(error, f"read {path}") from error
    unpack_header(data, magic, path, what)
    start = HEADER.size + _BODY.size
    if len(data) < start:
        raise CorruptionError(f"{what} truncated", path=path, offset=HEADER.size)
    length, checksum = _BODY.unpack_from(data, HEADER.size)
    body = data[start : start + length]
    if len(body) != length or xxhash.xxh3_64_intdigest(body) != checksum:
        raise CorruptionError(f"{what} fails its checksum", path=path, offset=start)
    try:
        value = msgpack.unpackb(body, raw=False)
    except Exception as error:
        raise CorruptionError(
            f"{what} does not decode: {error}", path=path, offset=start
        ) from error
    if not isinstance(value, dict):
        raise CorruptionError(f"{what} body is not a map", path=path, offset=start)
    return value
