"""One RecordWriter per file format: batches of records in, a finished file out.

Invariants:

- Nothing appears under a target name until ``commit()``: every file is written to a
  temp file beside its target (``.<name>.<random>.tmp``), fsynced, then renamed over the
  target, and the directory fsynced. ``abort()`` removes the temp files, so a failed export
  leaves the directory as it was.
- The ``npy`` format has three files (four with documents); they are renamed one after
  another, the vectors file last, so a crash between renames leaves companions that disagree
  with the vectors file in row count, which the reader reports, rather than a silently
  mixed set.
- Floats are written as text with 9 significant digits (``FLT_DECIMAL_DIG``): enough for any
  float32 to read back bit for bit, even through float64 as Python's ``json`` reads it. A
  negative zero is written ``-0.0``, since JSON reads ``-0`` as the integer 0.
"""

from __future__ import annotations

import abc
import contextlib
import io as stdio
import json
import math
import mmap
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from vectordb.dependencies import require_module
from vectordb.errors import InvalidArgumentError, InvalidMetadataError
from vectordb.files import io
from vectordb.transfer.formats import FileFormat, npy_files

__all__ = ["RecordWriter", "open_writer"]

PARQUET_PURPOSE = "Reading and writing Parquet files"


def open_writer(
    file_format: FileFormat,
    path: Path,
    dim: int,
    *,
    rows: int,
    batch_size: int,
    documents: bool = False,
) -> RecordWriter:
    """A writer of ``file_format`` for ``path``; ``rows`` is the record count (``npy`` needs it
    up front), ``batch_size`` the Parquet row-group size; ``documents``: whether the file
    gets a document column (CSV, Parquet) or file (``npy``). JSON Lines writes a
    ``document`` key for each record that has one, either way."""
    if file_format is FileFormat.JSONL:
        return JsonLinesWriter(path, dim)
    if file_format is FileFormat.CSV:
        return CsvWriter(path, dim, documents=documents)
    if file_format is FileFormat.NPY:
        return NpyWriter(path, dim, rows=rows, documents=documents)
    return ParquetWriter(path, dim, row_group_size=batch_size, documents=documents)


class RecordWriter(abc.ABC):
    """Writes batches of records to temp files and publishes them on ``commit()``.

    Use as ``write()`` any number of times, then exactly one of ``commit()`` or ``abort()``.
    Subclass constructors open their files inside ``_abort_on_error()``.
    """

    def __init__(self) -> None:
        self._staged: list[_StagedFile] = []
        self._handles: list[Any] = []  # whatever has a close(): files, pyarrow's writer

    @contextlib.contextmanager
    def _abort_on_error(self) -> Iterator[None]:
        """For constructors: a failure halfway through removes the temp files made so far."""
        try:
            yield
        except BaseException:
            self.abort()
            raise

    def _stage(self, target: Path) -> Path:
        staged = _StagedFile(target)
        self._staged.append(staged)
        return staged.path

    def _open_text(self, target: Path) -> TextIO:
        file = io.open_text_output(self._stage(target))
        self._handles.append(file)
        return file

    @abc.abstractmethod
    def write(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[dict[str, Any] | None],
        documents: list[str | None] | None = None,
    ) -> None:
        """Append records: ``ids``, the ``(n, dim)`` float32 ``vectors``, their metadata
        and their documents (None: none has one)."""

    def _close(self) -> None:
        """Finish and close every open handle (idempotent)."""
        for handle in self._handles:
            handle.close()

    def commit(self) -> None:
        """Close the files, make them durable and rename them to their targets."""
        self._close()
        for staged in self._staged:
            staged.publish()
        for directory in {staged.target.parent for staged in self._staged}:
            io.fsync_dir(directory)

    def abort(self) -> None:
        """Close and remove the temp files; the targets are left as they were."""
        for handle in self._handles:
            with contextlib.suppress(Exception):
                handle.close()
        for staged in self._staged:
            # best effort, like the closes above: the error that made us abort is the one
            # to report (a temp file left here is named as one: ``.<name>.<random>.tmp``)
            with contextlib.suppress(OSError):
                staged.discard()


