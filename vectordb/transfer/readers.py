"""One RecordReader per file format: a file in, RowBatches of ``batch_size`` rows out.

Invariants:

- Memory is bounded by one batch: JSON Lines and CSV are read line by line, ``npy`` through
  a memory map, Parquet one record batch at a time (and never more than a row group).
- A reader checks what it needs to build a batch (the file parses; each row has the fields
  and a vector of the collection's ``dim``); the rules on values are ``RowChecker``'s. Every
  error names the file and the line (JSON Lines, CSV: 1-based, counting the CSV header and
  blank lines) or the row (``npy``, Parquet: 0-based).
- ``batches(batch_size, start_at)`` passes over the first ``start_at`` data rows without
  checking them and may be called again: each call reads the file from its start.
- No column is dropped unless asked: besides ``id``, the vector, ``metadata`` (an object
  per row) and ``document`` (the record's text; empty or null for none), every column of a
  CSV or Parquet file and every other key of a JSON Lines object is a metadata field
  (``metadata_columns=`` names the ones to read instead), merged into the row's metadata by
  ``fields.FieldMerger`` (a dotted name nests; a missing cell leaves the field out; a field
  set twice raises).
"""

from __future__ import annotations

import abc
import collections
import contextlib
import csv
import dataclasses
import functools
import itertools
import json
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from vectordb.dependencies import require_module
from vectordb.errors import (
    DimensionMismatchError,
    InvalidArgumentError,
    InvalidFileError,
    InvalidMetadataError,
    InvalidVectorError,
    PathNotFoundError,
)
from vectordb.inputs import MAX_DOCUMENT_BYTES
from vectordb.transfer.fields import RESERVED_COLUMNS, FieldMerger, is_missing
from vectordb.transfer.formats import FileFormat, npy_files
from vectordb.transfer.validation import NOTHING_IMPORTED, RowBatch, describe_value
from vectordb.transfer.writers import PARQUET_PURPOSE

__all__ = ["RecordReader", "open_reader"]

_JSONL_KEYS = frozenset(RESERVED_COLUMNS)
# a CSV cell may hold a whole document (1 MiB of UTF-8: at most that many characters) or
# the metadata (whose JSON may be as long): room for both, with margin
_CSV_FIELD_LIMIT = 4 * MAX_DOCUMENT_BYTES
_NUMBER_TYPES = frozenset({int, float})


def open_reader(
    path: str | os.PathLike[str],
    file_format: FileFormat,
    dim: int,
    collection_name: str,
    metadata_columns: list[str] | None = None,
) -> RecordReader:
    """A reader of ``file_format`` for ``path``, for a collection of ``dim``;
    ``metadata_columns`` (checked by ``fields.check_metadata_columns``) names the field
    columns to read, None every one.

    Raises
    ------
    PathNotFoundError
        If ``path`` (or the ``npy`` format's ids file) does not exist.
    InvalidArgumentError, InvalidFileError, DimensionMismatchError, InvalidMetadataError
        If ``path`` is a directory, ``metadata_columns`` is given for ``npy``, or (``npy``,
        Parquet) the file's header already tells that it cannot be imported (a column
        named in ``metadata_columns`` is missing, a column's name names no field).
    MissingDependencyError
        For Parquet without pyarrow installed.
    """
    file = Path(path)
    if file.is_dir():
        raise InvalidArgumentError(f"cannot import {os.fspath(path)}: it is a directory")
    if not file.exists():
        raise PathNotFoundError(f"cannot import {os.fspath(path)}: no such file")
    if file_format is FileFormat.JSONL:
        return JsonLinesReader(file, dim, collection_name, metadata_columns)
    if file_format is FileFormat.CSV:
        return CsvReader(file, dim, collection_name, metadata_columns)
    if file_format is FileFormat.NPY:
        if metadata_columns is not None:
            raise InvalidArgumentError(
                "metadata_columns applies to jsonl, csv and parquet files; the npy format "
                "keeps metadata as one object per record"
            )
        return NpyReader(file, dim, collection_name)
    return ParquetReader(file, dim, collection_name, metadata_columns)


