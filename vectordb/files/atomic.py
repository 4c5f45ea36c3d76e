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
from collections.abc import Iterator
from pathlib import Path

from vectordb.errors import StorageError, StorageFullError
from vectordb.files import io
from vectordb.files.io import fsync as fsync_fd
from vectordb.files.io import fsync_dir, reserve_space

__all__ = [
    "atomic_write_bytes",
    "built_or_removed",
    "detached",
    "fsync_dir",
    "fsync_fd",
    "os_error",
    "reserve_space",
]


def os_error(error: OSError, action: str) -> StorageError:
    """Wrap an OSError as StorageError (StorageFullError for a full disk), naming the action;
    a ``StorageFullError`` wrapped again stays one."""
    if isinstance(error, StorageFullError):
        return StorageFullError(f"could not {action}: {error}")
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return StorageFullError(f"disk full while trying to {action}: {error}; free some space")
    return StorageError(f"could not {action}: {error}")


def detached(error: BaseException) -> StorageError:
    """An error to keep for later messages (a dead handle's reason, ``health()``): the same
    words, without the traceback, cause or context, whose frames may hold numpy views of a
    memory map and so keep a file (even a deleted one) open for the handle's life."""
    if isinstance(error, StorageError):
        return type(error)(str(error))
    return StorageError(f"{type(error).__name__}: {error}")


@contextlib.contextmanager
def built_or_removed(directory: Path, action: str) -> Iterator[Path]:
    """Build ``directory`` in the ``with`` body; if the body raises, delete what it built
    (an ``OSError`` becomes ``os_error(error, action)``), so a failure leaves nothing."""
    try:
        yield directory
    except OSError as error:
        io.rmtree(directory, ignore_errors=True)
        raise os_error(error, action) from error
    except BaseException:
        io.rmtree(directory, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    Temp file in the same directory, write, fsync, rename over the target, fsync the directory.
    The temp file is removed if anything fails before the rename.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = io.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            io.write_all(fd, data)
            io.fsync(fd)
        finally:
            os.close(fd)
        io.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            io.unlink(tmp)
        raise os_error(error, f"write {path}") from error
    try:
        io.fsync_dir(path.parent)
    except OSError as error:
        raise os_error(error, f"fsync directory {path.parent}") from error
