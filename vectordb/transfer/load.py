"""import_records and ImportReport: a file's records into a collection, all or nothing.

An import makes two passes over the source, each streaming ``batch_size`` rows at a time:

1. Validate: every row is read and checked (``RowChecker``), ids are checked unique within
   the source (a set of the ids read is the one thing that grows with the file) and, with
   ``on_conflict="error"``, not already stored. Any problem raises before anything is
   written, naming the file and the line or row.
2. Apply: the same rows are read again and stored with ``Collection.add`` or
   ``Collection.upsert``, one call per batch. The source must not change in between (its
   size and modification time are compared). A failure after some batches were stored
   raises ImportInterruptedError saying how many rows are stored and how to resume: never a
   silent half import. A failure in the first batch stores nothing (a failed ``add`` changes
   nothing) and raises the original error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from vectordb.errors import (
    DuplicateIdError,
    ImportInterruptedError,
    InvalidArgumentError,
    InvalidFileError,
    VectorDBError,
)
from vectordb.files.atomic import os_error
from vectordb.inputs import non_negative_int, positive_int
from vectordb.transfer.fields import check_metadata_columns
from vectordb.transfer.formats import resolve_format
from vectordb.transfer.progress import Progress
from vectordb.transfer.readers import RecordReader, open_reader
from vectordb.transfer.validation import (
    NOTHING_IMPORTED,
    RowBatch,
    RowChecker,
    check_flag,
)

if TYPE_CHECKING:
    from vectordb.transfer.target import TransferTarget

__all__ = [
    "ON_CONFLICT_CHOICES",
    "ImportReport",
    "apply_rows",
    "check_on_conflict",
    "import_records",
    "validate_rows",
]

ON_CONFLICT_CHOICES = ("error", "skip", "replace")


@dataclasses.dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: ``imported + skipped + replaced == rows_read``.

    Returned by :meth:`Collection.import_file` and :meth:`Collection.add_dataframe`.

    Attributes
    ----------
    imported : int
        Records (rows) added whose id was not stored before.
    skipped : int
        Rows left out because their id was already stored (``on_conflict="skip"``).
    replaced : int
        Stored records replaced by a row of the source (``on_conflict="replace"``).
    rows_read : int
        Data rows of the source this import read, after the first ``start_at``.
    source : str
        The file imported (as given), or ``"DataFrame"``.

    Examples
    --------
    >>> import tempfile, pathlib, vectordb
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with vectordb.open(folder / "db") as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"])
    ...     _ = docs.export(folder / "docs.jsonl")
    ...     _ = docs.delete(["b"])
    ...     docs.import_file(folder / "docs.jsonl", on_conflict="skip")
    ImportReport(imported=1, skipped=1, replaced=0, rows_read=2, source='.../docs.jsonl')
    """

    imported: int
    """Records added whose id was not stored before."""
    skipped: int
    """Rows left out because their id was already stored (``on_conflict="skip"``)."""
    replaced: int
    """Stored records replaced by a row of the source (``on_conflict="replace"``)."""
    rows_read: int
    """Data rows of the source this import read, after the first ``start_at``."""
    source: str
    """The file imported (as given), or ``"DataFrame"``."""


