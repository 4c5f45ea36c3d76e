"""The I/O seam: every call of the package that changes a file or a directory goes through here.

Opens that may write or create, write, pwrite / pwritev, fsync of files and directories,
ftruncate, fallocate, rename / replace, link, unlink / rmdir / rmtree, mkdir and msync: each
is one small function here, and ``tests/test_io_seam.py`` fails when a direct call appears
anywhere else in ``vectordb/``. Reads may go through it too (``open_fd`` with read-only
flags) but are never faulted. What to call when - the durability rules - is ``atomic.py``'s
business; this module only performs the calls.

Why one seam: the fault tests (``tests/crash/test_io_faults.py``, modelled on SQLite's I/O
error tests) make the N-th call fail with ``ENOSPC`` or ``EIO`` for N = 1, 2, 3, ... and check
what the database does about each. ``inject(FaultInjector(at=N))`` arms that; every function
here pays one check of a module global for it (``_injector is not None``) before its system
call, and nothing else: no lock, no dict lookup, so the log append (``pwritev``) and the
vector file's ``pwrite`` cost one Python call more than the bare ``os`` function.

Kinds of call (``KINDS``), the names a ``FaultInjector`` counts and records: ``open`` (an
open for writing, or a native library's file write, ``write_with``), ``write``, ``pwrite``
(``pwrite`` and ``pwritev``), ``fsync`` (a file's or a directory's), ``ftruncate``,
``fallocate``, ``rename`` (``rename`` and ``replace``), ``link``, ``unlink`` (``unlink``,
``rmdir``, ``rmtree``), ``mkdir``, ``msync``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import shutil
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from typing_extensions import Buffer

__all__ = [
    "KINDS",
    "FaultInjector",
    "copy_file",
    "copy_tree",
    "fsync",
    "fsync_dir",
    "fsync_file",
    "ftruncate",
    "inject",
    "injecting",
    "link",
    "mkdir",
    "msync",
    "open_fd",
    "open_output",
    "open_text_output",
    "pwrite",
    "pwritev",
    "replace",
    "reserve_space",
    "rmdir",
    "rmtree",
    "truncate_file",
    "unlink",
    "write",
    "write_all",
    "write_file",
    "write_with",
]

KINDS = (
    "open",
    "write",
    "pwrite",
    "fsync",
    "ftruncate",
    "fallocate",
    "rename",
    "link",
    "unlink",
    "mkdir",
    "msync",
)

_IS_WINDOWS = sys.platform == "win32"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_BINARY = getattr(os, "O_BINARY", 0)
_STREAM_BUFFER = 1 << 20
_CHUNK = 8 * 1024 * 1024


class FaultInjector:
    """Test hook: records every call made through the seam and makes the ``at``-th fail.

    Parameters
    ----------
    at
        Which call fails (1-based), counting the calls of ``kind`` only when it is given;
        None: record, never fail.
    error
        The errno of the ``OSError`` raised (``ENOSPC``, ``EIO``, ...).
    kind
        Count only calls of this kind (one of ``KINDS``); None: every call counts.
    persistent
        From the ``at``-th counted call on, every call of any kind fails (a disk that stays
        full or broken) until the injector is disarmed, not only that one.
    """

    def __init__(
        self,
        at: int | None = None,
        *,
        error: int = errno.ENOSPC,
        kind: str | None = None,
        persistent: bool = False,
    ) -> None:
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind of call {kind!r}; expected one of {KINDS}")
        self.at = at
        self.error = error
        self.kind = kind
        self.persistent = persistent
        #: every call seen, in order: (kind, target)
        self.calls: list[tuple[str, str]] = []
        #: the first call made to fail, or None, and the stack it was made from
        self.failed: tuple[str, str] | None = None
        self.stack: list[str] = []
        #: every call made to fail (more than one when ``persistent``)
        self.raised: list[tuple[str, str]] = []
        self.counted = 0
        self._lock = threading.Lock()

    def __call__(self, kind: str, target: object) -> None:
        """Record a call about to be made (``target``: a path, or a file descriptor); raise
        ``OSError`` if it is one to fail."""
        name = _describe(target)
        with self._lock:
            self.calls.append((kind, name))
            counts = self.kind is None or kind == self.kind
            if self.at is None or (counts and self.counted + 1 < self.at):
                self.counted += counts
                return
            if self.failed is None:
                if not counts:
                    return
                self.counted += 1
                self.failed = (kind, name)
                self.stack = traceback.format_stack()[:-1]
            elif not self.persistent:
                return
            self.raised.append((kind, name))
            number = len(self.calls)
        raise OSError(self.error, f"{os.strerror(self.error)} (injected, call {number}: {kind})")

    @property
    def raised_kinds(self) -> set[str]:
        """The kinds of the calls made to fail so far."""
        return {kind for kind, _ in self.raised}


def _describe(target: object) -> str:
    """A path as text; a file descriptor as the path it is open on, where the OS says."""
    if isinstance(target, int):
        try:
            return os.readlink(f"/proc/self/fd/{target}")
        except OSError:
            return f"fd {target}"
    if isinstance(target, (str, os.PathLike)):
        return str(os.fspath(target))
    return str(target)


_injector: FaultInjector | None = None


def inject(injector: FaultInjector | None) -> FaultInjector | None:
    """Arm ``injector`` for every call of the process (None disarms); returns the one it
    replaces. For tests only."""
    global _injector
    previous, _injector = _injector, injector
    return previous


@contextlib.contextmanager
def injecting(injector: FaultInjector) -> Iterator[FaultInjector]:
    """``inject(injector)`` for the ``with`` block, then the previous one again."""
    previous = inject(injector)
    try:
        yield injector
    finally:
        inject(previous)


# ----------------------------------------------------------------------------- descriptors
def open_fd(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """``os.open`` (binary on Windows); faulted only when ``flags`` may write or create."""
    if _injector is not None and flags & _WRITE_FLAGS:
        _injector("open", path)
    return os.open(path, flags | _BINARY, mode)


def write(fd: int, data: bytes | memoryview) -> int:
    """One ``os.write``; returns the bytes written (maybe fewer than given)."""
    if _injector is not None:
        _injector("write", fd)
    return os.write(fd, data)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``write`` until every byte of ``data`` is written."""
    view = memoryview(data).cast("B")
    while view:
        view = view[write(fd, view) :]


