"""The file formats of import and export, and how a path or a name selects one.

Each format stores the same columns: ``id`` (text), ``vector`` (``dim`` float32 numbers),
``metadata`` (a JSON object, or nothing) and ``document`` (text, or nothing; export writes
it when the collection holds documents, and a file without it imports records without
documents):

- ``jsonl`` (suffix ``.jsonl`` or ``.ndjson``): one JSON object per line,
  ``{"id": "a", "vector": [0.5, 1.0], "metadata": {"k": 1}, "document": "text"}``
  (``null`` or no ``metadata`` key for none; export writes ``document`` only for a record
  that has one).
- ``csv``: a header ``id,metadata,v0,...,v{dim-1}`` (``id,metadata,document,v0,...`` when
  the collection holds documents), then one row per record with the metadata as JSON text
  and the document as it is (an empty cell for none).
- ``npy``: the vectors as one ``(n, dim)`` float32 array in ``<stem>.npy``, the ids one per
  line in ``<stem>.ids.txt``, the metadata one JSON value per line (``null`` for none) in
  ``<stem>.metadata.jsonl`` and, when the collection holds documents, the documents one
  JSON string per line (``null`` for none) in ``<stem>.documents.jsonl``; on import the
  metadata and documents files may be left out.
- ``parquet``: columns ``id`` (string), ``vector`` (``fixed_size_list<float32>[dim]``; a
  plain list of numbers is read too), ``metadata`` (JSON text or null; may be left out)
  and ``document`` (string or null; written when the collection holds documents, may be
  left out).

On import, a file may also carry metadata as flat columns (``transfer.fields``): every CSV
or Parquet column, and every JSON Lines key, other than ``id``, the vector, ``metadata``
and ``document``
is a metadata field (a dotted name nests), merged with the ``metadata`` object. A CSV file's
columns may come in any order; a field cell is read as JSON when the whole cell is JSON
(``3``, ``true``, ``[1, 2]``, ``"007"``), else as text, and an empty cell is no field. A
Parquet ``metadata`` column may also be a struct. Export writes the layouts above.

Text formats write each float32 with 9 significant digits, which reads back to the same
float32 whichever way a reader rounds (straight to float32, or through float64 as Python's
``json`` and ``float`` do).
"""

from __future__ import annotations

import dataclasses
import enum
import os
from pathlib import Path
from typing import Any

from vectordb.errors import InvalidArgumentError

__all__ = ["FileFormat", "NpyFiles", "npy_files", "resolve_format"]


class FileFormat(str, enum.Enum):
    """A file format that collections export to and import from."""

    JSONL = "jsonl"
    CSV = "csv"
    NPY = "npy"
    PARQUET = "parquet"


_BY_NAME = {
    "jsonl": FileFormat.JSONL,
    "ndjson": FileFormat.JSONL,
    "csv": FileFormat.CSV,
    "npy": FileFormat.NPY,
    "parquet": FileFormat.PARQUET,
}
_BY_SUFFIX = {f".{name}": file_format for name, file_format in _BY_NAME.items()}
_CHOICES = "'jsonl' (or 'ndjson'), 'csv', 'npy', 'parquet'"


def resolve_format(path: str | os.PathLike[str], format: Any) -> FileFormat:
    """The format named by ``format`` (a name or a FileFormat; a user's value, so any
    type), or the one ``path``'s suffix implies when it is None.

    Raises
    ------
    InvalidArgumentError
        For an unknown format name, or an unknown suffix when ``format`` is None.
    """
    if format is not None:
        if isinstance(format, FileFormat):
            return format
        found = _BY_NAME.get(format.lower()) if isinstance(format, str) else None
        if found is None:
            raise InvalidArgumentError(f"unknown format {format!r}; supported: {_CHOICES}")
        return found
    suffix = Path(path).suffix.lower()
    found = _BY_SUFFIX.get(suffix)
    if found is None:
        raise InvalidArgumentError(
            f"cannot tell the format of {os.fspath(path)!r} from its suffix "
            f"{suffix or '(none)'!r}; use a suffix of {', '.join(_BY_SUFFIX)} or pass format= "
            f"one of {_CHOICES}"
        )
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class NpyFiles:
    """The files of the ``npy`` format (``documents`` only when there are documents)."""

    vectors: Path
    ids: Path
    metadata: Path
    documents: Path


def npy_files(path: str | os.PathLike[str]) -> NpyFiles:
    """``data.npy`` -> ``data.npy``, ``data.ids.txt``, ``data.metadata.jsonl``,
    ``data.documents.jsonl``.

    A path without the ``.npy`` suffix keeps its whole name as the stem.
    """
    vectors = Path(path)
    stem = vectors.name[: -len(".npy")] if vectors.name.lower().endswith(".npy") else vectors.name
    return NpyFiles(
        vectors,
        vectors.with_name(f"{stem}.ids.txt"),
        vectors.with_name(f"{stem}.metadata.jsonl"),
        vectors.with_name(f"{stem}.documents.jsonl"),
    )
