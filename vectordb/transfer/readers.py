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
"""

from __future__ import annotations

import abc
import contextlib
import csv
import itertools
import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from vectordb.errors import (
    DimensionMismatchError,
    InvalidArgumentError,
    InvalidFileError,
    InvalidMetadataError,
    InvalidVectorError,
    PathNotFoundError,
)
from vectordb.transfer.dependencies import require_module
from vectordb.transfer.formats import FileFormat, npy_files
from vectordb.transfer.validation import NOTHING_IMPORTED, RowBatch, describe_value
from vectordb.transfer.writers import PARQUET_PURPOSE

__all__ = ["RecordReader", "open_reader"]

_JSONL_KEYS = frozenset({"id", "vector", "metadata"})
_NUMBER_TYPES = frozenset({int, float})


def open_reader(
    path: str | os.PathLike[str], file_format: FileFormat, dim: int, collection_name: str
) -> RecordReader:
    """A reader of ``file_format`` for ``path``, for a collection of ``dim``.

    Raises
    ------
    PathNotFoundError
        If ``path`` (or the ``npy`` format's ids file) does not exist.
    InvalidArgumentError, InvalidFileError, DimensionMismatchError
        If ``path`` is a directory, or (``npy``, Parquet) its header already tells that it
        cannot be imported.
    MissingDependencyError
        For Parquet without pyarrow installed.
    """
    file = Path(path)
    if file.is_dir():
        raise InvalidArgumentError(f"cannot import {os.fspath(path)}: it is a directory")
    if not file.exists():
        raise PathNotFoundError(f"cannot import {os.fspath(path)}: no such file")
    if file_format is FileFormat.JSONL:
        return JsonLinesReader(file, dim, collection_name)
    if file_format is FileFormat.CSV:
        return CsvReader(file, dim, collection_name)
    if file_format is FileFormat.NPY:
        return NpyReader(file, dim, collection_name)
    return ParquetReader(file, dim, collection_name)


class RecordReader(abc.ABC):
    """Reads one source file (with its companions) as RowBatches."""

    total_rows: int | None = None
    """Data rows in the file when its header tells (``npy``, Parquet), else None."""

    def __init__(self, path: Path, dim: int, collection_name: str) -> None:
        self.path = path
        self.source = os.fspath(path)
        self._dim = dim
        self._collection_name = collection_name

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
    """One JSON object per line; blank lines are passed over."""

    def describe(self, position: int) -> str:
        return f"{self.source} line {position}"

    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        to_pass = start_at
        ids: list[Any] = []
        vectors: list[list[Any]] = []
        metadata: list[Any] = []
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
                metadata.append(record.get("metadata"))
                lines.append(line_number)
                if len(ids) == batch_size:
                    yield RowBatch(ids, self._number_matrix(vectors, lines), metadata, lines)
                    ids, vectors, metadata, lines = [], [], [], []
        if to_pass:
            raise self._fail_short(start_at, start_at - to_pass)
        if ids:
            yield RowBatch(ids, self._number_matrix(vectors, lines), metadata, lines)

    def _check_record(self, record: Any, line_number: int) -> None:
        where = self.describe(line_number)
        if type(record) is not dict:
            raise InvalidFileError(
                f"{where}: the line holds {describe_value(record)}; each line must be a JSON "
                f'object such as {{"id": "a", "vector": [...], "metadata": null}}; '
                f"{NOTHING_IMPORTED}"
            )
        if not _JSONL_KEYS.issuperset(record):
            unknown = sorted(set(record) - _JSONL_KEYS)
            raise InvalidFileError(
                f"{where}: unknown key(s) {unknown}; a line has the keys id, vector and "
                f"(optionally) metadata; {NOTHING_IMPORTED}"
            )
        for key in ("id", "vector"):
            if key not in record:
                raise InvalidFileError(f"{where}: the key {key!r} is missing; {NOTHING_IMPORTED}")
        self._check_vector_list(record["vector"], line_number)


class CsvReader(RecordReader):
    """Header ``id,metadata,v0,...,v{dim-1}``; metadata cells hold JSON (empty: none)."""

    def describe(self, position: int) -> str:
        return f"{self.source} line {position}"

    def batches(self, batch_size: int, start_at: int) -> Generator[RowBatch, None, None]:
        to_pass = start_at
        ids: list[Any] = []
        cells: list[list[str]] = []
        metadata: list[Any] = []
        lines: list[int] = []
        with _open_text(self.path) as file:
            reader = csv.reader(file, strict=True)
            rows = self._rows(reader)
            self._check_header(next(rows, None))
            width = self._dim + 2
            for line_number, row in rows:
                if not row:  # a blank line
                    continue
                if to_pass:
                    to_pass -= 1
                    continue
                where = self.describe(line_number)
                if len(row) != width:
                    raise InvalidFileError(
                        f"{where}: the row has {len(row)} cells, the header {width} "
                        f"(id, metadata, v0..v{self._dim - 1}); {NOTHING_IMPORTED}"
                    )
                ids.append(row[0])
                text = row[1]
                metadata.append(_parse_json(text, where) if text else None)
                cells.append(row[2:])
                lines.append(line_number)
                if len(ids) == batch_size:
                    yield RowBatch(ids, self._number_matrix(cells, lines), metadata, lines)
                    ids, cells, metadata, lines = [], [], [], []
        if to_pass:
            raise self._fail_short(start_at, start_at - to_pass)
        if ids:
            yield RowBatch(ids, self._number_matrix(cells, lines), metadata, lines)

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

    def _check_header(self, numbered_row: tuple[int, list[str]] | None) -> None:
        expected = ["id", "metadata", *(f"v{i}" for i in range(self._dim))]
        if numbered_row is None:
            raise InvalidFileError(
                f"{self.source} is empty; a CSV file starts with the header "
                f"{','.join(expected[:3])},...,v{self._dim - 1}; {NOTHING_IMPORTED}"
            )
        header = numbered_row[1]
        if header == expected:
            return
        vector_columns = header[2:]
        if header[:2] == ["id", "metadata"] and vector_columns == [
            f"v{i}" for i in range(len(vector_columns))
        ]:
            raise DimensionMismatchError(
                f"{self.describe(1)}: the header has vector columns v0..v"
                f"{len(vector_columns) - 1} (dim {len(vector_columns)}), collection "
                f"{self._collection_name!r} expects {self._dim}; {NOTHING_IMPORTED}"
            )
        shown = ",".join(header[:5]) + (",..." if len(header) > 5 else "")
        raise InvalidFileError(
            f"{self.describe(1)}: the header must be id,metadata,v0,...,v{self._dim - 1}; got "
            f"{shown!r}; {NOTHING_IMPORTED}"
        )


class NpyReader(RecordReader):
    """``<stem>.npy`` (memory-mapped), ``<stem>.ids.txt`` and, if present,
    ``<stem>.metadata.jsonl``, read in lockstep."""

    def __init__(self, path: Path, dim: int, collection_name: str) -> None:
        super().__init__(path, dim, collection_name)
        self._files = npy_files(path)
        if not self._files.ids.exists():
            raise PathNotFoundError(
                f"{self.source} has no ids file: expected {self._files.ids} beside it, one id "
                f"per line; {NOTHING_IMPORTED}"
            )
        self._has_metadata = self._files.metadata.exists()
        array = self._open_array()
        self.total_rows = int(array.shape[0])

    def files(self) -> list[Path]:
        return [self._files.vectors, self._files.ids, self._files.metadata]

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
            # the passed-over rows' lines are read (to stay in step), not checked
            for _ in itertools.islice(id_lines, start_at):
                pass
            if metadata_lines is not None:
                for _ in itertools.islice(metadata_lines, start_at):
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
                with np.errstate(over="ignore", invalid="ignore"):
                    vectors = np.array(array[first:stop], dtype=np.float32)
                yield RowBatch(ids, vectors, metadata, positions)
            self._check_no_more(id_lines, self._files.ids, rows)
            if metadata_lines is not None:
                self._check_no_more(metadata_lines, self._files.metadata, rows)

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

    def _check_no_more(self, lines: Iterator[tuple[int, str]], path: Path, rows: int) -> None:
        if next(lines, None) is not None:
            raise InvalidFileError(
                f"{path} has more lines than {self.source} has rows ({rows}); {NOTHING_IMPORTED}"
            )


class ParquetReader(RecordReader):
    """Columns ``id`` (string), ``vector`` (a list of numbers: fixed-size or not) and,
    if present, ``metadata`` (JSON string or null); other columns are not read."""

    def __init__(self, path: Path, dim: int, collection_name: str) -> None:
        super().__init__(path, dim, collection_name)
        self._pa = require_module("pyarrow", extra="parquet", purpose=PARQUET_PURPOSE)
        self._parquet = require_module("pyarrow.parquet", extra="parquet", purpose=PARQUET_PURPOSE)
        self._compute = require_module("pyarrow.compute", extra="parquet", purpose=PARQUET_PURPOSE)
        parquet_file = self._open()
        self.total_rows = int(parquet_file.metadata.num_rows)
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
            ):
                raise InvalidFileError(
                    f"{self.source}: column 'metadata' is {metadata_type}; expected JSON text "
                    f"(string) or null; {NOTHING_IMPORTED}"
                )
            columns.append("metadata")
        return columns

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
            metadata = [
                None if text is None else _parse_json(text, self.describe(position))
                for text, position in zip(record_batch.column("metadata").to_pylist(), positions)
            ]
        return RowBatch(record_batch.column("id").to_pylist(), vectors, metadata, positions)

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