class RecordReader(abc.ABC):
    """Reads one source file (with its companions) as RowBatches."""

    total_rows: int | None = None
    """Data rows in the file when its header tells (``npy``, Parquet), else None."""
    field_kind = "column"
    """What the file calls a metadata field's name (``"key"`` in JSON Lines), for messages."""

    def __init__(
        self,
        path: Path,
        dim: int,
        collection_name: str,
        metadata_columns: list[str] | None = None,
    ) -> None:
        self.path = path
        self.source = os.fspath(path)
        self._dim = dim
        self._collection_name = collection_name
        self._metadata_columns = metadata_columns
        self._fields = FieldMerger(
            self.source,
            kind=self.field_kind,
            object_words=f"the 'metadata' {self.field_kind}",
        )

    @abc.abstractmethod
    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        """The rows after the first ``start_at``, ``batch_size`` at a time.

        Raises
        ------
        InvalidFileError, DimensionMismatchError, InvalidVectorError, InvalidMetadataError
            At the first row that cannot be read, naming it.
        InvalidArgumentError
            If the file holds fewer than ``start_at`` rows.
        """

    @abc.abstractmethod
    def describe(self, position: int) -> str:
        """Words that locate a row: ``"data.jsonl line 7"``."""

    def files(self) -> list[Path]:
        """Every file this reader reads."""
        return [self.path]

    def stamp(self) -> list[tuple[int, int]]:
        """Size and modification time of each file, to notice a file changed between reads."""
        stamps = []
        for file in self.files():
            with contextlib.suppress(FileNotFoundError):
                status = file.stat()
                stamps.append((status.st_size, status.st_mtime_ns))
        return stamps

    # ------------------------------------------------------------- shared by the readers
    def _fail_short(self, start_at: int, rows: int) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"start_at={start_at}, but {self.source} holds only {rows} rows; {NOTHING_IMPORTED}"
        )

    def _check_vector_list(self, vector: Any, position: int) -> None:
        """Raise unless ``vector`` (parsed JSON) is an array of ``dim`` numbers."""
        if type(vector) is not list:
            raise InvalidVectorError(
                f"{self.describe(position)}: vector is {describe_value(vector)}; expected an "
                f"array of {self._dim} numbers; {NOTHING_IMPORTED}"
            )
        if len(vector) != self._dim:
            raise DimensionMismatchError(
                f"{self.describe(position)}: vector has dim {len(vector)}, collection "
                f"{self._collection_name!r} expects {self._dim}; {NOTHING_IMPORTED}"
            )
        if not _NUMBER_TYPES.issuperset(map(type, vector)):
            bad = next(value for value in vector if type(value) not in _NUMBER_TYPES)
            raise InvalidVectorError(
                f"{self.describe(position)}: vector holds {describe_value(bad)}; expected "
                f"numbers; {NOTHING_IMPORTED}"
            )

    def _missing_columns(self, names: list[str]) -> None:
        """Raise unless every column named in ``metadata_columns`` is among ``names``."""
        if self._metadata_columns is None:
            return
        missing = [name for name in self._metadata_columns if name not in names]
        if missing:
            raise InvalidFileError(
                f"{self.source} has no column {missing[0]!r}, which metadata_columns names; "
                f"its columns are {names}; {NOTHING_IMPORTED}"
            )

    def _number_matrix(self, rows: list[list[Any]], positions: list[int]) -> npt.NDArray[Any]:
        """``rows`` of numbers (or numeric text) as a float32 matrix; values outside float32's
        range become infinities, which RowChecker reports."""
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                return np.array(rows, dtype=np.float64).astype(np.float32)
            except (ValueError, OverflowError, TypeError):
                pass
            # find the row and value that failed, to name them
            for row, position in zip(rows, positions):
                for column, value in enumerate(row):
                    try:
                        np.float64(value)
                    except (ValueError, OverflowError, TypeError):
                        raise InvalidVectorError(
                            f"{self.describe(position)}: vector value {column} is "
                            f"{describe_value(value)}, which is not a float32 number; "
                            f"{NOTHING_IMPORTED}"
                        ) from None
        raise InvalidVectorError(f"{self.source}: vectors do not convert to float32 numbers")


def _open_text(path: Path) -> TextIO:
    # utf-8-sig: a byte-order mark (as spreadsheet programs write) is not part of the data
    return open(path, encoding="utf-8-sig", newline="")


_DECODER = json.JSONDecoder()


def _parse_json(text: str, where: str, what: str = "metadata") -> Any:
    """``text`` parsed; bad JSON is InvalidMetadataError for metadata, else InvalidFileError."""
    # raw_decode is half the cost of json.loads (no whitespace regexes); loads runs for
    # leading whitespace and to word the error
    try:
        value, end = _DECODER.raw_decode(text)
        if end == len(text) or text[end:].isspace():
            return value
    except json.JSONDecodeError:
        pass
    error_type = InvalidMetadataError if what == "metadata" else InvalidFileError
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise error_type(
            f"{where}: {what} is not valid JSON ({error.msg} at column {error.colno}); "
            f"{NOTHING_IMPORTED}"
        ) from None
    except RecursionError:
        raise error_type(f"{where}: {what} nests too deeply to read; {NOTHING_IMPORTED}") from None