def import_records(
    collection: TransferTarget,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    batch_size: int = 10_000,
    on_conflict: str = "error",
    progress: bool = False,
    start_at: int = 0,
    metadata_columns: Sequence[str] | None = None,
) -> ImportReport:
    """Add the records of a file (as :func:`~vectordb.transfer.export.export_collection`
    writes them, or a table whose metadata is in flat columns) to ``collection``: all of
    them, or none when any row is bad. A ``document`` column (JSON Lines: key; ``npy``:
    ``<stem>.documents.jsonl``) holds the records' documents (text; empty or null for none).

    The whole file is validated first, streaming, so that a bad row anywhere raises before
    anything is stored; then it is read again and stored ``batch_size`` rows at a time.

    Parameters
    ----------
    collection
        The collection to add to; vectors must have its ``dim``.
    path
        The file to read. For ``npy``, ``<stem>.ids.txt`` must lie beside it and
        ``<stem>.metadata.jsonl`` and ``<stem>.documents.jsonl`` may.
    format
        ``"jsonl"`` (or ``"ndjson"``), ``"csv"``, ``"npy"`` or ``"parquet"``; None infers it
        from the suffix of ``path``. The layouts are described in
        :mod:`vectordb.transfer.formats`.
    batch_size
        Rows read, checked and stored at a time; memory grows with it, not with the file.
    on_conflict
        What to do with a row whose id is already stored: ``"error"`` (raise, before
        anything is stored), ``"skip"`` (keep the stored record) or ``"replace"`` (store
        the row instead, as ``upsert`` does).
    progress
        Show progress bars on stderr, one per pass (needs tqdm; without it, none is shown).
    start_at
        Pass over the first ``start_at`` data rows (not counting a CSV header or blank
        lines) without reading them into the collection, or checking them: the value an
        ImportInterruptedError's ``rows_applied`` gives, to resume.
    metadata_columns
        The columns (CSV, Parquet) or keys (JSON Lines) to read as metadata fields, a list
        of names; None (the default) reads every one other than ``id``, the vector,
        ``metadata`` and ``document``. A dotted name nests (column ``a.b`` is the field
        ``b`` inside ``a``); an empty cell, null or NaN leaves the field out of that record;
        the fields merge with the ``metadata`` object, and a field set by both raises. Not
        for ``npy``.

    Returns
    -------
    ImportReport
        Counts of rows imported, skipped and replaced, and of rows read.

    Raises
    ------
    InvalidArgumentError
        For a bad ``format``, ``batch_size``, ``on_conflict``, ``start_at`` (also one past
        the file's end) or ``metadata_columns``, or a bad id or document in the file (a
        document that is not text or not valid Unicode, or over 1 MiB of UTF-8); nothing is
        imported.
    PathNotFoundError
        If the file (or the ``npy`` ids file) does not exist.
    InvalidFileError
        If the file does not parse as its format (the message names the line or row).
    DimensionMismatchError, InvalidVectorError, InvalidMetadataError
        For a row whose vector has the wrong dim, holds NaN or infinity (or zeros where
        the metric cannot take them), or whose metadata is not a JSON object or null, or
        cannot be stored; for a column whose name names no field (``""``, ``"a..b"``); for
        a field set twice in one row (by the ``metadata`` object and a column, or by
        columns ``a`` and ``a.b``).
    DuplicateIdError
        If an id appears twice in the file, or (``on_conflict="error"``) is already stored.
    MissingDependencyError
        For Parquet without pyarrow installed.
    ImportInterruptedError
        If storing failed after some rows were stored; ``rows_applied`` says how many
        (``start_at=rows_applied`` resumes) and the cause is chained.

    Examples
    --------
    >>> import tempfile, pathlib, vectordb
    >>> from vectordb.transfer.load import import_records
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "docs.jsonl").write_text(
    ...     '{"id": "a", "vector": [1, 0], "metadata": {"lang": "en"}}\\n'
    ...     '{"id": "b", "vector": [0, 1], "metadata": null}\\n'
    ... )
    >>> with vectordb.open(folder / "db") as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     report = import_records(docs, folder / "docs.jsonl")
    ...     report.imported, docs.get("a").metadata
    (2, {'lang': 'en'})
    """
    file_format = resolve_format(path, format)
    positive_int("batch_size", batch_size)
    check_on_conflict(on_conflict)
    non_negative_int("start_at", start_at)
    check_flag("progress", progress)
    columns = check_metadata_columns(metadata_columns)
    source = os.fspath(path)
    try:
        reader = open_reader(path, file_format, collection.dim, collection.name, columns)
        stamp = reader.stamp()
        checker = RowChecker(collection, reader.describe)
        total = reader.total_rows
        with Progress(
            progress,
            total=None if total is None else max(0, total - start_at),
            description=f"checking {os.path.basename(source)}",
        ) as bar:
            rows = validate_rows(
                collection,
                reader.batches(batch_size, start_at),
                checker,
                on_conflict=on_conflict,
                first_occurrence=lambda vector_id: _first_occurrence(
                    reader, vector_id, batch_size, start_at
                ),
                progress=bar,
            )
    except VectorDBError:
        raise
    except OSError as error:
        raise os_error(error, f"read {source}") from error
    if reader.stamp() != stamp:
        raise InvalidFileError(
            f"{source} changed while it was being checked; {NOTHING_IMPORTED}. Import it again "
            "once nothing writes to it"
        )
    with Progress(progress, total=rows, description=f"importing {os.path.basename(source)}") as bar:
        imported, skipped, replaced = apply_rows(
            collection,
            reader.batches(batch_size, start_at),
            on_conflict=on_conflict,
            rows_before=start_at,
            total=rows,
            source=source,
            resume_hint=lambda applied: (
                f"fix the cause and pass start_at={applied} to the same import to resume"
            ),
            progress=bar,
        )
    return ImportReport(imported, skipped, replaced, rows, source)


def check_on_conflict(on_conflict: Any) -> None:
    """Raise InvalidArgumentError unless ``on_conflict`` is one of ON_CONFLICT_CHOICES."""
    if not isinstance(on_conflict, str) or on_conflict not in ON_CONFLICT_CHOICES:
        choices = ", ".join(repr(choice) for choice in ON_CONFLICT_CHOICES)
        raise InvalidArgumentError(f"on_conflict must be one of {choices}; got {on_conflict!r}")


