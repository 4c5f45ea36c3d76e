"""The one place that knows durability tricks: fsync of files and directories, atomic replace.

Invariants:
- A file that must survive power loss is fsynced before anything refers to it, and the
  directory holding a created or renamed entry is fsynced after the change (rename alone
  only orders the directory entry in the page cache).
- An fsync error is never retried: Linux may already have dropped the dirty pages it failed
  to write, so a retry could report success for data that is gone. Callers turn the
  ``StorageError`` raised here into a dead handle.
- On macOS ``fsync`` does not flush the drive's cache; ``F_FULLFSYNC`` does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

from vectordb.errors import StorageError, StorageFullError

__all__ = ["atomic_write_bytes", "fsync_dir", "fsync_fd", "os_error", "reserve_space"]

_IS_WINDOWS = sys.platform == "win32"


def os_error(error: OSError, action: str) -> StorageError:
    """Wrap an OSError as StorageError (StorageFullError for a full disk), naming the action."""
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return StorageFullError(f"disk full while trying to {action}: {error}; free some space")
    return StorageError(f"could not {action}: {error}")


def fsync_fd(fd: int) -> None:
    """Flush a file's data and metadata to stable storage."""
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
        fsync_fd(fd)
    finally:
        os.close(fd)


def reserve_space(fd: int, size: int) -> None:
    """Grow the file to ``size`` bytes with its blocks allocated where the OS can.

    ``posix_fallocate`` turns a full disk into ENOSPC now, instead of a SIGBUS later when a
    page of an mmap'd sparse file has nowhere to go.
    """
    current = os.fstat(fd).st_size
    if size <= current:
        return
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        try:
            fallocate(fd, current, size - current)
            return
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", -1)):
                raise
    os.ftruncate(fd, size)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    Temp file in the same directory, write, fsync, rename over the target, fsync the directory.
    The temp file is removed if anything fails before the rename.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            fsync_fd(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise os_error(error, f"write {path}") from error
    try:
        fsync_dir(path.parent)
    except OSError as error:
        raise os_error(error, f"fsync directory {path.parent}") from error
