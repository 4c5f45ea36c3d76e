"""The whole exception hierarchy of vectordb; no other module defines exceptions.

Every error derives from :class:`VectorDBError` and also from the builtin that fits it, so
``except LookupError`` or ``except ValueError`` keep working for callers who do not know
vectordb. Messages say what was wrong and what to do about it.
"""

from __future__ import annotations

import os

__all__ = [
    "CollectionExistsError",
    "CollectionNotFoundError",
    "ConfigError",
    "CorruptionError",
    "DatabaseClosedError",
    "DimensionMismatchError",
    "DuplicateIdError",
    "IdNotFoundError",
    "IdempotencyKeyReuseError",
    "ImportInterruptedError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidFileError",
    "InvalidFilterError",
    "InvalidMetadataError",
    "InvalidVectorError",
    "LockTimeoutError",
    "MissingDependencyError",
    "PathNotFoundError",
    "ReadOnlyError",
    "StorageError",
    "StorageFullError",
    "TransactionError",
    "UnsupportedFormatError",
    "VectorDBError",
]


class VectorDBError(Exception):
    """Root of every error vectordb raises."""


class DatabaseClosedError(VectorDBError, RuntimeError):
    """The database or collection handle was closed, dropped, or inherited through fork()."""


class ReadOnlyError(VectorDBError, PermissionError):
    """A write was attempted through a read-only handle."""


class LockTimeoutError(VectorDBError, TimeoutError):
    """The writer lock could not be taken within the lock timeout."""


class TransactionError(VectorDBError, RuntimeError):
    """A transaction was misused: nested, used from another thread, or used after it ended."""


class CollectionNotFoundError(VectorDBError, LookupError):
    """No collection of that name exists."""


class CollectionExistsError(VectorDBError, ValueError):
    """A collection of that name already exists."""


class IdNotFoundError(VectorDBError, KeyError):
    """One or more ids are not stored in the collection."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(VectorDBError, ValueError):
    """An argument has the wrong value, shape or type."""


class DimensionMismatchError(InvalidArgumentError):
    """A vector's length differs from the collection's ``dim``."""


class InvalidVectorError(InvalidArgumentError):
    """A vector holds NaN or infinity, or cannot be read as numbers."""


class DuplicateIdError(InvalidArgumentError):
    """An id is already stored, or repeated inside one batch."""


class IdempotencyKeyReuseError(InvalidArgumentError):
    """An idempotency key that names an earlier, different request was given again."""


class InvalidMetadataError(InvalidArgumentError):
    """Metadata is not a mapping with string keys that msgpack can store."""


class InvalidFilterError(InvalidArgumentError):
    """A ``where=`` filter is malformed."""


class InvalidConfigError(InvalidArgumentError):
    """A configuration key or value is not valid."""


class InvalidFileError(InvalidArgumentError):
    """A file to import does not parse as its format (bad JSON or CSV, wrong columns or
    types, companion files that disagree); the message names the file and line or row."""


ConfigError = InvalidConfigError
"""Alias: DESIGN.md calls it ConfigError, STYLE.md InvalidConfigError; both names work."""


class PathNotFoundError(VectorDBError, FileNotFoundError):
    """A file to import, a companion file of it, or the directory to export into is missing."""


class MissingDependencyError(VectorDBError, ImportError):
    """An optional feature needs a package that is not installed; the message says which
    ``pip install "vectordb[extra]"`` brings it."""


class ImportInterruptedError(VectorDBError, RuntimeError):
    """An import failed after some of its rows were stored.

    ``rows_applied`` is how many rows of the source are stored (counted from its first row,
    including rows passed over with ``start_at``): passing ``start_at=rows_applied`` to the
    same import resumes it. The original error is the ``__cause__``.
    """

    # the default lets pickle rebuild it from args alone; __dict__ then restores the count
    def __init__(self, message: str, *, rows_applied: int = 0) -> None:
        super().__init__(message)
        self.rows_applied = rows_applied


class StorageError(VectorDBError, OSError):
    """The operating system refused an I/O operation; the handle may be unusable afterwards."""


class StorageFullError(StorageError):
    """The disk is full: space for new rows or log records could not be reserved."""


class CollectionFullError(StorageFullError):
    """A write would pass a collection's ``max_vectors`` or ``max_bytes`` limit; nothing was
    written."""


class CorruptionError(VectorDBError):
    """Stored bytes fail their checksum or do not parse; names the file and byte offset."""

    def __init__(
        self, message: str, *, path: str | os.PathLike[str] | None = None, offset: int | None = None
    ) -> None:
        where = ""
        if path is not None:
            where = f" [{os.fspath(path)}" + (f" at byte {offset}]" if offset is not None else "]")
        super().__init__(message + where)
        self.message = message  # without the location, which path / offset hold
        self.path = None if path is None else os.fspath(path)
        self.offset = offset


class UnsupportedFormatError(CorruptionError):
    """A file was written by a newer format version, or is not a vectordb file at all."""


class LogGapError(CorruptionError):
    """Log records the state depends on are missing (a deleted or unarchived segment);
    ``first_missing_lsn`` is the first of them."""

    def __init__(
        self,
        message: str,
        *,
        first_missing_lsn: int,
        path: str | os.PathLike[str] | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message, path=path, offset=offset)
        self.first_missing_lsn = first_missing_lsn


# ------------------------------------------------------------------------- internal signals
# Raised and caught inside the engine; never reaches a caller (so not a VectorDBError, and
# not in __all__).


class FellBehind(Exception):
    """The follower's next record is in a segment a checkpoint has deleted: reload.
    ``wait_for_writer``: what is missing is only in a checkpoint the writer is still
    writing under the writer lock (writes with durability "off")."""

    def __init__(self, message: str, *, wait_for_writer: bool = False) -> None:
        super().__init__(message)
        self.wait_for_writer = wait_for_writer