def pwrite(fd: int, data: bytes | memoryview, offset: int) -> int:
    """One ``os.pwrite`` at ``offset``; returns the bytes written."""
    if _injector is not None:
        _injector("pwrite", fd)
    return os.pwrite(fd, data, offset)


def pwritev(fd: int, buffers: list[memoryview], offset: int) -> int:
    """One ``os.pwritev`` of ``buffers`` at ``offset``; returns the bytes written."""
    if _injector is not None:
        _injector("pwrite", fd)
    return os.pwritev(fd, buffers, offset)


def fsync(fd: int) -> None:
    """Flush a file's data and metadata to stable storage (``F_FULLFSYNC`` on macOS, whose
    ``fsync`` leaves them in the drive's cache). Never retry a failed one (``atomic.py``)."""
    if _injector is not None:
        _injector("fsync", fd)
    if sys.platform == "darwin":
        import fcntl

        fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
    else:
        os.fsync(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the directory entries of ``path`` durable (a no-op on Windows, which cannot)."""
    if _IS_WINDOWS:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Open ``path`` (for writing: Windows needs that to flush) and ``fsync`` it."""
    fd = open_fd(path, os.O_RDWR)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def ftruncate(fd: int, size: int) -> None:
    if _injector is not None:
        _injector("ftruncate", fd)
    os.ftruncate(fd, size)


def reserve_space(fd: int, size: int) -> None:
    """Grow the file to ``size`` bytes with its blocks allocated where the OS can.

    ``posix_fallocate`` turns a full disk into ENOSPC now, instead of a SIGBUS later when a
    page of an mmap'd sparse file has nowhere to go; where it is missing or unsupported by
    the file system, ``ftruncate`` grows the file sparse.
    """
    current = os.fstat(fd).st_size
    if size <= current:
        return
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        if _injector is not None:
            _injector("fallocate", fd)
        try:
            fallocate(fd, current, size - current)
            return
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", -1)):
                raise
    ftruncate(fd, size)


def msync(mapping: mmap.mmap) -> None:
    """Write a shared mapping's dirty pages back to its file (``mmap.flush``)."""
    if _injector is not None:
        _injector("msync", "mapping")
    mapping.flush()


# ----------------------------------------------------------------------------- paths
def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """``os.replace``: rename ``source`` over ``target`` (atomic on POSIX)."""
    if _injector is not None:
        _injector("rename", source)
    os.replace(source, target)


def rename(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """``os.rename`` (on Windows it refuses an existing ``target``, unlike ``replace``)."""
    if _injector is not None:
        _injector("rename", source)
    os.rename(source, target)


def link(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """``os.link``: a second name for ``source``."""
    if _injector is not None:
        _injector("link", source)
    os.link(source, target)


def unlink(path: str | os.PathLike[str], *, missing_ok: bool = False) -> None:
    if _injector is not None:
        _injector("unlink", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


def rmdir(path: str | os.PathLike[str]) -> None:
    """Remove an empty directory."""
    if _injector is not None:
        _injector("unlink", path)
    os.rmdir(path)


def rmtree(path: str | os.PathLike[str], *, ignore_errors: bool = False) -> None:
    """Remove a directory and everything in it (one call for the fault hook)."""
    try:
        if _injector is not None:
            _injector("unlink", path)
    except OSError:
        if ignore_errors:
            return
        raise
    shutil.rmtree(path, ignore_errors=ignore_errors)


def mkdir(path: str | os.PathLike[str], *, parents: bool = False, exist_ok: bool = False) -> None:
    """``Path.mkdir``; with ``exist_ok`` an existing directory makes no call at all."""
    target = Path(path)
    if exist_ok and target.is_dir():
        return
    if _injector is not None:
        _injector("mkdir", target)
    target.mkdir(parents=parents, exist_ok=exist_ok)


# ----------------------------------------------------------------------------- whole files
def write_file(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Create or truncate ``path`` and write ``data`` (not fsynced: the caller decides)."""
    fd = open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def truncate_file(path: str | os.PathLike[str], size: int) -> None:
    """Cut the existing file ``path`` to ``size`` bytes and fsync it."""
    fd = open_fd(path, os.O_RDWR)
    try:
        ftruncate(fd, size)
        fsync(fd)
    finally:
        os.close(fd)


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy ``source`` to a new or truncated ``target`` (not fsynced: the caller decides)."""
    fd = open_fd(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with open(source, "rb") as reader:
            while block := reader.read(_CHUNK):
                write_all(fd, block)
    finally:
        os.close(fd)


def copy_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    skip: Iterable[str] = (),
) -> None:
    """Copy the directory ``source`` to the new directory ``target``, leaving out the
    entries named in ``skip`` (at any depth). Not fsynced: the caller decides."""
    left_out = frozenset(skip)
    mkdir(target)
    for entry in sorted(os.scandir(source), key=lambda item: item.name):
        if entry.name in left_out:
            continue
        destination = Path(target) / entry.name
        if entry.is_dir(follow_symlinks=False):
            copy_tree(entry.path, destination, skip=left_out)
        else:
            copy_file(entry.path, destination)


def write_with(path: str | os.PathLike[str], writer: Callable[[str], object]) -> None:
    """Let a native library write ``path`` itself (hnswlib's ``save_index``): its writes
    bypass this module, so the hook counts the whole call as one ``open``."""
    if _injector is not None:
        _injector("open", path)
    writer(os.fspath(path))


# ----------------------------------------------------------------------------- streams
class _SeamRaw(io.RawIOBase):
    """An unbuffered file whose writes go through ``write``; buffered by ``open_output``."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def write(self, data: Buffer, /) -> int:
        return write(self._fd, memoryview(data))

    def close(self) -> None:
        if not self.closed:
            try:
                super().close()
            finally:
                os.close(self._fd)


def open_output(path: str | os.PathLike[str], *, exclusive: bool = False) -> BinaryIO:
    """A buffered binary file for writing ``path`` (created or truncated; ``exclusive``:
    it must not exist) whose writes go through this module."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    raw = _SeamRaw(open_fd(path, flags, 0o666))
    return io.BufferedWriter(raw, buffer_size=_STREAM_BUFFER)


def open_text_output(path: str | os.PathLike[str], *, exclusive: bool = False) -> TextIO:
    """``open_output`` as UTF-8 text, newlines written as given."""
    binary = open_output(path, exclusive=exclusive)
    return io.TextIOWrapper(binary, encoding="utf-8", newline="")