class _StagedFile:
    """A temp file in the target's directory, created with the permissions a plain
    ``open()`` would give (mkstemp's 0600 would surprise whoever reads the export)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        os.close(io.open_fd(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))

    def publish(self) -> None:
        io.fsync_file(self.path)
        io.replace(self.path, self.target)

    def discard(self) -> None:
        io.unlink(self.path, missing_ok=True)


class JsonLinesWriter(RecordWriter):
    """``{"id": ..., "vector": [...], "metadata": ...}`` per line, UTF-8, with
    ``"document": ...`` for a record that has one."""

    def __init__(self, path: Path, dim: int) -> None:
        super().__init__()
        self._formatter = _FloatFormatter(dim)
        with self._abort_on_error():
            self._file = self._open_text(path)

    def write(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[dict[str, Any] | None],
        documents: list[str | None] | None = None,
    ) -> None:
        encode = _ENCODER.encode
        texts = [None] * len(ids) if documents is None else documents
        self._file.writelines(
            f'{{"id": {encode(vector_id)}, "vector": [{numbers}], '
            f'"metadata": {metadata_json(entry, vector_id)}'
            f"{'' if not text else f', {_DOCUMENT_KEY}{encode(text)}'}}}\n"
            for vector_id, numbers, entry, text in zip(
                ids, self._formatter.rows(vectors), metadata, texts
            )
        )


class CsvWriter(RecordWriter):
    """Header ``id,metadata,v0,...`` (``id,metadata,document,v0,...`` with documents),
    then one row per record; metadata as JSON text, the document as it is."""

    def __init__(self, path: Path, dim: int, *, documents: bool = False) -> None:
        super().__init__()
        self._formatter = _FloatFormatter(dim)
        self._documents = documents
        with self._abort_on_error():
            self._file = self._open_text(path)
            leading = ["id", "metadata", "document"] if documents else ["id", "metadata"]
            self._file.write(",".join([*leading, *(f"v{i}" for i in range(dim))]) + "\n")

    def write(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[dict[str, Any] | None],
        documents: list[str | None] | None = None,
    ) -> None:
        # numbers never need quoting, so each line is built directly: csv.writer would take
        # dim + 2 cells per row and look at every one
        if self._documents:
            texts = [None] * len(ids) if documents is None else documents
            self._file.writelines(
                f"{_csv_cell(vector_id)},"
                f"{'' if entry is None else _csv_cell(metadata_json(entry, vector_id))},"
                f"{_csv_cell(text) if text else ''},{numbers}\n"
                for vector_id, numbers, entry, text in zip(
                    ids, self._formatter.rows(vectors), metadata, texts
                )
            )
            return
        _check_no_documents(documents)
        self._file.writelines(
            f"{_csv_cell(vector_id)},"
            f"{'' if entry is None else _csv_cell(metadata_json(entry, vector_id))},{numbers}\n"
            for vector_id, numbers, entry in zip(ids, self._formatter.rows(vectors), metadata)
        )


class NpyWriter(RecordWriter):
    """``<stem>.npy`` (filled through a memory map), ``<stem>.ids.txt``,
    ``<stem>.metadata.jsonl`` and, with documents, ``<stem>.documents.jsonl`` (a JSON string
    or null per line). Without documents, a documents file left at the target by an earlier
    export is removed on commit (it would otherwise be read with the new files)."""

    def __init__(self, path: Path, dim: int, *, rows: int, documents: bool = False) -> None:
        super().__init__()
        files = npy_files(path)
        self._stale_documents: Path | None = None if documents else files.documents
        self._documents: TextIO | None = None
        self._rows = rows
        self._written = 0
        self._map: mmap.mmap | None = None
        self._array: npt.NDArray[np.float32] | None = None
        with self._abort_on_error():
            # companions first: commit() renames in this order, the vectors file last
            self._ids = self._open_text(files.ids)
            self._metadata = self._open_text(files.metadata)
            if documents:
                self._documents = self._open_text(files.documents)
            vectors_path = self._stage(files.vectors)
            if rows:
                self._map, self._array = _map_npy(vectors_path, rows, dim)
            else:  # a zero-length file cannot be memory-mapped
                # a file object: given a path without the .npy suffix, np.save would add one
                with io.open_output(vectors_path) as file:
                    np.save(file, np.empty((0, dim), dtype="<f4"))

    def write(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[dict[str, Any] | None],
        documents: list[str | None] | None = None,
    ) -> None:
        stop = self._written + len(ids)
        if stop > self._rows or self._array is None:
            raise InvalidArgumentError(
                f"the collection grew during the export (more than the {self._rows} records "
                "counted at its start); export again while nothing writes to it"
            )
        for vector_id in ids:
            if "\n" in vector_id or "\r" in vector_id:
                raise InvalidArgumentError(
                    f"id {vector_id!r} holds a line break, which the npy format's ids file "
                    "(one id per line) cannot store; export to .jsonl, .csv or .parquet instead"
                )
        self._array[self._written : stop] = vectors
        self._written = stop
        self._ids.writelines(f"{vector_id}\n" for vector_id in ids)
        self._metadata.writelines(
            f"{metadata_json(entry, vector_id)}\n" for vector_id, entry in zip(ids, metadata)
        )
        if self._documents is None:
            _check_no_documents(documents)
        else:
            encode = _ENCODER.encode
            texts = [None] * len(ids) if documents is None else documents
            self._documents.writelines(f"{encode(text) if text else 'null'}\n" for text in texts)

    def commit(self) -> None:
        if self._written != self._rows:
            raise InvalidArgumentError(
                f"the collection shrank during the export ({self._rows} records at its start, "
                f"{self._written} at its end); export again while nothing writes to it"
            )
        if self._stale_documents is not None:
            io.unlink(self._stale_documents, missing_ok=True)
        super().commit()

    def _close(self) -> None:
        mapping = self._map
        if mapping is not None:
            io.msync(mapping)
            # the map must be gone before the rename (Windows refuses to rename a mapped file)
            self._array, self._map = None, None
            mapping.close()
        super()._close()

    def abort(self) -> None:
        mapping, self._array, self._map = self._map, None, None
        if mapping is not None:
            mapping.close()
        super().abort()


class ParquetWriter(RecordWriter):
    """Columns ``id`` string, ``vector`` fixed_size_list<float32>[dim], ``metadata`` JSON
    string or null and, with documents, ``document`` string or null; one row group per
    ``row_group_size`` records."""

    def __init__(
        self, path: Path, dim: int, *, row_group_size: int, documents: bool = False
    ) -> None:
        super().__init__()
        self._pa = require_module("pyarrow", extra="parquet", purpose=PARQUET_PURPOSE)
        parquet = require_module("pyarrow.parquet", extra="parquet", purpose=PARQUET_PURPOSE)
        pa = self._pa
        self._dim = dim
        self._row_group_size = row_group_size
        self._documents = documents
        fields = [
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("metadata", pa.string()),
        ]
        if documents:
            fields.append(pa.field("document", pa.string()))
        self._schema = pa.schema(fields)
        with self._abort_on_error():
            sink = io.open_output(self._stage(path))
            self._handles.append(sink)
            self._writer: Any = parquet.ParquetWriter(sink, self._schema)
            # closed before the file it writes to (it writes the footer at close)
            self._handles.insert(0, self._writer)

    def write(
        self,
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[dict[str, Any] | None],
        documents: list[str | None] | None = None,
    ) -> None:
        pa = self._pa
        flat = pa.array(np.ascontiguousarray(vectors, dtype="<f4").reshape(-1))
        arrays = [
            pa.array(ids, pa.string()),
            pa.FixedSizeListArray.from_arrays(flat, self._dim),
            pa.array(
                [
                    None if entry is None else metadata_json(entry, vector_id)
                    for vector_id, entry in zip(ids, metadata)
                ],
                pa.string(),
            ),
        ]
        if self._documents:
            texts = [None] * len(ids) if documents is None else documents
            arrays.append(pa.array([text or None for text in texts], pa.string()))
        else:
            _check_no_documents(documents)
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        self._writer.write_table(table, row_group_size=self._row_group_size)


def _map_npy(path: Path, rows: int, dim: int) -> tuple[mmap.mmap, npt.NDArray[np.float32]]:
    """Write the ``.npy`` header of a ``(rows, dim)`` float32 array to the staged file
    ``path``, reserve the file's full size and map it; returns the mapping and the array
    view of its data (``np.lib.format.open_memmap`` would write past this module)."""
    header = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)}
    )
    start = len(header.getvalue())
    size = start + rows * dim * 4
    fd = io.open_fd(path, os.O_RDWR)
    try:
        io.write_all(fd, header.getvalue())
        io.reserve_space(fd, size)
        mapping = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    array = np.frombuffer(mapping, dtype="<f4", count=rows * dim, offset=start)
    return mapping, array.reshape(rows, dim)


# one encoder for all: json.dumps(ensure_ascii=False) would build a new one per call
_ENCODER = json.JSONEncoder(ensure_ascii=False)
_DOCUMENT_KEY = '"document": '


def _check_no_documents(documents: list[str | None] | None) -> None:
    """A writer opened without a document column must not be given a document (the
    collection gained one during the export): never drop one silently."""
    if documents is not None and any(documents):
        raise InvalidArgumentError(
            "a record gained a document during the export (the collection held none at its "
            "start); export again while nothing writes to it"
        )


def metadata_json(entry: dict[str, Any] | None, vector_id: str) -> str:
    """``entry`` as JSON text (``null`` for None).

    Raises
    ------
    InvalidMetadataError
        If the metadata holds a value JSON has no form for (bytes, for one).
    """
    if entry is None:
        return "null"
    try:
        return _ENCODER.encode(entry)
    except (TypeError, ValueError) as error:
        raise InvalidMetadataError(
            f"metadata of record {vector_id!r} cannot be written as JSON: {error}; nothing was "
            "exported"
        ) from error


def _csv_cell(text: str) -> str:
    """``text`` quoted the way ``csv.writer``'s QUOTE_MINIMAL quotes it."""
    if any(character in text for character in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class _FloatFormatter:
    """Formats float32 rows as comma-separated text, one ``%`` operation per row."""

    def __init__(self, dim: int) -> None:
        self._row_format = ",".join(["%.9g"] * dim)

    def rows(self, vectors: npt.NDArray[np.float32]) -> list[str]:
        row_format = self._row_format
        texts = [row_format % tuple(row) for row in vectors.tolist()]
        negative_zero = (vectors == 0) & np.signbit(vectors)
        if negative_zero.any():
            for index in np.flatnonzero(negative_zero.any(axis=1)).tolist():
                texts[index] = ",".join(
                    "-0.0" if value == 0 and math.copysign(1.0, value) < 0 else format(value, ".9g")
                    for value in vectors[index].tolist()
                )
        return texts
