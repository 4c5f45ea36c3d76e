"""pandas DataFrames in and out: ``collection_to_dataframe`` and ``add_dataframe``.

A frame is one row per record: ``id`` (str), ``vector`` (a 1-D numpy float32 array per
cell) and ``metadata`` (a dict or None per cell). ``add_dataframe`` checks every row with
the rules of a file import before storing any (all or nothing), then stores the frame in
batches.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from vectordb.errors import DimensionMismatchError, InvalidArgumentError, InvalidVectorError
from vectordb.transfer.dependencies import require_module
from vectordb.transfer.export import record_batches
from vectordb.transfer.load import (
    ImportReport,
    apply_rows,
    check_on_conflict,
    validate_rows,
)
from vectordb.transfer.progress import Progress
from vectordb.transfer.validation import (
    NOTHING_IMPORTED,
    RowBatch,
    RowChecker,
    check_flag,
    describe_value,
)

if TYPE_CHECKING:
    from vectordb.transfer.target import TransferTarget

__all__ = ["add_dataframe", "collection_to_dataframe"]

_PURPOSE = "Converting collections to and from DataFrames"
_BATCH_SIZE = 10_000


def collection_to_dataframe(collection: TransferTarget, *, include_vectors: bool = True) -> Any:
    """Every record of ``collection`` as a ``pandas.DataFrame``, in storage order.

    Parameters
    ----------
    collection
        The collection to read; all of it is held in memory.
    include_vectors
        Include the ``vector`` column; False leaves it out (ids and metadata only).

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` (str), ``vector`` (a 1-D float32 numpy array per cell) unless left
        out, and ``metadata`` (a dict, or None for a record without metadata).

    Raises
    ------
    MissingDependencyError
        If pandas is not installed.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> from vectordb.transfer.dataframe import collection_to_dataframe
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"n": 1}, None])
    ...     frame = collection_to_dataframe(docs)
    >>> frame["id"].tolist(), frame["metadata"].tolist()
    (['a', 'b'], [{'n': 1}, None])
    """
    pandas = require_module("pandas", extra="pandas", purpose=_PURPOSE)
    check_flag("include_vectors", include_vectors)
    ids: list[str] = []
    vectors: list[npt.NDArray[np.float32]] = []
    metadata: list[dict[str, Any] | None] = []
    for batch_ids, matrix, batch_metadata in record_batches(collection, _BATCH_SIZE):
        ids.extend(batch_ids)
        if include_vectors:
            vectors.extend(matrix)  # row views: the batch matrix is their one copy
        metadata.extend(batch_metadata)
    columns: dict[str, Any] = {"id": pandas.Series(ids, dtype=object)}
    if include_vectors:
        # dtype=object keeps one array per cell (pandas would otherwise try to widen them)
        columns["vector"] = pandas.Series(vectors, dtype=object)
    columns["metadata"] = pandas.Series(metadata, dtype=object)
    return pandas.DataFrame(columns)


def add_dataframe(
    collection: TransferTarget,
    frame: Any,
    *,
    id_column: str = "id",
    vector_column: str = "vector",
    metadata_column: str | None = "metadata",
    on_conflict: str = "error",
    progress: bool = False,
) -> ImportReport:
    """Add the rows of a ``pandas.DataFrame`` to ``collection``: all of them, or none when
    any row is bad.

    Parameters
    ----------
    collection
        The collection to add to.
    frame
        A DataFrame with one row per record.
    id_column
        The column of ids (non-empty strings, unique in the frame).
    vector_column
        The column of vectors: per cell a 1-D array, list or tuple of ``dim`` numbers.
    metadata_column
        The column of metadata (a dict per cell; None or NaN for none), or None when the
        frame has no metadata.
    on_conflict
        For an id already stored: ``"error"``, ``"skip"`` or ``"replace"``, as in
        :func:`~vectordb.transfer.load.import_records`.
    progress
        Show a progress bar on stderr while storing (needs tqdm).

    Returns
    -------
    ImportReport
        With ``source="DataFrame"``.

    Raises
    ------
    InvalidArgumentError
        If ``frame`` is not a DataFrame, lacks a named column, or has a bad id; every row
        error names the row (its position, and its index label); nothing is imported.
    DimensionMismatchError, InvalidVectorError, InvalidMetadataError, DuplicateIdError
        For a bad row, as in ``import_records``; nothing is imported.
    MissingDependencyError
        If pandas is not installed.
    ImportInterruptedError
        If storing failed after some batches were stored; ``rows_applied`` rows (the
        frame's first ones) are stored, and ``frame.iloc[rows_applied:]`` resumes.

    Examples
    --------
    >>> import tempfile, pandas, vectordb
    >>> from vectordb.transfer.dataframe import add_dataframe
    >>> frame = pandas.DataFrame({"id": ["a", "b"], "vector": [[1, 0], [0, 1]]})
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     add_dataframe(docs, frame, metadata_column=None).imported
    2
    """
    pandas = require_module("pandas", extra="pandas", purpose=_PURPOSE)
    if not isinstance(frame, pandas.DataFrame):
        raise InvalidArgumentError(f"frame must be a pandas.DataFrame; got {type(frame).__name__}")
    check_on_conflict(on_conflict)
    check_flag("progress", progress)
    names = {"id_column": id_column, "vector_column": vector_column}
    if metadata_column is not None:
        names["metadata_column"] = metadata_column
    for argument, column in names.items():
        if column not in frame.columns:
            hint = " (pass metadata_column=None for none)" if argument == "metadata_column" else ""
            raise InvalidArgumentError(
                f"frame has no column {column!r}{hint}; its columns are "
                f"{list(map(str, frame.columns))}; set {argument}= to the one to use"
            )
    rows = _FrameRows(frame, collection, id_column, vector_column, metadata_column)
    checker = RowChecker(collection, rows.describe)
    total = validate_rows(
        collection,
        rows.batches(),
        checker,
        on_conflict=on_conflict,
        first_occurrence=rows.first_occurrence,
        progress=Progress(False, total=None, description=""),
    )
    with Progress(progress, total=total, description="importing DataFrame") as bar:
        imported, skipped, replaced = apply_rows(
            collection,
            rows.batches(),
            on_conflict=on_conflict,
            rows_before=0,
            total=total,
            source="the DataFrame",
            resume_hint=lambda applied: (
                f"the frame's first {applied} rows are stored; pass frame.iloc[{applied}:] to "
                "resume"
            ),
            progress=bar,
        )
    return ImportReport(imported, skipped, replaced, total, "DataFrame")


class _FrameRows:
    """A DataFrame's rows as RowBatches (``positions`` are 0-based row positions)."""

    def __init__(
        self,
        frame: Any,
        collection: TransferTarget,
        id_column: str,
        vector_column: str,
        metadata_column: str | None,
    ) -> None:
        self._frame = frame
        self._dim = collection.dim
        self._collection_name = collection.name
        self._ids = frame[id_column]
        self._vectors = frame[vector_column]
        self._metadata = None if metadata_column is None else frame[metadata_column]

    def describe(self, position: int) -> str:
        return f"DataFrame row {position} (index {self._frame.index[position]!r})"

    def batches(self) -> Generator[RowBatch, None, None]:
        for first in range(0, len(self._frame), _BATCH_SIZE):
            stop = min(len(self._frame), first + _BATCH_SIZE)
            positions = range(first, stop)
            metadata: list[Any] = [None] * len(positions)
            if self._metadata is not None:
                metadata = [_missing_as_none(entry) for entry in self._metadata.iloc[first:stop]]
            yield RowBatch(
                self._ids.iloc[first:stop].tolist(),
                self._matrix(self._vectors.iloc[first:stop].tolist(), positions),
                metadata,
                positions,
            )

    def first_occurrence(self, vector_id: str) -> str | None:
        for position, candidate in enumerate(self._ids.tolist()):
            if candidate == vector_id:
                return self.describe(position)
        return None

    def _matrix(self, cells: list[Any], positions: range) -> npt.NDArray[np.float32]:
        arrays = []
        for cell, position in zip(cells, positions):
            array = np.asarray(cell) if isinstance(cell, (np.ndarray, list, tuple)) else None
            if array is None or array.ndim != 1 or array.dtype.kind not in "fiu":
                shown = describe_value(cell) if array is None else f"an array of {array.dtype}"
                raise InvalidVectorError(
                    f"{self.describe(position)}: vector is {shown}; expected a 1-D array of "
                    f"{self._dim} numbers; {NOTHING_IMPORTED}"
                )
            if len(array) != self._dim:
                raise DimensionMismatchError(
                    f"{self.describe(position)}: vector has dim {len(array)}, collection "
                    f"{self._collection_name!r} expects {self._dim}; {NOTHING_IMPORTED}"
                )
            arrays.append(array)
        if not arrays:
            return np.empty((0, self._dim), dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.stack(arrays).astype(np.float32)


def _missing_as_none(entry: Any) -> Any:
    """pandas marks a missing cell None, NaN or NA; all mean "no metadata"."""
    if entry is None or (isinstance(entry, float) and math.isnan(entry)):
        return None
    if type(entry).__name__ in ("NAType", "NaTType"):
        return None
    return entry
