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
    "CircuitOpenError",
    "CorruptionError",
    "DatabaseClosedError",
    "DimensionMismatchError",
    "DuplicateIdError",
    "EmbeddingError",
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
    "ProviderResponseError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "ReadOnlyError",
    "StorageError",
    "StorageFullError",
    "TransactionError",
    "UnsupportedFormatError",
    "VectorDBError",
]


class VectorDBError(Exception):
    """Root of every error vectordb raises: ``except VectorDBError`` catches them all.

    Never raised itself; every error is one of its subclasses, which also derive from the
    builtin exception that fits them (``LookupError``, ``KeyError``, ``ValueError``,
    ``RuntimeError``, ``PermissionError``, ``TimeoutError``, ``OSError`` ...), so callers that
    do not know vectordb can catch those instead.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     for caught in (vectordb.VectorDBError, LookupError):
    ...         try:
    ...             db.get_collection("missing")
    ...         except caught as error:
    ...             print(caught.__name__, "caught", type(error).__name__)
    VectorDBError caught CollectionNotFoundError
    LookupError caught CollectionNotFoundError
    """


class DatabaseClosedError(VectorDBError, RuntimeError):
    """Raised when a database handle is used after ``close()``, a collection handle after its
    collection was dropped, or a handle inherited through ``fork()`` (open the database again
    in the child process)."""


class ReadOnlyError(VectorDBError, PermissionError):
    """Raised when a write is attempted through a handle opened with ``read_only=True``, when
    a read-write open meets the same database open read-only in this process, and while free
    disk space is under ``min_free_disk_bytes`` (writes are refused, reads go on)."""


class LockTimeoutError(VectorDBError, TimeoutError):
    """Raised when the writer lock (held by another thread's or process's write or
    transaction) could not be taken within ``lock_timeout`` seconds."""


class TransactionError(VectorDBError, RuntimeError):
    """Raised when a transaction is misused: nested in another, used from a thread other than
    the one that opened it, used after it ended, given writes with their own
    ``idempotency_key``, or around an operation that cannot run inside one (such as
    ``create_collection`` or ``backup``)."""


class CollectionNotFoundError(VectorDBError, LookupError):
    """Raised when no collection of the given name exists in the database, or when a write
    reaches a collection that was dropped meanwhile."""


class CollectionExistsError(VectorDBError, ValueError):
    """Raised by ``create_collection`` when a collection of that name (or of a name that
    differs only in case) already exists and ``exist_ok`` is false."""


class IdNotFoundError(VectorDBError, KeyError):
    """Raised when one or more ids that an operation needs (``update``, ``delete`` without
    ``missing_ok``, ``similarity``, ``recommend`` ...) are not stored in the collection;
    nothing was changed."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(VectorDBError, ValueError):
    """Raised when an argument has the wrong value, shape or type; the subclasses name the
    common cases (vectors, ids, metadata, filters, configuration, files)."""


class DimensionMismatchError(InvalidArgumentError):
    """Raised when a vector's length (a query's, a written one's, an imported row's) differs
    from the collection's ``dim``."""


class InvalidVectorError(InvalidArgumentError):
    """Raised when a vector holds NaN or infinity, cannot be read as numbers, or is all zeros
    where that is undefined (the cosine metric, or ``normalize=True``)."""


class DuplicateIdError(InvalidArgumentError):
    """Raised when ``add`` (or an import) is given an id that is already stored, or the same
    id twice inside one batch; nothing is written."""


class IdempotencyKeyReuseError(InvalidArgumentError):
    """Raised when an ``idempotency_key`` that names an earlier, different request (other
    data or another operation) is given again within ``idempotency_window``."""


class InvalidMetadataError(InvalidArgumentError):
    """Raised when metadata is not a mapping with string keys that msgpack can store, or
    does not satisfy the collection's ``metadata_schema``."""


class InvalidFilterError(InvalidArgumentError):
    """Raised when a ``where=`` filter is malformed: an unknown operator, a wrong operand
    type, or a structure that is not a filter expression."""


