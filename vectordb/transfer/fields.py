"""Metadata as flat columns: one column per field, a nested field under a dotted name.

Import (CSV and Parquet columns, DataFrame columns, extra JSON Lines keys):
``FieldMerger.merge`` builds one row's metadata from the row's metadata object (the
``metadata`` column or key, when there is one) and its field cells:

- a cell that is missing (None, NaN, ``pandas.NA``, NaT) leaves its field out of the row;
- a dotted name nests: column ``a.b`` sets ``{"a": {"b": ...}}`` (the inverse of
  ``vectordb.display.flat_fields``), so a column name may not have an empty part (``a..b``);
- a field set by two sources of one row (the object and a column, or columns ``a`` and
  ``a.b`` where ``a`` is not an object) raises InvalidMetadataError naming both: nothing
  is overwritten. Objects meeting at a name merge (``a`` = ``{"x": 1}`` and ``a.y`` = 2
  give ``{"a": {"x": 1, "y": 2}}``).

Export (``to_dataframe``): ``split_fields`` divides a record's metadata into what columns
carry losslessly (``flat``: dotted name -> value) and what they cannot (``rest``: a
null-valued field, since a null cell reads back as absent; metadata ``{}``; keys holding a
dot or empty; top-level keys named ``id``, ``vector``, ``metadata`` or ``document``), which
goes to the ``metadata`` column. Merging the two on import gives back the same metadata.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vectordb.errors import InvalidArgumentError, InvalidMetadataError
from vectordb.transfer.validation import NOTHING_IMPORTED, describe_value

__all__ = [
    "RESERVED_COLUMNS",
    "FieldMerger",
    "check_metadata_columns",
    "is_missing",
    "split_fields",
]

RESERVED_COLUMNS = ("id", "vector", "metadata", "document")
"""Top-level names that are never field columns (the id, the vector, the metadata object,
the document)."""

_ABSENT = object()
_MAX_CACHED_PATHS = 4096


def is_missing(value: Any) -> bool:
    """Whether a cell means "no value": None, a float NaN, ``pandas.NA`` or NaT."""
    if value is None:
        return True
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is list or kind is dict:
        return False
    if kind is float:
        return math.isnan(value)
    if isinstance(value, np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return kind.__name__ in ("NAType", "NaTType")


def check_metadata_columns(value: Any) -> list[str] | None:
    """``metadata_columns=`` as a list of names (None: every column), checked.

    Raises
    ------
    InvalidArgumentError
        For a value that is not a list or tuple of strings, a name given twice, or one of
        ``id``, ``vector``, ``metadata``, ``document`` (those columns have their own roles).
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(
            f"metadata_columns must be a list of column names (or None for every column); "
            f"got {describe_value(value)}"
        )
    names: list[str] = []
    for name in value:
        if not isinstance(name, str):
            raise InvalidArgumentError(
                f"metadata_columns holds {describe_value(name)}; column names are strings"
            )
        if name in names:
            raise InvalidArgumentError(f"metadata_columns names {name!r} twice")
        if name in RESERVED_COLUMNS:
            raise InvalidArgumentError(
                f"metadata_columns names {name!r}, which is not a field column (the columns "
                f"id, vector, metadata and document have their own roles)"
            )
        names.append(name)
    return names