def validate_rows(
    collection: TransferTarget,
    batches: Generator[RowBatch, None, None],
    checker: RowChecker,
    *,
    on_conflict: str,
    first_occurrence: Callable[[str], str | None],
    progress: Progress,
) -> int:
    """The first pass: check every row of ``batches``; returns how many there are.

    ``first_occurrence(id)`` locates the first row holding ``id``, to name both rows of a
    repeated id (only called on that error path).

    Raises
    ------
    DuplicateIdError
        For an id repeated in the source or, with ``on_conflict="error"``, already stored.
    InvalidArgumentError
        Whatever ``checker`` and the reader raise for a bad row.
    """
    seen: set[str] = set()
    rows = 0
    with contextlib.closing(batches):
        for batch in batches:
            checker.check(batch)
            for index, vector_id in enumerate(batch.ids):
                if vector_id in seen:
                    first = first_occurrence(vector_id)
                    raise DuplicateIdError(
                        f"{checker.where(batch, index)}: id {vector_id!r} appears a second time"
                        f"{'' if first is None else f' (first at {first})'}; ids in one source "
                        f"must be unique; {NOTHING_IMPORTED}"
                    )
                seen.add(vector_id)
            if on_conflict == "error":
                # get_many is one call under one latch; `id in collection` costs ~20x more
                stored = collection.get_many(batch.ids)
                index = next((i for i, record in enumerate(stored) if record is not None), -1)
                if index >= 0:
                    raise DuplicateIdError(
                        f"{checker.where(batch, index)}: id {batch.ids[index]!r} is already "
                        f"stored in {collection.name!r}; {NOTHING_IMPORTED}. Pass "
                        "on_conflict='skip' to keep stored records or 'replace' to overwrite "
                        "them"
                    )
            rows += len(batch)
            progress.update(len(batch))
    return rows


def apply_rows(
    collection: TransferTarget,
    batches: Generator[RowBatch, None, None],
    *,
    on_conflict: str,
    rows_before: int,
    total: int,
    source: str,
    resume_hint: Callable[[int], str],
    progress: Progress,
) -> tuple[int, int, int]:
    """The second pass: store validated ``batches``; returns (imported, skipped, replaced).

    ``rows_before`` rows of the source precede the first batch (``start_at``);
    ``resume_hint(rows_applied)`` tells the user how to go on after an interruption.

    Raises
    ------
    ImportInterruptedError
        If a batch fails after earlier ones were stored (chained to the cause).
    VectorDBError, OSError
        The cause itself when the first batch fails, which stores nothing.
    """
    imported = skipped = replaced = applied = 0
    try:
        with contextlib.closing(batches):
            for batch in batches:
                ids = batch.ids
                metadata = (
                    None if all(entry is None for entry in batch.metadata) else batch.metadata
                )
                documents = batch.documents
                # documents= only when there are some: a source without them is stored
                # exactly as before documents existed
                texts: dict[str, Any] = {}
                if documents is not None and any(documents):
                    texts["documents"] = documents
                if on_conflict == "error":
                    collection.add(batch.vectors, ids=ids, metadata=metadata, **texts)
                    imported += len(ids)
                else:
                    stored = [record is not None for record in collection.get_many(ids)]
                    n_stored = sum(stored)
                    if on_conflict == "replace":
                        collection.upsert(batch.vectors, ids=ids, metadata=metadata, **texts)
                        replaced += n_stored
                    else:
                        new = [index for index, is_stored in enumerate(stored) if not is_stored]
                        if new:
                            collection.add(
                                batch.vectors[new],
                                ids=[ids[index] for index in new],
                                metadata=None
                                if metadata is None
                                else [metadata[index] for index in new],
                                **(
                                    {"documents": [texts["documents"][index] for index in new]}
                                    if texts
                                    else {}
                                ),
                            )
                        skipped += n_stored
                    imported += len(ids) - n_stored
                applied += len(ids)
                progress.update(len(ids))
    except Exception as error:
        if not applied:
            if isinstance(error, OSError) and not isinstance(error, VectorDBError):
                raise os_error(error, f"read {source}") from error
            raise
        done = rows_before + applied
        raise ImportInterruptedError(
            f"the import of {source} stopped after storing {applied} of the {total} rows it "
            f"was importing, so the first {done} rows of the source are done and the rest "
            f"are not ({type(error).__name__}: {error}); {resume_hint(done)}",
            rows_applied=done,
        ) from error
    return imported, skipped, replaced


def _first_occurrence(
    reader: RecordReader, vector_id: str, batch_size: int, start_at: int
) -> str | None:
    """Where ``vector_id`` first appears in the source (a third read, on the error path)."""
    with contextlib.closing(reader.batches(batch_size, start_at)) as batches:
        for batch in batches:
            for index, candidate in enumerate(batch.ids):
                if candidate == vector_id:
                    return reader.describe(batch.positions[index])
    return None
