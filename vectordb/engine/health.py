"""What went wrong with an open database, and so what it may still do.

Three levels, each kept as a detached copy of its error (no traceback: its frames may hold
the memory map of a file and keep it open):

- ``failure``: memory may disagree with the files (a logged record failed to apply). Every
  later call raises until the database is reopened and recovered from the log.
- ``write_failure``: what was written may not be on disk (a log or vector file fsync failed,
  a half log frame could not be cut off, a file swap's directory fsync failed). Writes are
  refused until reopen - an fsync is never retried - and reads go on.
- ``checkpoint_error``: the last background durability step (checkpoint, compaction, index
  or columns save) failed; it is tried again, and ``health()`` reports it meanwhile.

``idempotency_damage``: the IDEMPOTENCY file did not load at open (keys older than the log
are forgotten until it is written again).
"""

from __future__ import annotations

from pathlib import Path

from vectordb.errors import CorruptionError, StorageError
from vectordb.files.atomic import detached

__all__ = ["Health", "without_traceback"]


class Health:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.failure: StorageError | None = None
        self.write_failure: StorageError | None = None
        self.checkpoint_error: StorageError | None = None
        self.idempotency_damage: CorruptionError | None = None

    def fail(self, error: BaseException) -> None:
        """Memory may no longer match the files: stop everything until reopened."""
        self.failure = detached(error)

    def refuse_writes(self, error: BaseException) -> None:
        """Durability is lost: stop writing until reopened, keep reading."""
        self.write_failure = detached(error)

    def check(self, *, write: bool) -> None:
        """Raise ``StorageError`` if the database may not serve this call."""
        if self.failure is not None:
            raise StorageError(
                f"database {self.root} is unusable after an earlier I/O failure "
                f"({self.failure}); close it and open it again to recover from the log"
            )
        if write and self.write_failure is not None:
            raise StorageError(
                f"database {self.root} refuses writes since an fsync, a log write or a file "
                f"swap failed ({self.write_failure}): what was written may not be on disk, and "
                "an fsync is never retried. Reads go on; close and open the database again to "
                "recover from the log and write again"
            )

    @property
    def writable(self) -> bool:
        return self.failure is None and self.write_failure is None


def without_traceback(error: CorruptionError) -> CorruptionError:
    """``error``, to keep (an unavailable collection's reason): its traceback, cause and
    context dropped, since their frames may hold the memory map of a file."""
    error.__traceback__ = None
    error.__cause__ = error.__context__ = None
    return error