class FieldMerger:
    """Builds rows' metadata from a metadata object and flat field cells (see the module
    docstring).

    Parameters
    ----------
    source
        The source, for messages about a column's name: ``"data.csv"``, ``"the DataFrame"``.
    kind
        What a field source is called: ``"column"``, or ``"key"`` for JSON Lines.
    object_words
        What the metadata object is called in a clash: ``"the 'metadata' column"``.
    """

    def __init__(self, source: str, *, kind: str = "column", object_words: str) -> None:
        self._source = source
        self._kind = kind
        self._object_words = object_words
        self._paths: dict[Any, tuple[str, ...]] = {}

    def path(self, name: Any, where: Callable[[], str] | None = None) -> tuple[str, ...]:
        """The field path a column name sets: ``"a.b"`` -> ``("a", "b")``; ``where()``
        locates the row in a message (for JSON Lines, whose keys vary by line), else the
        message names the source.

        Raises
        ------
        InvalidMetadataError
            If ``name`` is not a string or has an empty part (``""``, ``"a..b"``, ``"a."``).
        """
        path = self._paths.get(name)
        if path is not None:
            return path
        located = self._source if where is None else where()
        if not isinstance(name, str):
            raise InvalidMetadataError(
                f"{located}: {self._kind} {name!r} is named by {describe_value(name)}; "
                f"a metadata field's name is a string: rename the {self._kind} or leave it "
                f"out with metadata_columns=; {NOTHING_IMPORTED}"
            )
        path = tuple(name.split("."))
        if "" in path:
            problem = "has no name" if name == "" else "has an empty part between its dots"
            raise InvalidMetadataError(
                f"{located}: {self._kind} {name!r} {problem}, so it names no metadata "
                f"field (a dotted name nests: 'a.b' is the field b inside a): rename the "
                f"{self._kind} or leave it out with metadata_columns=; {NOTHING_IMPORTED}"
            )
        if len(self._paths) >= _MAX_CACHED_PATHS:
            self._paths.clear()
        self._paths[name] = path
        return path

    def merge(
        self,
        base: Any,
        names: Sequence[Any],
        cells: Sequence[Any],
        where: Callable[[], str],
    ) -> Any:
        """One row's metadata: ``base`` (its metadata object, or None) with each of
        ``cells`` that is not missing set at the path of the name beside it.

        Returns ``base`` itself when no cell has a value; a ``base`` that is not a mapping
        is returned unchanged too (RowChecker reports it). Neither ``base`` nor the cells
        are modified: what is changed is copied.

        Raises
        ------
        InvalidMetadataError
            If two sources set the same field (``where()`` locates the row).
        """
        present = [(index, cell) for index, cell in enumerate(cells) if not is_missing(cell)]
        if not present or (base is not None and not isinstance(base, Mapping)):
            return base
        result: dict[Any, Any] = {} if base is None else dict(base)
        owned = {id(result)}  # the dicts made here, which may be changed in place
        for index, cell in present:
            path = self.path(names[index], where)
            node = result
            for depth, key in enumerate(path[:-1]):
                child = node.get(key, _ABSENT)
                if child is _ABSENT:
                    child = {}
                    owned.add(id(child))
                    node[key] = child
                elif isinstance(child, Mapping):
                    if id(child) not in owned:
                        child = dict(child)
                        owned.add(id(child))
                        node[key] = child
                else:
                    raise self._clash(path[: depth + 1], index, base, names, cells, where)
                node = child
            key = path[-1]
            existing = node.get(key, _ABSENT)
            if existing is _ABSENT:
                node[key] = cell
            elif isinstance(existing, Mapping) and isinstance(cell, Mapping):
                node[key] = self._merge_maps(existing, cell, path, index, base, names, cells, where)
            else:
                raise self._clash(path, index, base, names, cells, where)
        return result

    def _merge_maps(
        self,
        existing: Mapping[Any, Any],
        cell: Mapping[Any, Any],
        path: tuple[Any, ...],
        index: int,
        base: Any,
        names: Sequence[Any],
        cells: Sequence[Any],
        where: Callable[[], str],
    ) -> dict[Any, Any]:
        merged = dict(existing)
        for key, value in cell.items():
            inner = merged.get(key, _ABSENT)
            if inner is _ABSENT:
                merged[key] = value
            elif isinstance(inner, Mapping) and isinstance(value, Mapping):
                merged[key] = self._merge_maps(
                    inner, value, (*path, key), index, base, names, cells, where
                )
            else:
                raise self._clash((*path, key), index, base, names, cells, where)
        return merged

    def _clash(
        self,
        path: tuple[Any, ...],
        index: int,
        base: Any,
        names: Sequence[Any],
        cells: Sequence[Any],
        where: Callable[[], str],
    ) -> InvalidMetadataError:
        """The error for a field that ``names[index]`` sets and an earlier source set."""
        other = self._object_words
        for earlier in range(index):
            if is_missing(cells[earlier]):
                continue
            earlier_path = self.path(names[earlier])
            shared = min(len(earlier_path), len(path))
            if earlier_path[:shared] == path[:shared]:
                other = f"{self._kind} {names[earlier]!r}"
                break
        field = ".".join(map(str, path))
        return InvalidMetadataError(
            f"{where()}: metadata field {field!r} is set twice, by {self._kind} "
            f"{names[index]!r} and by {other}; a field may come from one place only, so "
            f"leave one out (metadata_columns= chooses the columns); {NOTHING_IMPORTED}"
        )


def split_fields(metadata: Mapping[str, Any] | None) -> tuple[dict[str, Any], Any]:
    """``(flat, rest)``: the fields of ``metadata`` that columns carry losslessly, by
    dotted name, and the rest (None when there is none) for the ``metadata`` column.

    ``{"a": {"b": 1, "c": None}, "d": [1]}`` -> ``({"a.b": 1, "d": [1]}, {"a": {"c": None}})``;
    ``{}`` -> ``({}, {})`` (so that it reads back as ``{}``, not as no metadata).
    """
    if metadata is None:
        return {}, None
    if not metadata:
        return {}, {}
    flat: dict[str, Any] = {}
    rest = _split(metadata, "", flat, RESERVED_COLUMNS)
    return flat, rest


def _split(
    mapping: Mapping[Any, Any], prefix: str, flat: dict[str, Any], reserved: Iterable[str]
) -> dict[Any, Any] | None:
    rest: dict[Any, Any] | None = None
    for key, value in mapping.items():
        if value is None or type(key) is not str or not key or "." in key or key in reserved:
            if rest is None:
                rest = {}
            rest[key] = value
        elif isinstance(value, Mapping) and value:
            inner = _split(value, f"{prefix}{key}.", flat, ())
            if inner is not None:
                if rest is None:
                    rest = {}
                rest[key] = inner
        else:
            flat[f"{prefix}{key}"] = value
    return rest
