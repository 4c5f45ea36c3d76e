"""pandas DataFrames in and out: ``collection_to_dataframe`` and ``add_dataframe``.

A frame is one row per record: ``id`` (str), ``vector`` (a 1-D numpy float32 array per
cell), the metadata, either as one column per field (``flatten=True``, the default: a
nested field under its dotted name, ``a.b``) or as one ``metadata`` column of dicts, and a
``document`` column (str or None) when some record has a document. ``add_dataframe`` reads
both shapes, and any frame of flat columns: every column other than the id, the vector,
``metadata`` and ``document`` is a metadata field (see ``fields``). It checks every row with
the rules of a file import before storing any (all or nothing), then stores the frame in
batches. ``add_dataframe(collection_to_dataframe(c))`` stores the same records again.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from vectordb.dependencies import require_module
from vectordb.errors import DimensionMismatchError, InvalidArgumentError, InvalidVectorError
from vectordb.transfer.fields import (
    FieldMerger,
    check_metadata_columns,
    split_fields,
)
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
_INCLUDE_CHOICES = ("vector", "metadata", "document")
FRAME_INCLUDE = _INCLUDE_CHOICES
"""What ``to_dataframe`` reads unless told otherwise: everything."""


def collection_to_dataframe(
    collection: TransferTarget,
    *,
    where: Mapping[str, Any] | None = None,
    include: Iterable[str] = FRAME_INCLUDE,
    flatten: bool = True,
    include_vectors: bool | None = None,
    warn_depth: int = 2,
) -> Any:
    """The records of ``collection`` (all, or those matching ``where``) as a
    ``pandas.DataFrame``, in storage order.

    Parameters
    ----------
    collection
        The collection to read; the records read are held in memory.
    where
        A filter, as in ``Collection.count``: only the records it matches are read.
    include
        Any of ``"vector"``, ``"metadata"`` and ``"document"``: the columns besides ``id``
        (all by default; the ``document`` column is there when some record has one).
    flatten
        True (the default): one column per metadata field, a nested field under its dotted
        name (``{"a": {"b": 1}}`` -> column ``a.b``); a record without a field has None in
        its column. Whatever such columns cannot carry goes to a ``metadata`` column (a
        dict or None per row), which is there only when some record needs it: a field whose
        value is null (a None cell reads back as no field), metadata ``{}``, a key with a
        dot or none, or a top-level key named ``id``, ``vector`` or ``metadata``.
        ``add_dataframe`` merges it all back into the same metadata. False: one
        ``metadata`` column of dicts (None for a record without metadata).
    include_vectors
        Deprecated: ``include_vectors=False`` is ``include=("metadata",)``.
    warn_depth
        The stack level the deprecation warning names (3 through ``Collection.to_dataframe``).

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` (str), ``vector`` (a 1-D float32 numpy array per cell) when included,
        then the metadata columns when included, then ``document`` (str or None per row)
        when included and some record has one, all of dtype object (each cell holds the
        stored value, exactly: ints stay ints, lists lists, dicts dicts).

    Raises
    ------
    InvalidArgumentError
        For a bad ``include`` or ``flatten``.
    InvalidFilterError
        For a malformed ``where``.
    MissingDependencyError
        If pandas is not installed.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> from vectordb.transfer.dataframe import collection_to_dataframe
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"],
    ...                  metadata=[{"n": 1, "page": {"no": 3}}, None])
    ...     frame = collection_to_dataframe(docs, include=("metadata",))
    >>> list(frame.columns), frame["n"].tolist(), frame["page.no"].tolist()
    (['id', 'n', 'page.no'], [1, None], [3, None])
    """
    pandas = require_module("pandas", extra="pandas", purpose=_PURPOSE)
    included = _include_set(include)
    if include_vectors is not None:
        warnings.warn(
            "include_vectors= is deprecated; pass include=('metadata',) to leave the vectors "
            "out (or include=('vector', 'metadata'), the default, to keep them)",
            DeprecationWarning,
            stacklevel=warn_depth,
        )
        check_flag("include_vectors", include_vectors)
        if not include_vectors:
            included = included - {"vector"}
    check_flag("flatten", flatten)
    with_vector = "vector" in included
    with_metadata = "metadata" in included
    with_document = "document" in included
    read = tuple(name for name in _INCLUDE_CHOICES if name in included)
    ids: list[str] = []
    vectors: list[npt.NDArray[np.float32] | None] = []
    metadata: list[dict[str, Any] | None] = []
    documents: list[str | None] = []
    for records in collection.scroll(where, _BATCH_SIZE, include=read):
        for record in records:
            ids.append(record.id)
            if with_vector:
                vectors.append(record.vector)
            if with_metadata:
                metadata.append(record.metadata)
            if with_document:
                documents.append(record.document)
    # dtype=object everywhere: one array per vector cell (pandas would otherwise try to
    # widen them), and metadata values exactly as stored (no int column turned float)
    columns: dict[str, Any] = {"id": pandas.Series(ids, dtype=object)}
    if with_vector:
        columns["vector"] = pandas.Series(vectors, dtype=object)
    if with_metadata:
        if flatten:
            for name, values in _flat_columns(metadata).items():
                columns[name] = pandas.Series(values, dtype=object)
        else:
            columns["metadata"] = pandas.Series(metadata, dtype=object)
    if any(document is not None for document in documents):
        columns["document"] = pandas.Series(documents, dtype=object)
    return pandas.DataFrame(columns, columns=list(columns))


def _include_set(include: Any) -> frozenset[str]:
    if isinstance(include, str):
        include = (include,)
    try:
        included = frozenset(include)
    except TypeError:
        raise InvalidArgumentError(
            f"include must be a sequence of 'vector', 'metadata' and / or 'document'; got "
            f"{include!r}"
        ) from None
    unknown = included - set(_INCLUDE_CHOICES)
    if unknown:
        raise InvalidArgumentError(
            f"include accepts 'vector', 'metadata' and 'document'; got {sorted(map(str, unknown))}"
        )
    return included


def _flat_columns(metadata: list[dict[str, Any] | None]) -> dict[str, list[Any]]:
    """One list per field (dotted names, in the order first met; None where a record has
    no such field), then ``metadata`` with what the fields cannot carry, when any record
    has some (see ``fields.split_fields``)."""
    flats: list[dict[str, Any]] = []
    rests: list[Any] = []
    names: dict[str, None] = {}
    for entry in metadata:
        flat, rest = split_fields(entry)
        flats.append(flat)
        rests.append(rest)
        names.update(dict.fromkeys(flat))
    columns = {name: [flat.get(name) for flat in flats] for name in names}
    if any(rest is not None for rest in rests):
        columns["metadata"] = rests
    return columns


def add_dataframe(
    collection: TransferTarget,
    frame: Any,
    *,
    id_column: str = "id",
    vector_column: str = "vector",
    metadata_column: str | None = "metadata",
    metadata_columns: Sequence[str] | None = None,
    on_conflict: str = "error",
    progress: bool = False,
    document_column: str | None = "document",
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
        The column of metadata objects (a dict per cell; None or NaN for none), or None
        to read none (a ``metadata`` column is then left out). The default,
        ``"metadata"``, is read when the frame has such a column; another name must be a
        column of the frame.
    metadata_columns
        The columns to read as metadata fields, a list of names; None (the default) reads
        every column other than the id, vector and metadata columns. A dotted name nests
        (column ``a.b`` is the field ``b`` inside ``a``); a missing cell (None, NaN,
        ``pandas.NA``, NaT) leaves the field out of that record. The fields merge with the
        metadata column's object; a field set by both (or by columns ``a`` and ``a.b``)
        raises InvalidMetadataError.
    on_conflict
        For an id already stored: ``"error"``, ``"skip"`` or ``"replace"``, as in
        :func:`~vectordb.transfer.load.import_records`.
    progress
        Show a progress bar on stderr while storing (needs tqdm).
    document_column
        The column of documents (a str per cell; None, NaN or ``""`` for none), checked as
        ``Collection.add(documents=)`` checks them, or None to read none (a ``document``
        column is then left out). The default, ``"document"``, is read when the frame has
        such a column; another name must be a column of the frame.

    Returns
    -------
    ImportReport
        With ``source="DataFrame"``.

    Raises
    ------
    InvalidArgumentError
        If ``frame`` is not a DataFrame, lacks a named column or has two of one name, if
        ``metadata_columns`` is not a list of its field columns, or for a bad id; every row
        error names the row (its position, and its index label); nothing is imported.
    DimensionMismatchError, InvalidVectorError, InvalidMetadataError, DuplicateIdError
        For a bad row, as in ``import_records`` (InvalidMetadataError also for a column
        whose name names no field, such as ``""`` or ``"a..b"``, and a field set twice);
        nothing is imported.
    MissingDependencyError
        If pandas is not installed.
    ImportInterruptedError
        If storing failed after some batches were stored; ``rows_applied`` rows (the
        frame's first ones) are stored, and ``frame.iloc[rows_applied:]`` resumes.

    Examples
    --------
    >>> import tempfile, pandas, vectordb
    >>> from vectordb.transfer.dataframe import add_dataframe
    >>> frame = pandas.DataFrame({"id": ["a", "b"], "vector": [[1, 0], [0, 1]],
    ...                           "lang": ["en", None], "page.no": [3, 4]})
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     report = add_dataframe(docs, frame)
    ...     report.imported, docs.get("a").metadata, docs.get("b").metadata
    (2, {'lang': 'en', 'page': {'no': 3}}, {'page': {'no': 4}})
    """
    pandas = require_module("pandas", extra="pandas", purpose=_PURPOSE)
    if not isinstance(frame, pandas.DataFrame):
        raise InvalidArgumentError(f"frame must be a pandas.DataFrame; got {type(frame).__name__}")
    check_on_conflict(on_conflict)
    check_flag("progress", progress)
    chosen = check_metadata_columns(metadata_columns)
    available = list(frame.columns)
    names = {"id_column": id_column, "vector_column": vector_column}
    if metadata_column is not None and (
        metadata_column != "metadata" or metadata_column in available
    ):
        names["metadata_column"] = metadata_column
    else:
        metadata_column = None
    if document_column is not None and (
        document_column != "document" or document_column in available
    ):
        names["document_column"] = document_column
    else:
        document_column = None
    for argument, column in names.items():
        if column not in available:
            hint = (
                f" (pass {argument}=None for none)"
                if argument in ("metadata_column", "document_column")
                else ""
            )
            raise InvalidArgumentError(
                f"frame has no column {column!r}{hint}; its columns are "
                f"{list(map(str, available))}; set {argument}= to the one to use"
            )
    roles = set(names.values())
    if "metadata" in available and "metadata" not in roles:
        if metadata_column is not None:
            raise InvalidArgumentError(
                f"frame has a 'metadata' column besides metadata_column={metadata_column!r}; "
                "rename or drop one of them"
            )
        roles.add("metadata")  # metadata_column=None: the frame's metadata is left out
    if "document" in available and "document" not in roles:
        if document_column is not None:
            raise InvalidArgumentError(
                f"frame has a 'document' column besides document_column={document_column!r}; "
                "rename or drop one of them"
            )
        roles.add("document")  # document_column=None: the frame's documents are left out
    if chosen is None:
        fields = [name for name in available if name not in roles]
    else:
        for name in chosen:
            if name not in available:
                raise InvalidArgumentError(
                    f"frame has no column {name!r}, which metadata_columns names; its columns "
                    f"are {list(map(str, available))}"
                )
            if name in roles:
                raise InvalidArgumentError(
                    f"metadata_columns names {name!r}, which is the frame's id, vector, "
                    "metadata or document column"
                )
        fields = list(chosen)
    for name in [*names.values(), *fields]:
        if available.count(name) > 1:
            raise InvalidArgumentError(
                f"frame has {available.count(name)} columns named {name!r}; rename all but one"
            )
    rows = _FrameRows(
        frame, collection, id_column, vector_column, metadata_column, fields, document_column
    )
    for name in fields:
        rows.merger.path(name)  # a column that names no field is refused here
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
        fields: list[Any],
        document_column: str | None = None,
    ) -> None:
        self._frame = frame
        self._dim = collection.dim
        self._collection_name = collection.name
        self._ids = frame[id_column]
        self._vectors = frame[vector_column]
        self._metadata = None if metadata_column is None else frame[metadata_column]
        self._documents = None if document_column is None else frame[document_column]
        self._field_names = fields
        self._fields = [frame[name] for name in fields]
        self.merger = FieldMerger(
            "the DataFrame", object_words=f"the metadata column {metadata_column!r}"
        )

    def describe(self, position: int) -> str:
        return f"DataFrame row {position} (index {self._frame.index[position]!r})"

    def batches(self) -> Generator[RowBatch, None, None]:
        for first in range(0, len(self._frame), _BATCH_SIZE):
            stop = min(len(self._frame), first + _BATCH_SIZE)
            positions = range(first, stop)
            metadata: list[Any] = [None] * len(positions)
            if self._metadata is not None:
                metadata = [_missing_as_none(entry) for entry in self._metadata.iloc[first:stop]]
            if self._fields:
                names = self._field_names
                columns = [column.iloc[first:stop].tolist() for column in self._fields]
                merge = self.merger.merge
                metadata = [
                    merge(entry, names, row, functools.partial(self.describe, position))
                    for entry, row, position in zip(metadata, zip(*columns), positions)
                ]
            documents = None
            if self._documents is not None:
                documents = [
                    _missing_as_none(document) for document in self._documents.iloc[first:stop]
                ]
            yield RowBatch(
                self._ids.iloc[first:stop].tolist(),
                self._matrix(self._vectors.iloc[first:stop].tolist(), positions),
                metadata,
                positions,
                documents,
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
    """pandas marks a missing cell None, NaN or NA; all mean "no metadata" (or document)."""
    if entry is None or (isinstance(entry, float) and math.isnan(entry)):
        return None
    if type(entry).__name__ in ("NAType", "NaTType"):
        return None
    return entry
