"""export_collection: the live records of a collection (all, or those matching a filter) to
one file, streamed in batches.

Memory stays bounded by ``batch_size`` records: pages of records come from
``Collection.scroll``, and each page is written before the next is read. The file appears
under its name only once complete (see ``writers``), and replaces an existing file only
when asked to (``overwrite=True``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from vectordb.errors import InvalidArgumentError, PathNotFoundError, VectorDBError
from vectordb.files.atomic import os_error
from vectordb.inputs import positive_int
from vectordb.results import stacked_vectors
from vectordb.transfer.formats import FileFormat, npy_files, resolve_format
from vectordb.transfer.progress import Progress
from vectordb.transfer.validation import check_flag
from vectordb.transfer.writers import open_writer

if TYPE_CHECKING:
    from vectordb.transfer.target import TransferTarget

__all__ = ["export_collection", "record_batches"]


def export_collection(
    collection: TransferTarget,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    batch_size: int = 10_000,
    progress: bool = False,
    where: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> int:
    """Write every record of ``collection`` (id, float32 vector, metadata, document), or
    those that match ``where``, to ``path``.

    Documents: JSON Lines writes a ``document`` key for each record that has one; CSV and
    Parquet get a ``document`` column and ``npy`` a ``<stem>.documents.jsonl`` file when the
    collection holds documents (so the export of a collection without any is as before).

    The file is written beside ``path`` under a temporary name and renamed to ``path``
    when complete, so a failed export leaves no partial file (and an existing file at
    ``path`` untouched). Records written while the export runs may or may not be in it:
    export a collection nothing writes to.

    Parameters
    ----------
    collection
        The collection to export.
    path
        The file to write. Its directory must exist. For ``npy``, ``<stem>.ids.txt`` and
        ``<stem>.metadata.jsonl`` (and ``<stem>.documents.jsonl``) are written beside it.
    format
        ``"jsonl"`` (or ``"ndjson"``), ``"csv"``, ``"npy"`` or ``"parquet"``; None infers it
        from the suffix of ``path`` (``.jsonl``, ``.ndjson``, ``.csv``, ``.npy``, ``.parquet``).
        The layouts are described in :mod:`vectordb.transfer.formats`.
    batch_size
        Records read and written at a time (and the Parquet row-group size).
    progress
        Show a progress bar on stderr (needs tqdm; without it, none is shown).
    where
        A filter, as in ``Collection.count``: only the records it matches are written.
    overwrite
        Replace ``path`` (and for ``npy`` its companion files) if it exists; False (the
        default) refuses to, before anything is written.

    Returns
    -------
    int
        The number of records written.

    Raises
    ------
    InvalidArgumentError
        For an unknown format or suffix, a bad ``batch_size``, a ``path`` that is a
        directory, a file at ``path`` (or a companion) without ``overwrite=True``, or
        (``npy``) an id holding a line break.
    InvalidFilterError
        For a malformed ``where``.
    PathNotFoundError
        If the directory of ``path`` does not exist.
    InvalidMetadataError
        If a record's metadata has no JSON form (it holds bytes, for one).
    MissingDependencyError
        For Parquet without pyarrow installed.
    StorageError
        If the file cannot be written (``StorageFullError`` for a full disk).

    Examples
    --------
    >>> import tempfile, pathlib, vectordb
    >>> from vectordb.transfer.export import export_collection
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with vectordb.open(folder / "db") as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"n": 1}, None])
    ...     export_collection(docs, folder / "docs.jsonl")
    2
    >>> print((folder / "docs.jsonl").read_text().splitlines()[0])
    {"id": "a", "vector": [1,0], "metadata": {"n": 1}}
    """
    file_format = resolve_format(path, format)
    positive_int("batch_size", batch_size)
    check_flag("progress", progress)
    check_flag("overwrite", overwrite)
    target = Path(path)
    _check_target(target, file_format, overwrite)
    total = collection.count(where)
    try:
        writer = open_writer(
            file_format,
            target,
            collection.dim,
            rows=total,
            batch_size=batch_size,
            documents=collection.has_documents,
        )
    except VectorDBError:
        raise
    except OSError as error:
        raise os_error(error, f"create a file beside {target}") from error
    written = 0
    try:
        with Progress(progress, total=total, description=f"exporting {collection.name}") as bar:
            for ids, vectors, metadata, documents in record_batches(collection, batch_size, where):
                writer.write(ids, vectors, metadata, documents)
                written += len(ids)
                bar.update(len(ids))
        if not overwrite:  # a file may have appeared meanwhile
            _check_target(target, file_format, overwrite)
        writer.commit()
    except VectorDBError:
        writer.abort()
        raise
    except OSError as error:
        writer.abort()
        raise os_error(error, f"write {target}") from error
    except BaseException:
        writer.abort()
        raise
    return written


RecordBatch = tuple[
    list[str], npt.NDArray[np.float32], list[dict[str, Any] | None], list[str | None] | None
]


def record_batches(
    collection: TransferTarget, batch_size: int, where: Mapping[str, Any] | None = None
) -> Iterator[RecordBatch]:
    """``(ids, (n, dim) float32 vectors, metadata, documents)`` for every record (matching
    ``where``), ``batch_size`` at a time, in storage order (``Collection.scroll``);
    ``documents`` is None for a batch where no record has one."""
    for records in collection.scroll(where, batch_size, include=_EXPORT_INCLUDE):
        if records:
            documents = [record.document for record in records]
            yield (
                [record.id for record in records],
                stacked_vectors(records),
                [record.metadata for record in records],
                documents if any(documents) else None,
            )


_EXPORT_INCLUDE = ("vector", "metadata", "document")


def _check_target(target: Path, file_format: FileFormat, overwrite: bool) -> None:
    targets = [target]
    if file_format is FileFormat.NPY:
        files = npy_files(target)
        targets = [files.vectors, files.ids, files.metadata, files.documents]
    for file in targets:
        if file.is_dir():
            raise InvalidArgumentError(f"cannot export to {file}: it is a directory")
    if not target.parent.is_dir():
        raise PathNotFoundError(
            f"cannot export to {target}: directory {target.parent} does not exist"
        )
    if not overwrite:
        for file in targets:
            if file.exists():
                raise InvalidArgumentError(
                    f"cannot export to {target}: {file} exists; pass overwrite=True to "
                    "replace it (vectordb export --overwrite), or choose another name"
                )