class InvalidConfigError(InvalidArgumentError):
    """Raised when a configuration key is unknown or its value is not valid (in an argument,
    a ``DatabaseConfig`` or ``CollectionConfig``, the YAML file or a ``VECTORDB_*``
    environment variable); the message names the key and where it came from."""


class InvalidFileError(InvalidArgumentError):
    """Raised when a file to import does not parse as its format (bad JSON or CSV, wrong
    columns or types, companion files that disagree) or changed while it was imported; the
    message names the file and line or row."""


ConfigError = InvalidConfigError
"""Alias: DESIGN.md calls it ConfigError, STYLE.md InvalidConfigError; both names work."""


class PathNotFoundError(VectorDBError, FileNotFoundError):
    """Raised when a file to import, a companion file of it (the ``npy`` ids file), or the
    directory to export into does not exist."""


class MissingDependencyError(VectorDBError, ImportError):
    """Raised when an optional feature (DataFrames need pandas, Parquet files pyarrow) needs
    a package that is not installed; the message says which ``pip install "vectordb[extra]"``
    brings it."""


class ImportInterruptedError(VectorDBError, RuntimeError):
    """Raised when an import fails after some of its rows were stored.

    ``rows_applied`` is how many rows of the source are stored (counted from its first row,
    including rows passed over with ``start_at``): passing ``start_at=rows_applied`` to the
    same import resumes it. The original error is the ``__cause__``.
    """

    # the default lets pickle rebuild it from args alone; __dict__ then restores the count
    def __init__(self, message: str, *, rows_applied: int = 0) -> None:
        super().__init__(message)
        self.rows_applied = rows_applied


class StorageError(VectorDBError, OSError):
    """Raised when the operating system refuses an I/O operation (a read, write, fsync or
    rename); the handle may be unusable afterwards."""


class StorageFullError(StorageError):
    """Raised when the disk is full (or over quota): space for new rows or log records could
    not be reserved."""


class CollectionFullError(StorageFullError):
    """Raised when a write would pass a collection's ``max_vectors`` (records) or
    ``max_bytes`` (bytes of vectors) limit; nothing was written."""


class CorruptionError(VectorDBError):
    """Raised when stored bytes fail their checksum or do not parse; the message names the
    file and byte offset, which ``path`` and ``offset`` also hold."""

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
    """Raised when a file was written by a newer format version of vectordb, or is not a
    vectordb file at all."""


class LogGapError(CorruptionError):
    """Raised when log records the state depends on are missing (a deleted or unarchived
    log segment, found when a database is opened or restored); ``first_missing_lsn`` is the
    first of them."""

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


class EmbeddingError(VectorDBError, RuntimeError):
    """Raised when an embedding provider could not turn texts into vectors; the message
    names the provider and what it answered. The subclasses say why."""


class ProviderUnavailableError(EmbeddingError, ConnectionError):
    """Raised when an embedding provider did not answer usefully within its retries
    (refused connections, timeouts, 5xx answers); ``attempts`` is how many requests were
    made."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class RateLimitedError(ProviderUnavailableError):
    """Raised when an embedding provider kept answering 429 (too many requests) within the
    retries; ``retry_after`` is the wait in seconds it asked for last, or None if it did not
    say."""

    def __init__(
        self, message: str, *, attempts: int = 1, retry_after: float | None = None
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.retry_after = retry_after


class CircuitOpenError(EmbeddingError):
    """Raised without calling an embedding provider that failed several times in a row: its
    circuit breaker is open and waits ``retry_in`` more seconds before it lets a call try
    again."""

    def __init__(self, message: str, *, retry_in: float = 0.0) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class ProviderResponseError(EmbeddingError):
    """Raised when an embedding provider answered, but not with what its API promises (bad
    JSON, a wrong number of vectors, a 4xx other than 429 such as a bad key or model name);
    not retried."""


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
