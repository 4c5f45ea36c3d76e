"""The write-ahead log: one log per database, split into segments.

Segment file ``wal/<first-lsn:012d>.log``: a 16-byte header (``headers.WAL_MAGIC``, format
version, flags) followed by frames::

    payload_length u32 LE | checksum u64 LE | payload (msgpack map)

``checksum`` is xxh3-64 over the 4 length bytes followed by the payload, so a corrupted length
is caught like a corrupted payload. Every payload holds ``lsn`` (log sequence number: 1, 2, 3,
... across segments without gaps) and ``op``; large vector data is the map's last value, a
msgpack ``bin``, written straight from the caller's buffer without a copy.

Reading rules (``WalScan``):
- A frame that is cut short by the end of the *last* segment, or whose checksum fails while
  it reaches the end of that segment, is a torn tail: a write that was never acknowledged.
  Replay stops there and a read-write open truncates the segment at that offset - unless a
  whole frame with a valid checksum follows the damage (a torn append only ever hits the
  final frame, so that is corruption, e.g. a flipped bit in a length field).
- Any other checksum failure, an LSN out of sequence, or a frame cut short in an earlier
  segment raises ``CorruptionError`` naming the segment and byte offset.

Writing (``WalWriter``): appends go through ``pwritev`` (``io.py``); a failed append truncates the
segment back to where it was so no half frame is left behind; ``sync()`` fsyncs. A new
segment is fsynced together with its directory before any frame goes into it. A segment is
closed by a ``seal`` record (``{"op": "seal", "next": <first LSN of the next segment>}``)
before the next one starts, so a process following the log (``WalFollower``) learns where it
goes on without listing the directory.

Several processes append to one log, one at a time under the database's writer lock; each
first follows the log to its end (``WalFollower``) and then resumes its writer there
(``WalWriter.resume``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import xxhash

from vectordb.errors import CorruptionError, FellBehind, InvalidArgumentError, LogGapError
from vectordb.files import io
from vectordb.files.atomic import detached, os_error
from vectordb.files.headers import HEADER, WAL_MAGIC, pack_header, unpack_header
from vectordb.storage.layout import DatabaseFiles
from vectordb.storage.records import encode_seal, is_seal, seal_next

__all__ = [
    "FRAME",
    "WalFollower",
    "WalRecord",
    "WalScan",
    "WalWriter",
    "encode_payload",
]

log = logging.getLogger("vectordb.wal")

FRAME = struct.Struct("<IQ")
MAX_PAYLOAD = 2**32 - 1
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_BIN32 = struct.Struct(">BI")


def frame_checksum(length_bytes: bytes, parts: list[bytes | memoryview]) -> int:
    hasher = xxhash.xxh3_64(length_bytes)
    for part in parts:
        hasher.update(part)
    return hasher.intdigest()


def encode_payload(
    fields: Mapping[str, Any], vector_bytes: tuple[str, memoryview] | None = None
) -> list[bytes | memoryview]:
    """Encode a msgpack map of ``fields`` plus an optional raw ``bin`` value, without copying it.

    ``vector_bytes`` (a key and a buffer, a record's vectors) becomes the map's last value;
    msgpack readers see an ordinary map.
    """
    packer = msgpack.Packer(use_bin_type=True)
    size = len(fields) + (vector_bytes is not None)
    parts: list[bytes | memoryview] = [packer.pack_map_header(size)]
    for key, value in fields.items():
        parts.append(packer.pack(key))
        parts.append(packer.pack(value))
    if vector_bytes is not None:
        key, buffer = vector_bytes
        parts.append(packer.pack(key))
        parts.append(_BIN32.pack(0xC6, buffer.nbytes))
        parts.append(buffer.cast("B") if buffer.ndim != 1 or buffer.format != "B" else buffer)
    return parts


@dataclass(frozen=True, slots=True)
class WalRecord:
    lsn: int
    payload: dict[str, Any]
    segment: Path
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class TornTail:
    segment: Path
    offset: int
    reason: str


class WalScan:
    """Reads every record of the log in LSN order; see the module docstring for the rules."""

    def __init__(self, files: DatabaseFiles) -> None:
        self.files = files
        self.segments = files.segments()
        self.torn: TornTail | None = None
        self.last_lsn: int | None = None
        self.bytes_read = 0
        #: where the log ends once ``records`` has run: (segment, byte offset, next LSN) - the
        #: start of a torn tail, or the next segment after a final ``seal``
        self.end: tuple[Path, int, int] | None = None

    def records(self, after_lsn: int = 0, *, needed_from: int | None = None) -> Iterator[WalRecord]:
        """Yield records with ``lsn > after_lsn``; sets ``torn`` and ``last_lsn`` as it goes.

        ``needed_from`` is the first LSN that no checkpoint covers: a log whose first segment
        starts after it has lost acknowledged records (``CorruptionError``). None when no
        collection exists: nothing is needed then.
        """
        expected: int | None = None
        if needed_from is not None and self.segments and self.segments[0][0] > needed_from:
            first_lsn, path = self.segments[0]
            raise LogGapError(
                f"the log starts at LSN {first_lsn} but records from LSN {needed_from} are not "
                "covered by any checkpoint (a log segment is missing)",
                first_missing_lsn=needed_from,
                path=path,
                offset=0,
            )
        for position, (first_lsn, path) in enumerate(self.segments):
            is_last = position == len(self.segments) - 1
            try:
                data = path.read_bytes()
            except OSError as error:
                raise os_error(error, f"read log segment {path}") from error
            self.bytes_read += len(data)
            if len(data) < HEADER.size:
                if is_last:
                    self.torn = TornTail(path, 0, "segment header incomplete")
                    self.end = (path, HEADER.size, expected or first_lsn)
                    return
                raise CorruptionError("log segment header truncated", path=path, offset=0)
            unpack_header(data, WAL_MAGIC, path, "log segment")
            if expected is None:
                expected = first_lsn
            elif first_lsn != expected:
                raise LogGapError(
                    f"log segment starts at LSN {first_lsn}, expected {expected} (a segment "
                    "is missing)",
                    first_missing_lsn=expected,
                    path=path,
                    offset=0,
                )
            offset = HEADER.size
            end = len(data)
            while offset < end:
                reason = None
                if end - offset < FRAME.size:
                    reason = "frame header cut short"
                else:
                    length, checksum = FRAME.unpack_from(data, offset)
                    frame_end = offset + FRAME.size + length
                    if frame_end > end:
                        reason = "frame cut short"
                    else:
                        body = memoryview(data)[offset + FRAME.size : frame_end]
                        computed = frame_checksum(data[offset : offset + 4], [body])
                        if computed != checksum:
                            if is_last and frame_end == end:
                                reason = "last frame fails its checksum"
                            else:
                                raise CorruptionError(
                                    "log record fails its checksum", path=path, offset=offset
                                )
                if reason is not None and _later_frame_exists(data, offset):
                    # bytes after this point still hold a whole, valid frame: the damage is
                    # not a torn append (those only ever hit the final frame) but corruption,
                    # e.g. a flipped bit in a length field; never drop acknowledged records
                    raise CorruptionError(
                        f"log record damaged ({reason}) with valid records after it",
                        path=path,
                        offset=offset,
                    )
                if reason is not None:
                    if not is_last:
                        raise CorruptionError(
                            f"log segment ends mid-record ({reason})", path=path, offset=offset
                        )
                    self.torn = TornTail(path, offset, reason)
                    self.end = (path, offset, expected)
                    return
                try:
                    payload = msgpack.unpackb(body, raw=False)
                    lsn = payload["lsn"]
                except Exception as error:
                    raise CorruptionError(
                        f"log record does not decode: {error}", path=path, offset=offset
                    ) from error
                if type(lsn) is not int or lsn != expected:
                    raise CorruptionError(
                        f"log record has LSN {lsn!r}, expected {expected}", path=path,
                        offset=offset,
                    )  # fmt: skip
                expected += 1
                self.last_lsn = lsn
                if lsn > after_lsn:
                    yield WalRecord(lsn, payload, path, offset, frame_end - offset)
                offset = frame_end
                if is_last:
                    next_lsn = _sealed_next(payload, lsn, path, offset)
                    if next_lsn is not None:  # sealed: the next segment is not created yet
                        self.end = (self.files.segment(next_lsn), HEADER.size, next_lsn)
                    else:
                        self.end = (path, offset, expected)
            if is_last and self.end is None:
                self.end = (path, offset, expected)

    @property
    def next_lsn_hint(self) -> int | None:
        if self.last_lsn is not None:
            return self.last_lsn + 1
        if self.segments:
            return self.segments[-1][0]
        return None


def _sealed_next(payload: dict[str, Any], lsn: int, path: Path, offset: int) -> int | None:
    """The first LSN of the segment after a ``seal`` record (always the seal's LSN + 1: the
    writer seals with the last LSN of a segment), None for any other record; a seal that
    names anything else is corruption."""
    try:
        return seal_next(payload, lsn)
    except ValueError as error:
        raise CorruptionError(str(error), path=path, offset=offset) from error


_LSN_KEY = b"\xa3lsn"  # every payload is a msgpack map whose first key is "lsn"


def _later_frame_exists(data: bytes, offset: int) -> bool:
    """True if a frame with a valid checksum starts anywhere after ``offset`` in ``data``.

    Candidates are found by the payload's fixed opening (a fixmap header, then the key
    ``"lsn"``) with ``bytes.find``, so scanning a torn multi-megabyte tail stays cheap.
    """
    end = len(data)
    position = data.find(_LSN_KEY, offset + FRAME.size + 2)
    while position != -1:
        start = position - 1 - FRAME.size
        if start > offset and 0x80 <= data[position - 1] <= 0x8F:
            length, checksum = FRAME.unpack_from(data, start)
            frame_end = start + FRAME.size + length
            if frame_end <= end:
                body = memoryview(data)[start + FRAME.size : frame_end]
                if frame_checksum(data[start : start + 4], [body]) == checksum:
                    return True
        position = data.find(_LSN_KEY, position + 1)
    return False


class WalWriter:
    """Appends frames to the last segment; not thread-safe (the writer lock serializes callers)."""

    def __init__(
        self, files: DatabaseFiles, next_lsn: int, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> None:
        self.files = files
        self.next_lsn = next_lsn
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        #: start_segment closed the old segment but could not create the new one yet
        self._segment_pending = False
        self._path: Path | None = None
        self._size = 0
        self.unsynced = False
        self.broken: BaseException | None = None
        segments = files.segments()
        if segments:
            self._open_existing(segments[-1][1])
        else:
            self.start_segment()

    def _open_existing(self, path: Path) -> None:
        try:
            fd = io.open_fd(path, os.O_RDWR)
        except OSError as error:
            raise os_error(error, f"open log segment {path}") from error
        try:
            size = os.fstat(fd).st_size
            if size < HEADER.size:  # a torn header from a crash while the segment was created
                io.ftruncate(fd, 0)
                io.pwrite(fd, pack_header(WAL_MAGIC), 0)
                io.fsync(fd)
                size = HEADER.size
        except OSError as error:
            os.close(fd)
            raise os_error(error, f"repair the header of log segment {path}") from error
        self._fd, self._path, self._size = fd, path, size

    @property
    def segment_path(self) -> Path | None:
        return self._path

    @property
    def segment_size(self) -> int:
        return self._size

    def resume(self, path: Path, size: int, next_lsn: int) -> None:
        """Continue appending at byte ``size`` of segment ``path`` with LSN ``next_lsn``: where
        a follower found the log's end after other processes appended (caller holds the
        database's writer lock)."""
        if path != self._path:
            if not path.exists():
                # the log ends in a seal whose next segment a crash kept from being created
                self.next_lsn = next_lsn
                self.start_segment()
                return
            if self._fd is not None:
                self.sync()
                os.close(self._fd)
                self._fd = None
            self._open_existing(path)
        self._size = size
        self.next_lsn = next_lsn

    def seal_and_start_segment(
        self, *, checkpoint: bool = False, reload: list[str] | None = None, sync: bool = False
    ) -> Path:
        """Close the current segment with a ``seal`` record naming the next one (marked as a
        checkpoint's, naming the collections to ``reload``), then start it."""
        if self._fd is not None and (self._size > HEADER.size or checkpoint or reload):
            seal = encode_seal(time.time(), self.next_lsn + 1, checkpoint=checkpoint,
                               reload=reload)  # fmt: skip
            self.append(seal, None, sync=sync)
        return self.start_segment()

    def start_segment(self) -> Path:
        """Close the current segment (fsynced) and start ``<next_lsn>.log``."""
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None
            self._segment_pending = True
        path = self.files.segment(self.next_lsn)
        try:
            io.mkdir(self.files.wal_dir, parents=True, exist_ok=True)
            fd = io.open_fd(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        except OSError as error:
            raise os_error(error, f"create log segment {path}") from error
        try:
            io.write_all(fd, pack_header(WAL_MAGIC))
        except OSError as error:
            os.close(fd)  # the next append creates the segment again
            raise os_error(error, f"create log segment {path}") from error
        try:
            io.fsync(fd)
            io.fsync_dir(self.files.wal_dir)
        except OSError as error:
            os.close(fd)
            self.broken = detached(error)  # never retried, as for a frame's fsync
            raise os_error(error, f"fsync new log segment {path}") from error
        self._fd, self._path, self._size = fd, path, HEADER.size
        self._segment_pending = False
        self.unsynced = False
        return path

    def append(
        self,
        fields: Mapping[str, Any],
        vector_bytes: tuple[str, memoryview] | None = None,
        *,
        sync: bool,
    ) -> tuple[int, int]:
        """Append one record; returns ``(lsn, bytes written)``.

        On failure the segment is cut back to its previous end and the LSN is not consumed.
        """
        if self.broken is not None:
            raise os_error(OSError(str(self.broken)), "append to a log that failed before")
        if self._fd is None:
            if not self._segment_pending:
                raise RuntimeError("log writer is closed")
            self.start_segment()  # creating it failed after the seal that names it
        if self._size >= self.segment_bytes and not is_seal(fields):
            self.seal_and_start_segment()
        fd = self._fd
        assert fd is not None
        lsn = self.next_lsn
        parts = encode_payload({"lsn": lsn, **fields}, vector_bytes)
        length = sum(len(part) if isinstance(part, bytes) else part.nbytes for part in parts)
        if length > MAX_PAYLOAD:
            raise InvalidArgumentError(
                f"one write of {length} bytes exceeds the 4 GiB record limit; split the batch"
            )
        length_bytes = struct.pack("<I", length)
        checksum = frame_checksum(length_bytes, parts)
        frame = [FRAME.pack(length, checksum), *parts]
        start = self._size
        try:
            _write_all(fd, frame, start)
        except OSError as error:
            try:
                io.ftruncate(fd, start)
            except OSError:
                self.broken = detached(error)  # a half frame may stay behind: no more appends
            raise os_error(error, f"append to log segment {self._path}") from error
        if sync:
            try:
                io.fsync(fd)
            except OSError as error:
                # never retried: the kernel may have dropped the pages it failed to write
                self.broken = detached(error)
                # the record was not acknowledged: cut it off, so that neither a reader
                # following the log nor the next open replays it
                with contextlib.suppress(OSError):
                    io.ftruncate(fd, start)
                raise os_error(error, f"fsync log segment {self._path}") from error
        self._size = start + FRAME.size + length
        self.next_lsn = lsn + 1
        self.unsynced = not sync
        return lsn, FRAME.size + length

    def sync(self) -> None:
        if self._fd is not None and self.unsynced:
            try:
                io.fsync(self._fd)
            except OSError as error:
                self.broken = detached(error)
                raise os_error(error, f"fsync log segment {self._path}") from error
            self.unsynced = False

    def close(self) -> None:
        self._segment_pending = False
        if self._fd is not None:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = None


class WalFollower:
    """Follows the log's end for one process: which records other processes appended since
    this one last looked.

    ``changed()`` is one ``stat`` of the current segment (its size differs, or it is gone).
    ``read_new()`` yields the complete records after the known position, following ``seal``
    records into the next segment; a frame not complete yet is left for the next call (a
    writer may be appending it right now) unless ``at_end_is_torn`` (the caller holds the
    writer lock, so nobody is appending: a partial frame is a crashed writer's torn tail, and
    ``torn`` says where it starts). ``FellBehind`` means a segment it needs was deleted.
    """

    def __init__(self, files: DatabaseFiles, path: Path, offset: int, next_lsn: int) -> None:
        self.files = files
        self.torn: TornTail | None = None
        self.move_to(path, offset, next_lsn)

    def move_to(self, path: Path, offset: int, next_lsn: int) -> None:
        self.path, self.offset, self.next_lsn = path, offset, next_lsn
        self._path_text = os.fspath(path)  # os.stat of a str skips a conversion per call

    def changed(self) -> bool:
        try:
            return os.stat(self._path_text).st_size != self.offset
        except OSError:
            return True

    def read_new(self, *, at_end_is_torn: bool = False) -> Iterator[WalRecord]:
        self.torn = None
        while True:
            try:
                with open(self.path, "rb") as handle:
                    handle.seek(self.offset)
                    data = handle.read()
            except FileNotFoundError:
                if self._next_segment_pending():
                    return  # sealed, the next segment not created yet: nothing new
                raise FellBehind(str(self.path)) from None
            except OSError as error:
                raise os_error(error, f"read log segment {self.path}") from error
            sealed_next: int | None = None
            base = self.offset
            position = 0
            end = len(data)
            while end - position >= FRAME.size:
                length, checksum = FRAME.unpack_from(data, position)
                frame_end = position + FRAME.size + length
                if frame_end > end:
                    break
                body = memoryview(data)[position + FRAME.size : frame_end]
                if frame_checksum(data[position : position + 4], [body]) != checksum:
                    if frame_end == end:
                        break  # the last frame, maybe still being written: judged below
                    raise CorruptionError(
                        "log record fails its checksum", path=self.path, offset=base + position
                    )
                try:
                    payload = msgpack.unpackb(body, raw=False)
                    lsn = payload["lsn"]
                except Exception as error:
                    raise CorruptionError(
                        f"log record does not decode: {error}", path=self.path,
                        offset=base + position,
                    ) from error  # fmt: skip
                if type(lsn) is not int or lsn != self.next_lsn:
                    raise CorruptionError(
                        f"log record has LSN {lsn!r}, expected {self.next_lsn}",
                        path=self.path, offset=base + position,
                    )  # fmt: skip
                record = WalRecord(lsn, payload, self.path, base + position, frame_end - position)
                position = frame_end
                self.offset = base + position
                self.next_lsn = lsn + 1
                yield record
                sealed_next = _sealed_next(payload, lsn, self.path, base + position)
                if sealed_next is not None:
                    break
            if sealed_next is None:
                if position < end and at_end_is_torn:
                    self.torn = TornTail(self.path, self.offset, "unfinished frame at the end")
                return
            self.move_to(self.files.segment(sealed_next), HEADER.size, sealed_next)

    def _next_segment_pending(self) -> bool:
        """True if the missing current segment is one a seal named but whose writer has not
        created it yet (no later segment exists), not one a checkpoint deleted."""
        current = int(self.path.stem)
        return all(first <= current for first, _ in self.files.segments())


def _write_all(fd: int, parts: list[bytes | memoryview], offset: int) -> None:
    """Write every part at ``offset`` (positional, so a retry after a short write is exact)."""
    if sys.platform == "win32" or not hasattr(os, "pwritev"):
        data = b"".join(parts)
        os.lseek(fd, offset, os.SEEK_SET)
        io.write_all(fd, data)
        return
    pending = [memoryview(part) for part in parts]
    while pending:
        written = io.pwritev(fd, pending[:512], offset)
        offset += written
        while pending and written >= pending[0].nbytes:
            written -= pending[0].nbytes
            pending.pop(0)
        if written:
            pending[0] = pending[0][written:]
