"""VectorFile: fixed-width float32 rows in one file, mapped into memory.

Layout: a 4096-byte header page (``headers.VECTORS_MAGIC``, format version, flags, then
``dim u32 | dtype code u32 | row_bytes u64``; the rest zero) followed by ``capacity`` rows of
``dim`` little-endian float32 values. ``capacity = (file size - 4096) // row_bytes``; rows start
page-aligned so numpy views of them are aligned.

Growing never resizes a live mapping: the file is extended by about a quarter (space
reserved with ``posix_fallocate`` so a full disk raises ``StorageFullError`` instead of a
SIGBUS on a later page fault), a new mapping is created and swapped in, and the old one stays
valid for any numpy view still holding it until that view is dropped. The last process to
close the database cuts the unused rows off again (``trim``); a writer that finds the file
shorter than its mapping (a process of an older version, which does not take ``OPEN``, may
have been open meanwhile) reserves the space again before it writes a row.

Without mmap (``use_mmap=False``) rows live in a numpy array too, and every write also goes
to the file at once (positional writes), so other processes read the same bytes.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vectordb.errors import CorruptionError
from vectordb.files import io
from vectordb.files.atomic import detached, os_error
from vectordb.files.headers import HEADER, VECTORS_MAGIC, pack_header, unpack_header

__all__ = ["VectorFile"]

HEADER_BYTES = 4096
_HAS_PWRITE = hasattr(os, "pwrite") and sys.platform != "win32"
_HAS_POSITIONAL = hasattr(os, "pwrite")
_SHAPE = struct.Struct("<IIQ")
_FLOAT32 = 1
#: growth: a quarter of the capacity more (not double: the unused rows are disk space until
#: the last close trims them), and at least this many rows
GROWTH_DIVISOR = 4
MIN_GROWTH_ROWS = 64


class VectorFile:
    """Rows of float32 vectors; ``rows`` is a (capacity, dim) view that may be replaced on grow."""

    def __init__(self, path: Path, dim: int, *, read_only: bool, use_mmap: bool) -> None:
        self.path = path
        self.dim = dim
        self.row_bytes = dim * 4
        self.read_only = read_only
        self.use_mmap = use_mmap
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._private = False  # rows is a private copy, not the mapping (see ensure_capacity)
        #: a flush failed: its pages may never reach the disk, and a later flush that
        #: succeeds would not prove otherwise (an fsync is never retried): no more flushes
        self.broken: BaseException | None = None
        self.rows: npt.NDArray[np.float32] = np.empty((0, dim), dtype=np.float32)
        self._open()

    @classmethod
    def create(cls, path: Path, dim: int, capacity: int) -> None:
        """Write a new, empty vector file with room for ``capacity`` rows (fsynced)."""
        header = bytearray(HEADER_BYTES)
        header[: HEADER.size] = pack_header(VECTORS_MAGIC)
        header[HEADER.size : HEADER.size + _SHAPE.size] = _SHAPE.pack(dim, _FLOAT32, dim * 4)
        try:
            fd = io.open_fd(path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            try:
                io.write_all(fd, bytes(header))
                io.reserve_space(fd, HEADER_BYTES + capacity * dim * 4)
                io.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise os_error(error, f"create vector file {path}") from error

    def _open(self) -> None:
        flags = os.O_RDONLY if self.read_only else os.O_RDWR
        try:
            self._fd = io.open_fd(self.path, flags)
        except OSError as error:
            raise os_error(error, f"open vector file {self.path}") from error
        try:
            self._check_and_map()
        except BaseException:
            self.close()  # no descriptor left behind by a file that cannot be used
            raise

    def _check_and_map(self) -> None:
        assert self._fd is not None
        try:
            head = (
                os.pread(self._fd, HEADER_BYTES, 0)
                if hasattr(os, "pread")
                else _read_at(self._fd, HEADER_BYTES, 0)
            )
        except OSError as error:
            raise os_error(error, f"open vector file {self.path}") from error
        #: which file this is: a compaction (or a drop and re-create) in another process
        #: replaces it, and a writer checks before it writes (``Engine._check_identities``)
        self.inode = os.fstat(self._fd).st_ino
        unpack_header(head, VECTORS_MAGIC, self.path, "vector file")
        if len(head) < HEADER.size + _SHAPE.size:
            raise CorruptionError("vector file header truncated", path=self.path, offset=0)
        dim, dtype, row_bytes = _SHAPE.unpack_from(head, HEADER.size)
        if dim != self.dim or dtype != _FLOAT32 or row_bytes != self.row_bytes:
            raise CorruptionError(
                f"vector file holds dim={dim} dtype={dtype} row_bytes={row_bytes}; the manifest "
                f"says dim={self.dim} float32",
                path=self.path,
                offset=HEADER.size,
            )
        size = os.fstat(self._fd).st_size
        if size < HEADER_BYTES:  # rows start after the whole header page, which is mapped
            raise CorruptionError(
                f"vector file is {size} bytes, shorter than its {HEADER_BYTES}-byte header page",
                path=self.path,
                offset=size,
            )
        self._map_rows()

    @property
    def capacity(self) -> int:
        return int(self.rows.shape[0])

    def _file_capacity(self) -> int:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        return max(0, (size - HEADER_BYTES) // self.row_bytes)

    def _map_rows(self) -> None:
        assert self._fd is not None
        capacity = self._file_capacity()
        length = HEADER_BYTES + capacity * self.row_bytes
        if not self.use_mmap:
            data = np.zeros((capacity, self.dim), dtype=np.float32)
            if capacity:
                raw = _read_at(self._fd, capacity * self.row_bytes, HEADER_BYTES)
                got = len(raw) // self.row_bytes
                data[:got] = np.frombuffer(raw, dtype="<f4", count=got * self.dim).reshape(
                    got, self.dim
                )
            old = self.rows
            if old.shape[0]:
                data[: old.shape[0]] = old
            self.rows = data
            return
        # read-only handles map copy-on-write: replaying the log tail writes private pages
        access = mmap.ACCESS_COPY if self.read_only else mmap.ACCESS_WRITE
        try:
            new_map = mmap.mmap(self._fd, length, access=access)
        except OSError as error:
            raise os_error(error, f"map vector file {self.path}") from error
        rows = np.frombuffer(
            new_map, dtype="<f4", count=capacity * self.dim, offset=HEADER_BYTES
        ).reshape(capacity, self.dim)
        old_map = self._map
        self._map = new_map
        if self._private:  # keep rows replayed into the private copy
            rows = rows.copy()
            rows[: self.rows.shape[0]] = self.rows[: rows.shape[0]]
        self.rows = rows
        if old_map is not None:
            _close_quietly(old_map)

    def grown_capacity(self, needed: int) -> int:
        """The capacity to grow to when ``needed`` rows must fit: a quarter more than now
        (at least ``MIN_GROWTH_ROWS`` more), or ``needed`` if that is more."""
        capacity = self.capacity
        return max(needed, capacity + max(capacity // GROWTH_DIVISOR, MIN_GROWTH_ROWS))

    def ensure_capacity(self, needed: int) -> None:
        """Grow until at least ``needed`` rows fit (``grown_capacity``). Raises
        StorageFullError. A writable file shorter than the mapping (trimmed by a process
        that did not see this one open) gets its space reserved again first."""
        if needed <= self.capacity:
            if not self.read_only and self._fd is not None:
                self._ensure_file_covers(needed)
            return
        capacity = self.grown_capacity(needed)
        assert self._fd is not None
        if self.read_only:
            if self._file_capacity() >= needed:  # a writing process grew the file: map more
                self._map_rows()
                return
            # replaying a crashed writer's log in a read-only open: grow in private memory
            grown = np.zeros((capacity, self.dim), dtype=np.float32)
            grown[: self.capacity] = self.rows
            self.rows = grown
            self._private = True
            return
        try:
            io.reserve_space(self._fd, HEADER_BYTES + capacity * self.row_bytes)
        except OSError as error:
            raise os_error(error, f"grow vector file {self.path} to {capacity} rows") from error
        self._map_rows()

    def _ensure_file_covers(self, needed: int) -> None:
        """One ``fstat``: if the file ends before row ``needed`` (another process trimmed
        it), reserve the mapping's length again, so writing through the mapping cannot
        SIGBUS (and a full disk is ``StorageFullError`` here, not a sparse hole later)."""
        assert self._fd is not None
        if self._file_capacity() >= needed:
            return
        try:
            io.reserve_space(self._fd, HEADER_BYTES + self.capacity * self.row_bytes)
        except OSError as error:
            raise os_error(
                error, f"extend vector file {self.path} to {self.capacity} rows again"
            ) from error

    def trim(self, rows: int) -> bool:
        """Cut the file after row ``max(rows, 1) - 1`` and fsync it; True if it was longer.

        Only for the last process with the database open, holding the writer lock, right
        after a checkpoint at which ``rows`` is ``n_rows``: rows from there on hold nothing
        any reader needs (never live at a checkpoint, and no logged record follows it), and
        no other process maps the file. A vector file always keeps one row."""
        if self.read_only or self._fd is None:
            return False
        keep = max(rows, 1)
        size = HEADER_BYTES + keep * self.row_bytes
        try:
            if os.fstat(self._fd).st_size <= size:
                return False
            if self.use_mmap:  # unmap the rows about to go, before the file loses them
                self.rows = self.rows[:0]
                if self._map is not None:
                    _close_quietly(self._map)
                    self._map = None
            io.ftruncate(self._fd, size)
            io.fsync(self._fd)
        except OSError as error:
            raise os_error(error, f"trim vector file {self.path} to {keep} rows") from error
        finally:
            if self.use_mmap and self._map is None and self._fd is not None:
                self._map_rows()
        if not self.use_mmap:
            self.rows = self.rows[:keep]
        return True

    def write(self, start_rows: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        """Store ``vectors[i]`` in row ``start_rows[i]`` (rows must already fit)."""
        if len(start_rows) == 0:
            return
        low = int(start_rows.min())
        high = int(start_rows.max())
        if high - low + 1 == len(start_rows) and bool(np.all(np.diff(start_rows) == 1)):
            if self.use_mmap and not self.read_only and _HAS_PWRITE and len(start_rows) >= 64:
                # pwrite into the page cache is faster than first-touch page faults through
                # the mapping, and a shared mapping sees the same pages
                data = np.ascontiguousarray(vectors, dtype="<f4")
                try:
                    _write_at(
                        self._fd_or_raise(),
                        data.data.cast("B"),
                        HEADER_BYTES + low * self.row_bytes,
                    )
                except OSError as error:
                    raise os_error(error, f"write rows to {self.path}") from error
            else:
                self.rows[low : high + 1] = vectors
        else:
            self.rows[start_rows] = vectors
        if not self.use_mmap and not self.read_only:
            self._write_through(start_rows)

    def _write_through(self, start_rows: npt.NDArray[np.int64]) -> None:
        """Without mmap: copy the rows just written to the file (one write per run of rows)."""
        fd = self._fd_or_raise()
        rows = np.sort(start_rows)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        try:
            for run in np.split(rows, breaks):
                low, high = int(run[0]), int(run[-1])
                block = np.ascontiguousarray(self.rows[low : high + 1])
                _write_at(fd, block.data.cast("B"), HEADER_BYTES + low * self.row_bytes)
        except OSError as error:
            raise os_error(error, f"write rows to {self.path}") from error

    def adopt(self, start_rows: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        """A writer put ``vectors`` into these rows of the file before logging them: a shared
        mapping sees them already. Without mmap (or in a grown private copy) they are copied
        into memory. A read-only (copy-on-write) mapping whose bytes differ - a damaged row
        the log still covers - gets the logged bytes in its private pages, never the file."""
        if not len(start_rows):
            return
        if self.use_mmap and not self._private:
            if not self.read_only:
                return
            current = self.rows[start_rows]
            differ = np.any(current.view(np.uint32) != vectors.view(np.uint32), axis=1)
            if differ.any():
                self.rows[start_rows[differ]] = vectors[differ]
            return
        self.rows[start_rows] = vectors

    def _fd_or_raise(self) -> int:
        if self._fd is None:
            raise ValueError("vector file is closed")
        return self._fd

    def flush(self) -> None:
        """Make every written row durable (msync + fsync, or pwrite + fsync without mmap)."""
        if self.read_only or self._fd is None:
            return
        if self.broken is not None:
            raise os_error(OSError(str(self.broken)), f"flush {self.path} after a failed flush")
        try:
            if self.use_mmap and self._map is not None:
                io.msync(self._map)
            io.fsync(self._fd)
        except OSError as error:
            self.broken = detached(error)
            raise os_error(error, f"flush vector file {self.path}") from error

    def bytes_in_use(self, rows: int) -> int:
        """The file's length up to the end of row ``rows - 1``: what a copy must hold."""
        return HEADER_BYTES + rows * self.row_bytes

    def disk_bytes(self) -> int:
        """The file's size (its capacity; trimmed by the last close)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                return os.fstat(self._fd).st_size
        return HEADER_BYTES + self.capacity * self.row_bytes

    def close(self) -> None:
        if self._map is not None:
            _close_quietly(self._map)
            self._map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.rows = np.empty((0, self.dim), dtype=np.float32)


def _close_quietly(mapping: mmap.mmap) -> None:
    # numpy views may still hold the buffer (a search in another thread, a user's array);
    # the mapping is then released when the last view is garbage-collected.
    try:
        mapping.close()
    except BufferError:
        pass


def _read_at(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        if hasattr(os, "pread"):
            chunk = os.pread(fd, min(size, 1 << 30), offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            chunk = os.read(fd, min(size, 1 << 30))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    while data:
        if _HAS_POSITIONAL:
            written = io.pwrite(fd, data, offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            written = io.write(fd, data)
        data = data[written:]
        offset += written


def remove_vector_file(path: Path) -> None:
    io.unlink(path, missing_ok=True)
    io.fsync_dir(path.parent)