class JsonLinesReader(RecordReader):
    """One JSON object per line; blank lines are passed over. ``document`` is the record's
    text (null or absent for none). Keys other than ``id``, ``vector``, ``metadata`` and
    ``document`` are metadata fields (those in ``metadata_columns`` only,
    when it is given), as the columns of a CSV or Parquet file are."""

    field_kind = "key"

    def __init__(
        self,
        path: Path,
        dim: int,
        collection_name: str,
        metadata_columns: list[str] | None = None,
    ) -> None:
        super().__init__(path, dim, collection_name, metadata_columns)
        self._chosen = None if metadata_columns is None else frozenset(metadata_columns)

    def describe(self, position: int) -> str:
        return f"{self.source} line {position}"

    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        to_pass = start_at
        ids: list[Any] = []
        vectors: list[list[Any]] = []
        metadata: list[Any] = []
        documents: list[Any] = []
        lines: list[int] = []
        line_number = 0
        with _open_text(self.path) as file:
            lines_of_file = enumerate(file, 1)
            while True:
                try:
                    line_number, line = next(lines_of_file)
                except StopIteration:
                    break
                except UnicodeDecodeError as error:
                    raise InvalidFileError(
                        f"{self.describe(line_number + 1)}: not UTF-8 text ({error.reason}); "
                        f"{NOTHING_IMPORTED}"
                    ) from None
                if not line.strip():
                    continue
                if to_pass:
                    to_pass -= 1
                    continue
                record = _parse_json(line, self.describe(line_number), "the line")
                self._check_record(record, line_number)
                ids.append(record["id"])
                vectors.append(record["vector"])
                entry = record.get("metadata")
                if len(record) > 4 or not _JSONL_KEYS.issuperset(record):
                    entry = self._with_fields(record, entry, line_number)
                metadata.append(entry)
                documents.append(record.get("document"))
                lines.append(line_number)
                if len(ids) == batch_size:
                    yield self._batch(ids, vectors, metadata, documents, lines)
                    ids, vectors, metadata, documents, lines = [], [], [], [], []
        if to_pass:
            raise self._fail_short(start_at, start_at - to_pass)
        if ids:
            yield self._batch(ids, vectors, metadata, documents, lines)

    def _batch(
        self,
        ids: list[Any],
        vectors: list[list[Any]],
        metadata: list[Any],
        documents: list[Any],
        lines: list[int],
    ) -> RowBatch:
        has_documents = any(document is not None for document in documents)
        return RowBatch(
            ids,
            self._number_matrix(vectors, lines),
            metadata,
            lines,
            documents if has_documents else None,
        )

    def _check_record(self, record: Any, line_number: int) -> None:
        where = self.describe(line_number)
        if type(record) is not dict:
            raise InvalidFileError(
                f"{where}: the line holds {describe_value(record)}; each line must be a JSON "
                f'object such as {{"id": "a", "vector": [...], "metadata": null}}; '
                f"{NOTHING_IMPORTED}"
            )
        for key in ("id", "vector"):
            if key not in record:
                raise InvalidFileError(f"{where}: the key {key!r} is missing; {NOTHING_IMPORTED}")
        self._check_vector_list(record["vector"], line_number)

    def _with_fields(self, record: dict[str, Any], entry: Any, line_number: int) -> Any:
        """``entry`` (the line's metadata object) with the line's other keys merged in."""
        chosen = self._chosen
        names = [
            key for key in record if key not in _JSONL_KEYS and (chosen is None or key in chosen)
        ]
        return self._fields.merge(
            entry, names, [record[name] for name in names], lambda: self.describe(line_number)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _CsvLayout:
    """Where a CSV file's header puts each column (0-based cell positions)."""

    width: int
    id: int
    vector: list[int]
    metadata: int | None
    document: int | None
    field_names: list[str]
    field_cells: list[int]


class CsvReader(RecordReader):
    """A header, then one row per record. Columns, in any order: ``id``; the vector in
    ``v0``, ..., ``v{dim-1}``; optionally ``metadata`` (a JSON object per cell, empty for
    none) and ``document`` (the text as it is, empty for none); every other column is a
    metadata field, its cells read by ``_field_value``."""

    def describe(self, position: int) -> str:
        return f"{self.source} line {position}"

    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        to_pass = start_at
        ids: list[Any] = []
        cells: list[list[str]] = []
        metadata: list[Any] = []
        documents: list[str | None] | None = None
        lines: list[int] = []
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            # the default (128 Ki characters) is below a document's 1 MiB; only ever raised
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        with _open_text(self.path) as file:
            reader = csv.reader(file, strict=True)
            rows = self._rows(reader)
            layout = self._layout(next(rows, None))
            width, id_cell, metadata_cell = layout.width, layout.id, layout.metadata
            document_cell = layout.document
            if document_cell is not None:
                documents = []
            field_names, field_cells = layout.field_names, layout.field_cells
            first = layout.vector[0]
            contiguous = layout.vector == list(range(first, first + self._dim))
            merge = self._fields.merge
            for line_number, row in rows:
                if not row:  # a blank line
                    continue
                if to_pass:
                    to_pass -= 1
                    continue
                where = self.describe(line_number)
                if len(row) != width:
                    raise InvalidFileError(
                        f"{where}: the row has {len(row)} cells, the header {width}; "
                        f"{NOTHING_IMPORTED}"
                    )
                ids.append(row[id_cell])
                entry = None
                if metadata_cell is not None:
                    text = row[metadata_cell]
                    entry = _parse_json(text, where) if text else None
                if field_cells:
                    values = [_field_value(row[cell]) for cell in field_cells]
                    locate = functools.partial(self.describe, line_number)
                    entry = merge(entry, field_names, values, locate)
                metadata.append(entry)
                if documents is not None and document_cell is not None:
                    documents.append(row[document_cell] or None)
                if contiguous:
                    cells.append(row[first : first + self._dim])
                else:
                    cells.append([row[cell] for cell in layout.vector])
                lines.append(line_number)
                if len(ids) == batch_size:
                    matrix = self._number_matrix(cells, lines)
                    yield RowBatch(ids, matrix, metadata, lines, documents)
                    ids, cells, metadata, lines = [], [], [], []
                    documents = None if documents is None else []
        if to_pass:
            raise self._fail_short(start_at, start_at - to_pass)
        if ids:
            yield RowBatch(ids, self._number_matrix(cells, lines), metadata, lines, documents)

    def _rows(self, reader: Any) -> Iterator[tuple[int, list[str]]]:
        """``(first line of the row, cells)``; a quoted cell may span several lines."""
        last_line = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InvalidFileError(
                    f"{self.describe(last_line + 1)}: not valid CSV ({error}) in the row that "
                    f"starts here; {NOTHING_IMPORTED}"
                ) from None
            except UnicodeDecodeError as error:
                raise InvalidFileError(
                    f"{self.describe(last_line + 1)}: not UTF-8 text ({error.reason}); "
                    f"{NOTHING_IMPORTED}"
                ) from None
            yield last_line + 1, row
            last_line = reader.line_num

    def _layout(self, numbered_row: tuple[int, list[str]] | None) -> _CsvLayout:
        """The header's columns, checked."""
        dim = self._dim
        columns = (
            f"id, v0,...,v{dim - 1} (the vector), optionally metadata (a JSON object) and "
            "document (text) "
        )
        if numbered_row is None:
            raise InvalidFileError(
                f"{self.source} is empty; a CSV file starts with a header naming its columns: "
                f"{columns}and metadata fields; {NOTHING_IMPORTED}"
            )
        header = numbered_row[1]
        where = self.describe(1)
        shown = ",".join(header[:5]) + (",..." if len(header) > 5 else "")
        position: dict[str, int] = {}
        for cell, name in enumerate(header):
            if name in position:
                raise InvalidFileError(
                    f"{where}: the header names the column {name!r} twice; {NOTHING_IMPORTED}"
                )
            position[name] = cell
        if "id" not in position:
            raise InvalidFileError(
                f"{where}: the header has no 'id' column (got {shown!r}); the columns are "
                f"{columns}and metadata fields; {NOTHING_IMPORTED}"
            )
        found = 0
        while f"v{found}" in position:
            found += 1
        if found == 0:
            raise InvalidFileError(
                f"{where}: the header has no vector columns (got {shown!r}); a CSV file holds "
                f"the vector in the columns v0,...,v{dim - 1}; {NOTHING_IMPORTED}"
            )
        if found != dim:
            raise DimensionMismatchError(
                f"{where}: the header has vector columns v0..v{found - 1} (dim {found}), "
                f"collection {self._collection_name!r} expects {dim}; {NOTHING_IMPORTED}"
            )
        if "vector" in position:
            raise InvalidFileError(
                f"{where}: the header has a 'vector' column; a CSV file holds the vector in "
                f"the columns v0,...,v{dim - 1}; {NOTHING_IMPORTED}"
            )
        vector_names = {f"v{i}" for i in range(dim)}
        taken = vector_names | {"id", "metadata", "document"}
        if self._metadata_columns is None:
            names = [name for name in header if name not in taken]
        else:
            self._missing_columns(header)
            for name in self._metadata_columns:
                if name in vector_names:
                    raise InvalidArgumentError(
                        f"metadata_columns names {name!r}, one of {self.source}'s vector "
                        f"columns v0,...,v{dim - 1}"
                    )
            chosen = set(self._metadata_columns)
            names = [name for name in header if name in chosen]
        for name in names:
            self._fields.path(name)  # a column that names no field is refused here
        return _CsvLayout(
            width=len(header),
            id=position["id"],
            vector=[position[f"v{i}"] for i in range(dim)],
            metadata=position.get("metadata"),
            document=position.get("document"),
            field_names=names,
            field_cells=[position[name] for name in names],
        )


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# NaN and Infinity (which Python's json reads) are words in a cell, not numbers
_CELL_DECODER = json.JSONDecoder(parse_constant=_not_a_number)
_JSON_STARTS = frozenset('-0123456789tfn"[{')


def _field_value(text: str) -> Any:
    """A CSV field cell's value: None (no value) when empty; the JSON value when the whole
    cell is JSON (``3``, ``2.5``, ``true``, ``null``, ``[1, 2]``, ``{"a": 1}``, ``"007"``);
    otherwise the text itself."""
    if not text:
        return None
    if text[0] not in _JSON_STARTS:
        return text
    try:
        value, end = _CELL_DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return text
    return value if end == len(text) else text


class NpyReader(RecordReader):
    """``<stem>.npy`` (memory-mapped), ``<stem>.ids.txt`` and, if present,
    ``<stem>.metadata.jsonl`` and ``<stem>.documents.jsonl`` (a JSON string or null per
    line), read in lockstep."""

    def __init__(self, path: Path, dim: int, collection_name: str) -> None:
        super().__init__(path, dim, collection_name)
        self._files = npy_files(path)
        if not self._files.ids.exists():
            raise PathNotFoundError(
                f"{self.source} has no ids file: expected {self._files.ids} beside it, one id "
                f"per line; {NOTHING_IMPORTED}"
            )
        self._has_metadata = self._files.metadata.exists()
        self._has_documents = self._files.documents.exists()
        array = self._open_array()
        self.total_rows = int(array.shape[0])

    def files(self) -> list[Path]:
        return [self._files.vectors, self._files.ids, self._files.metadata, self._files.documents]

    def describe(self, position: int) -> str:
        return f"{self.source} row {position} ({self._files.ids.name} line {position + 1})"

    def _open_array(self) -> npt.NDArray[Any]:
        try:
            array: npt.NDArray[Any] = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError) as error:
            raise InvalidFileError(
                f"{self.source} is not a readable .npy array: {error}; {NOTHING_IMPORTED}"
            ) from None
        if array.dtype.kind not in "fiu" or array.ndim != 2:
            raise InvalidFileError(
                f"{self.source} holds a {array.dtype} array of shape {array.shape}; expected a "
                f"2-D (n, {self._dim}) array of numbers; {NOTHING_IMPORTED}"
            )
        if array.shape[1] != self._dim:
            raise DimensionMismatchError(
                f"{self.source} holds vectors of dim {array.shape[1]} (shape {array.shape}), "
                f"collection {self._collection_name!r} expects {self._dim}; {NOTHING_IMPORTED}"
            )
        return array

    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        array = self._open_array()
        rows = int(array.shape[0])
        if start_at > rows:
            raise self._fail_short(start_at, rows)
        with contextlib.ExitStack() as stack:
            # newline="\n": an id may hold a carriage return only if it is the line's end
            ids_file = stack.enter_context(open(self._files.ids, encoding="utf-8", newline="\n"))
            id_lines = self._lines(ids_file, self._files.ids)
            metadata_lines: Iterator[tuple[int, str]] | None = None
            if self._has_metadata:
                metadata_file = stack.enter_context(
                    open(self._files.metadata, encoding="utf-8", newline="\n")
                )
                metadata_lines = self._lines(metadata_file, self._files.metadata)
            document_lines: Iterator[tuple[int, str]] | None = None
            if self._has_documents:
                documents_file = stack.enter_context(
                    open(self._files.documents, encoding="utf-8", newline="\n")
                )
                document_lines = self._lines(documents_file, self._files.documents)
            # the passed-over rows' lines are read (to stay in step), not checked
            for _ in itertools.islice(id_lines, start_at):
                pass
            if metadata_lines is not None:
                for _ in itertools.islice(metadata_lines, start_at):
                    pass
            if document_lines is not None:
                for _ in itertools.islice(document_lines, start_at):
                    pass
            for first in range(start_at, rows, batch_size):
                stop = min(rows, first + batch_size)
                positions = range(first, stop)
                ids = [self._next_line(id_lines, self._files.ids, rows) for _ in positions]
                metadata: list[Any] = [None] * len(positions)
                if metadata_lines is not None:
                    metadata = [
                        self._metadata(metadata_lines, position, rows) for position in positions
                    ]
                documents: list[Any] | None = None
                if document_lines is not None:
                    documents = [
                        self._document(document_lines, position, rows) for position in positions
                    ]
                with np.errstate(over="ignore", invalid="ignore"):
                    vectors = np.array(array[first:stop], dtype=np.float32)
                yield RowBatch(ids, vectors, metadata, positions, documents)
            self._check_no_more(id_lines, self._files.ids, rows)
            if metadata_lines is not None:
                self._check_no_more(metadata_lines, self._files.metadata, rows)
            if document_lines is not None:
                self._check_no_more(document_lines, self._files.documents, rows)

    def _lines(self, file: TextIO, path: Path) -> Iterator[tuple[int, str]]:
        line_number = 0
        try:
            for line_number, line in enumerate(file, 1):
                yield line_number, line.removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError as error:
            raise InvalidFileError(
                f"{path} line {line_number + 1}: not UTF-8 text ({error.reason}); "
                f"{NOTHING_IMPORTED}"
            ) from None

    def _next_line(self, lines: Iterator[tuple[int, str]], path: Path, rows: int) -> str:
        numbered = next(lines, None)
        if numbered is None:
            raise InvalidFileError(
                f"{path} has fewer lines than {self.source} has rows ({rows}); {NOTHING_IMPORTED}"
            )
        return numbered[1]

    def _metadata(self, lines: Iterator[tuple[int, str]], position: int, rows: int) -> Any:
        text = self._next_line(lines, self._files.metadata, rows)
        where = f"{self._files.metadata} line {position + 1}"
        if not text.strip():
            raise InvalidFileError(
                f"{where}: the line is empty; write null for a record without metadata; "
                f"{NOTHING_IMPORTED}"
            )
        return _parse_json(text, where)

    def _document(self, lines: Iterator[tuple[int, str]], position: int, rows: int) -> Any:
        text = self._next_line(lines, self._files.documents, rows)
        where = f"{self._files.documents} line {position + 1}"
        if not text.strip():
            raise InvalidFileError(
                f"{where}: the line is empty; write null for a record without a document; "
                f"{NOTHING_IMPORTED}"
            )
        return _parse_json(text, where, "the document line")

    def _check_no_more(self, lines: Iterator[tuple[int, str]], path: Path, rows: int) -> None:
        if next(lines, None) is not None:
            raise InvalidFileError(
                f"{path} has more lines than {self.source} has rows ({rows}); {NOTHING_IMPORTED}"
            )


class ParquetReader(RecordReader):
    """Columns ``id`` (string), ``vector`` (a list of numbers: fixed-size or not), if
    present ``metadata`` (JSON text or null, or a struct) and ``document`` (string or null),
    and metadata fields: every other
    column (those in ``metadata_columns`` only, when it is given).

    A struct's null children are fields left out (a struct has every child in every row),
    at any depth; a map becomes an object; other values are as pyarrow gives them (dates
    and timestamps are then stored as ISO 8601 text, as ``Collection.add`` stores them).
    """

    def __init__(
        self,
        path: Path,
        dim: int,
        collection_name: str,
        metadata_columns: list[str] | None = None,
    ) -> None:
        super().__init__(path, dim, collection_name, metadata_columns)
        self._pa = require_module("pyarrow", extra="parquet", purpose=PARQUET_PURPOSE)
        self._parquet = require_module("pyarrow.parquet", extra="parquet", purpose=PARQUET_PURPOSE)
        self._compute = require_module("pyarrow.compute", extra="parquet", purpose=PARQUET_PURPOSE)
        parquet_file = self._open()
        self.total_rows = int(parquet_file.metadata.num_rows)
        self._field_names: list[str] = []
        self._converters: dict[str, Callable[[Any], Any] | None] = {}
        self._columns = self._check_schema(parquet_file.schema_arrow)

    def describe(self, position: int) -> str:
        return f"{self.source} row {position}"

    def _open(self) -> Any:
        try:
            return self._parquet.ParquetFile(self.path)
        except (self._pa.ArrowException, ValueError) as error:
            raise InvalidFileError(
                f"{self.source} is not a readable Parquet file: {error}; {NOTHING_IMPORTED}"
            ) from None

    def _check_schema(self, schema: Any) -> list[str]:
        types = self._pa.types
        names = list(schema.names)
        twice = {name for name, count in collections.Counter(names).items() if count > 1}
        used = set(RESERVED_COLUMNS) | (
            set(names) if self._metadata_columns is None else set(self._metadata_columns)
        )
        if twice & used:
            raise InvalidFileError(
                f"{self.source} has two columns named {sorted(twice & used)[0]!r}; "
                f"{NOTHING_IMPORTED}"
            )
        for name in ("id", "vector"):
            if schema.get_field_index(name) < 0:
                raise InvalidFileError(
                    f"{self.source} has no {name!r} column (it has {schema.names}); "
                    f"{NOTHING_IMPORTED}"
                )
        id_type = schema.field("id").type
        if not (types.is_string(id_type) or types.is_large_string(id_type)):
            raise InvalidFileError(
                f"{self.source}: column 'id' is {id_type}; expected string; {NOTHING_IMPORTED}"
            )
        vector_type = schema.field("vector").type
        is_list = types.is_list(vector_type) or types.is_large_list(vector_type)
        if not (is_list or types.is_fixed_size_list(vector_type)) or not (
            types.is_floating(vector_type.value_type) or types.is_integer(vector_type.value_type)
        ):
            raise InvalidFileError(
                f"{self.source}: column 'vector' is {vector_type}; expected a list of numbers "
                f"such as fixed_size_list<float>[{self._dim}]; {NOTHING_IMPORTED}"
            )
        if types.is_fixed_size_list(vector_type) and vector_type.list_size != self._dim:
            raise DimensionMismatchError(
                f"{self.source}: column 'vector' holds vectors of dim {vector_type.list_size}, "
                f"collection {self._collection_name!r} expects {self._dim}; {NOTHING_IMPORTED}"
            )
        columns = ["id", "vector"]
        if schema.get_field_index("metadata") >= 0:
            metadata_type = schema.field("metadata").type
            if not (
                types.is_string(metadata_type)
                or types.is_large_string(metadata_type)
                or types.is_null(metadata_type)
                or types.is_struct(metadata_type)
            ):
                raise InvalidFileError(
                    f"{self.source}: column 'metadata' is {metadata_type}; expected JSON text "
                    f"(string), a struct, or null; {NOTHING_IMPORTED}"
                )
            self._converters["metadata"] = self._converter(metadata_type)
            columns.append("metadata")
        if schema.get_field_index("document") >= 0:
            document_type = schema.field("document").type
            if not (
                types.is_string(document_type)
                or types.is_large_string(document_type)
                or types.is_null(document_type)
            ):
                raise InvalidFileError(
                    f"{self.source}: column 'document' is {document_type}; expected string "
                    f"(text) or null; {NOTHING_IMPORTED}"
                )
            columns.append("document")
        if self._metadata_columns is None:
            fields = [name for name in names if name not in RESERVED_COLUMNS]
        else:
            self._missing_columns(names)
            fields = list(self._metadata_columns)
        for name in fields:
            self._fields.path(name)  # a column that names no field is refused here
            self._converters[name] = self._converter(schema.field(name).type)
        self._field_names = fields
        return columns + fields

    def _converter(self, arrow_type: Any) -> Callable[[Any], Any] | None:
        """What turns a value pyarrow gives for ``arrow_type`` into metadata (None: the
        value as it is): a struct's null children are left out, a map becomes a dict."""
        types = self._pa.types
        if types.is_struct(arrow_type):
            children = [
                (arrow_type.field(i).name, self._converter(arrow_type.field(i).type))
                for i in range(arrow_type.num_fields)
            ]

            def struct(value: Any) -> Any:
                if value is None:
                    return None
                result = {}
                for name, convert in children:
                    item = value.get(name)
                    if not is_missing(item):
                        result[name] = item if convert is None else convert(item)
                return result

            return struct
        if types.is_map(arrow_type):
            convert_item = self._converter(arrow_type.item_type)

            def mapping(value: Any) -> Any:
                if value is None:
                    return None
                if convert_item is None:
                    return dict(value)
                return {key: convert_item(item) for key, item in value}

            return mapping
        if (
            types.is_list(arrow_type)
            or types.is_large_list(arrow_type)
            or types.is_fixed_size_list(arrow_type)
        ):
            convert_element = self._converter(arrow_type.value_type)
            if convert_element is None:
                return None

            def elements(value: Any) -> Any:
                if value is None:
                    return None
                return [None if item is None else convert_element(item) for item in value]

            return elements
        return None

    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        parquet_file = self._open()
        rows = int(parquet_file.metadata.num_rows)
        if start_at > rows:
            raise self._fail_short(start_at, rows)
        # whole row groups before start_at are not read at all
        groups: list[int] = []
        first = 0
        for group in range(parquet_file.metadata.num_row_groups):
            size = parquet_file.metadata.row_group(group).num_rows
            if first + size <= start_at and not groups:
                first += size
                continue
            groups.append(group)
        to_pass = start_at - first
        position = first
        if not groups:
            return
        record_batches = parquet_file.iter_batches(
            batch_size=batch_size, row_groups=groups, columns=self._columns
        )
        while True:
            try:
                record_batch = next(record_batches)
            except StopIteration:
                break
            except (self._pa.ArrowException, ValueError, OSError) as error:
                raise InvalidFileError(
                    f"{self.source}: could not read rows from {position} on: {error}; "
                    f"{NOTHING_IMPORTED}"
                ) from None
            if to_pass:
                passed = min(to_pass, record_batch.num_rows)
                record_batch = record_batch.slice(passed)
                to_pass -= passed
                position += passed
            if record_batch.num_rows:
                yield self._batch(record_batch, position)
                position += record_batch.num_rows

    def _batch(self, record_batch: Any, first: int) -> RowBatch:
        n = record_batch.num_rows
        positions = range(first, first + n)
        vectors = self._vectors(record_batch.column("vector"), first)
        metadata: list[Any] = [None] * n
        if "metadata" in self._columns:
            cells = record_batch.column("metadata").to_pylist()
            convert = self._converters["metadata"]
            if convert is not None:  # a struct
                metadata = [convert(cell) for cell in cells]
            else:
                metadata = [
                    None if text is None else _parse_json(text, self.describe(position))
                    for text, position in zip(cells, positions)
                ]
        names = self._field_names
        if names:
            columns = []
            for name in names:
                cells = record_batch.column(name).to_pylist()
                convert = self._converters[name]
                if convert is not None:
                    cells = [convert(cell) for cell in cells]
                columns.append(cells)
            merge = self._fields.merge
            metadata = [
                merge(entry, names, row, functools.partial(self.describe, position))
                for entry, row, position in zip(metadata, zip(*columns), positions)
            ]
        documents = None
        if "document" in self._columns:
            documents = record_batch.column("document").to_pylist()
        return RowBatch(
            record_batch.column("id").to_pylist(), vectors, metadata, positions, documents
        )

    def _vectors(self, column: Any, first: int) -> npt.NDArray[np.float32]:
        if column.null_count:
            index = self._first_true(column.is_null())
            raise InvalidVectorError(
                f"{self.describe(first + index)}: vector is null; {NOTHING_IMPORTED}"
            )
        if not self._pa.types.is_fixed_size_list(column.type):
            lengths = self._compute.list_value_length(column).to_numpy(zero_copy_only=False)
            wrong = np.flatnonzero(lengths != self._dim)
            if len(wrong):
                index = int(wrong[0])
                raise DimensionMismatchError(
                    f"{self.describe(first + index)}: vector has dim {int(lengths[index])}, "
                    f"collection {self._collection_name!r} expects {self._dim}; "
                    f"{NOTHING_IMPORTED}"
                )
        values = column.flatten()
        if values.null_count:
            index = self._first_true(values.is_null()) // self._dim
            raise InvalidVectorError(
                f"{self.describe(first + index)}: vector holds null; {NOTHING_IMPORTED}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            flat: npt.NDArray[np.float32] = values.to_numpy(zero_copy_only=False).astype(
                np.float32, copy=False
            )
        return flat.reshape(-1, self._dim)

    @staticmethod
    def _first_true(mask: Any) -> int:
        return int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0])
