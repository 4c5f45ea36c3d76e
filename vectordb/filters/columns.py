"""MetadataColumns: per-field columns of a collection's metadata, for vectorized filters.

A column holds, for every row, the value at one field path (or ``MISSING``), built the first
time a filter names the path and kept up to date incrementally: writes mark their rows dirty
(``rows_changed``, under the exclusive collection latch) and the next filter re-decodes only
those rows. From the values it derives, on demand, the arrays the operators use: ``numbers``
(float64, NaN where the value is not a number), ``codes`` (int32 rank of the value among the
column's distinct strings, -1 where not a string) with the sorted ``categories``,
``present``, the flag ``holds_wide_ints`` (some number is 2**53 or more in magnitude, so an
int float64 cannot hold exactly may be among the values) and, for such columns, the int64
``remainders`` (``x - int(float(x))`` of each int ``x``, 0 elsewhere) that with ``numbers``
compare exactly.

Columns are saved with each checkpoint (the engine writes ``saved_state`` to ``columns.bin``
in the collection directory: ``version`` (``COLUMNS_VERSION``), ``lsn``, ``n_rows``,
``declared`` (the paths given to ``create_index``), ``fields``: dotted path -> msgpack list of
values, ``MISSING`` as ext type 1, with their derived ``arrays``, and ``strings``: the columns
whose every value is a string (or missing) as their ``codes`` and ``categories`` only, so a
text is stored once) and restored at open when the file is as of the MANIFEST's checkpoint, so
the first filter after an open reads one array instead of decoding every record's metadata.
Declared paths are built at once and kept across restarts; other paths are built on first use.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

__all__ = ["COLUMNS_VERSION", "MISSING", "Column", "MetadataColumns", "parse_path"]

_MISSING_EXT = 1
#: the ``version`` key of ``columns.bin``'s body (absent: 1). 1 saved every column's values
#: and all of its arrays (``numbers``, ``codes``, ``categories``, ``present``); 2 saves a column
#: of strings as ``strings`` (codes + categories, no values) and leaves out ``numbers`` where
#: no value is a number and ``codes`` / ``categories`` where none is a string. A newer version
#: is not used (the columns are rebuilt on first use: derived data).
COLUMNS_VERSION = 2


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def value_at(metadata: Any, path: tuple[str, ...]) -> Any:
    value = metadata
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)  # msgpack's ints, below 2**64, all fit (rounded) in a float64
    return float("nan")


_WIDE = 2.0**53  # a number this large may stand for an int float64 does not hold exactly


def _any_wide(numbers: npt.NDArray[np.float64]) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.any(np.abs(numbers) >= _WIDE))


def _remainder(value: Any) -> int:
    """What float64 leaves out of ``value``: below 2**64, at most 2**11 in magnitude."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value - int(float(value))
    return 0


class Column:
    """One field path's values over rows ``0 .. len - 1`` and arrays derived from them.
    Derived arrays are built on first use and then kept current row by row (``update``,
    ``extend``), so a write costs its rows, not the column."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self._derived: dict[str, Any] = {}

    def update(self, changes: dict[int, Any]) -> None:
        """Set the values of some rows (all below ``len(values)``)."""
        for row, value in changes.items():
            self.values[row] = value
        derived = self._derived
        if not derived:
            return
        rows = list(changes)
        new = list(changes.values())
        if "objects" in derived:
            for row, value in changes.items():
                derived["objects"][row] = value
        if "present" in derived:
            derived["present"][rows] = [v is not MISSING for v in new]
        if "numbers" in derived:
            numbers = np.array([_number(v) for v in new], np.float64)
            derived["numbers"][rows] = numbers
            if derived.get("wide") is False:  # a flag that stays up: a false alarm costs little
                derived["wide"] = _any_wide(numbers)
        if "remainders" in derived:
            derived["remainders"][rows] = [_remainder(v) for v in new]
        if "strings" in derived:
            codes, _categories = derived["strings"]
            rank = self._rank()
            if all(v in rank for v in new if isinstance(v, str)):
                codes[rows] = [rank[v] if isinstance(v, str) else -1 for v in new]
            else:  # a new distinct string shifts the ranks: rebuild this one array
                del derived["strings"]
                derived.pop("rank", None)

    def extend(self, values: list[Any]) -> None:
        self.values.extend(values)
        derived = self._derived
        if not derived or not values:
            return
        if "objects" in derived:
            tail = np.empty(len(values), dtype=object)
            tail[:] = values
            derived["objects"] = np.concatenate([derived["objects"], tail])
        if "present" in derived:
            derived["present"] = np.concatenate(
                [derived["present"], np.array([v is not MISSING for v in values], np.bool_)]
            )
        if "numbers" in derived:
            numbers = np.array([_number(v) for v in values], np.float64)
            derived["numbers"] = np.concatenate([derived["numbers"], numbers])
            if derived.get("wide") is False:
                derived["wide"] = _any_wide(numbers)
        if "remainders" in derived:
            tail = np.array([_remainder(v) for v in values], np.int64)
            derived["remainders"] = np.concatenate([derived["remainders"], tail])
        if "strings" in derived:
            rank = self._rank()
            if all(v in rank for v in values if isinstance(v, str)):
                codes, categories = derived["strings"]
                tail_codes = np.array(
                    [rank[v] if isinstance(v, str) else -1 for v in values], np.int32
                )
                derived["strings"] = (np.concatenate([codes, tail_codes]), categories)
            else:
                del derived["strings"]
                derived.pop("rank", None)

    def all_strings(self, n: int) -> bool:
        """Is every one of the first ``n`` values a string or missing? (Then the codes and
        categories hold the column: ``saved_strings``.)"""
        codes, _categories = self.strings()
        return bool(np.array_equal(codes[:n] >= 0, self.present()[:n]))

    def saved_arrays(self, n: int) -> dict[str, Any]:
        """The derived arrays over the first ``n`` rows, as bytes (built now if missing:
        once per column, then kept current row by row); ``numbers`` only if some value is a
        number, ``codes`` and ``categories`` only if some value is a string (version 2)."""
        present = self.present()
        numbers = self.numbers()
        codes, categories = self.strings()
        saved: dict[str, Any] = {"present": present[:n].tobytes()}
        if not bool(np.isnan(numbers[:n]).all()):
            saved["numbers"] = numbers[:n].astype("<f8").tobytes()
        if bool((codes[:n] >= 0).any()):
            saved["codes"] = codes[:n].astype("<i4").tobytes()
            saved["categories"] = list(categories)
        return saved

    def long_texts(self) -> bool:
        """Are the distinct strings long on average (documents rather than labels)?"""
        _codes, categories = self.strings()
        return bool(categories) and sum(map(len, categories)) > _LONG_TEXT * len(categories)

    def saved_strings(self, n: int) -> dict[str, Any]:
        """The first ``n`` rows of a column of strings (``all_strings``) as ``codes`` (-1:
        missing) and sorted distinct ``categories``: each text once, no values."""
        codes, categories = self.strings()
        return {"codes": codes[:n].astype("<i4").tobytes(), "categories": list(categories)}

    @classmethod
    def from_strings(cls, saved: object, n: int) -> Column:
        """The column ``saved_strings`` saved (``ValueError`` or ``TypeError`` if malformed)."""
        if not isinstance(saved, dict) or not isinstance(saved.get("codes"), bytes):
            raise TypeError("a saved column of strings is not a map with codes")
        codes, categories = _restored_codes(saved["codes"], saved.get("categories"), n)
        table = np.empty(len(categories) + 1, dtype=object)
        table[: len(categories)] = categories
        table[-1] = MISSING  # code -1
        objects = table[codes]
        column = cls(objects.tolist())
        column._derived = {
            "objects": objects, "present": codes >= 0, "numbers": np.full(n, np.nan),
            "wide": False, "strings": (codes, categories),
        }  # fmt: skip
        return column

    def restore_arrays(self, saved: object, n: int, version: int = 1) -> None:
        """Take arrays written by ``saved_arrays`` (``ValueError`` or ``TypeError`` if they are
        malformed: wrong types or sizes, codes outside the categories). ``version``: the
        file's; from 2 on, an array left out is one with no number / no string."""
        if not isinstance(saved, dict) or not all(
            isinstance(saved.get(name, b""), bytes) for name in ("present", "numbers", "codes")
        ):
            raise TypeError("saved arrays are not a map of byte strings")
        derived: dict[str, Any] = {}
        if "present" in saved:
            present = np.frombuffer(saved["present"], np.uint8)
            if present.size and int(present.max()) > 1:
                raise ValueError("saved present flags hold values other than 0 and 1")
            derived["present"] = present.astype(np.bool_)
        if "numbers" in saved:
            derived["numbers"] = np.frombuffer(saved["numbers"], "<f8").astype(np.float64)
        elif version >= 2 and "present" in saved:
            derived["numbers"] = np.full(n, np.nan)
            derived["wide"] = False
        if "codes" in saved:
            derived["strings"] = _restored_codes(saved["codes"], saved.get("categories"), n)
        elif version >= 2 and "present" in saved:
            derived["strings"] = (np.full(n, -1, np.int32), [])
        for name, array in derived.items():
            if name == "wide":
                continue
            size = len(array[0] if name == "strings" else array)
            if size != n:
                raise ValueError(f"saved {name} array holds {size} rows, not {n}")
        self._derived = derived

    def _rank(self) -> dict[str, int]:
        rank = self._derived.get("rank")
        if rank is None:
            _codes, categories = self.strings()
            rank = self._derived["rank"] = {text: i for i, text in enumerate(categories)}
        return rank

    def objects(self) -> npt.NDArray[np.object_]:
        cached = self._derived.get("objects")
        if cached is None:
            cached = np.empty(len(self.values), dtype=object)
            cached[:] = self.values
            self._derived["objects"] = cached
        return cached

    def present(self) -> npt.NDArray[np.bool_]:
        cached = self._derived.get("present")
        if cached is None:
            cached = np.fromiter(
                (v is not MISSING for v in self.values), np.bool_, len(self.values)
            )
            self._derived["present"] = cached
        return cached

    def numbers(self) -> npt.NDArray[np.float64]:
        cached = self._derived.get("numbers")
        if cached is None:
            cached = np.fromiter((_number(v) for v in self.values), np.float64, len(self.values))
            self._derived["numbers"] = cached
        return cached

    def holds_wide_ints(self) -> bool:
        """May some value be an int beyond 2**53 in magnitude (one float64 may not hold
        exactly)? False means every number in ``numbers`` is its value exactly."""
        cached = self._derived.get("wide")
        if cached is None:
            cached = self._derived["wide"] = _any_wide(self.numbers())
        return bool(cached)

    def remainders(self) -> npt.NDArray[np.int64]:
        """``x - int(float(x))`` for each int ``x`` (0 for other values): with ``numbers``,
        the exact value. Nonzero only where ``numbers`` is 2**53 or more in magnitude, so
        only those rows are read."""
        cached = self._derived.get("remainders")
        if cached is None:
            with np.errstate(invalid="ignore"):
                wide = np.flatnonzero(np.abs(self.numbers()) >= _WIDE)
            cached = np.zeros(len(self.values), np.int64)
            values = self.values
            cached[wide] = [_remainder(values[row]) for row in wide.tolist()]
            self._derived["remainders"] = cached
        return cached

    def strings(self) -> tuple[npt.NDArray[np.int32], list[str]]:
        cached = self._derived.get("strings")
        if cached is None:
            categories = sorted({v for v in self.values if isinstance(v, str)})
            rank = {text: i for i, text in enumerate(categories)}
            codes = np.fromiter(
                (rank[v] if isinstance(v, str) else -1 for v in self.values),
                np.int32,
                len(self.values),
            )
            cached = (codes, categories)
            self._derived["strings"] = cached
            self._derived["rank"] = rank
        return cached


def _restored_codes(
    packed: bytes, categories: object, n: int
) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Saved ``codes`` (``n`` little-endian int32) and ``categories``, checked."""
    codes = np.frombuffer(packed, "<i4").astype(np.int32)
    # filters index categories by code and bisect them: sorted distinct strings
    if not isinstance(categories, list) or not all(isinstance(text, str) for text in categories):
        raise TypeError("saved categories are not a list of strings")
    if any(a >= b for a, b in itertools.pairwise(categories)):
        raise ValueError("saved categories are not sorted and distinct")
    if codes.size and (int(codes.min()) < -1 or int(codes.max()) >= len(categories)):
        raise ValueError("saved codes fall outside the categories")
    if len(codes) != n:
        raise ValueError(f"saved codes hold {len(codes)} rows, not {n}")
    return codes, categories


def parse_path(field: object) -> tuple[str, ...]:
    """A dotted field name (``"a.b"``) as a path; ``InvalidArgumentError`` if malformed."""
    from vectordb.errors import InvalidArgumentError

    if not isinstance(field, str) or not field or any(not part for part in field.split(".")):
        raise InvalidArgumentError(
            f"a metadata field is a non-empty name, dotted for nested keys ('a.b'); got {field!r}"
        )
    return tuple(field.split("."))


class MetadataColumns:
    """The columns of one collection (see the module docstring)."""

    def __init__(self) -> None:
        self._columns: dict[tuple[str, ...], Column] = {}
        self._dirty: set[int] = set()
        self._all_dirty = False
        self._lock = threading.Lock()
        #: paths given to create_index: built at once, saved, kept across restarts
        self.declared: set[tuple[str, ...]] = set()
        self.changed_since_save = False

    def rows_changed(self, rows: Any) -> None:
        """Metadata of ``rows`` changed (caller holds the exclusive collection latch)."""
        self.changed_since_save = True
        if self._columns:
            if len(self._dirty) > 65_536:
                self._all_dirty = True
                self._dirty.clear()
            elif not self._all_dirty:
                self._dirty.update(int(row) for row in rows)

    def reset(self) -> None:
        with self._lock:
            self._columns.clear()
            self._dirty.clear()
            self._all_dirty = False

    def column(self, store: Any, path: tuple[str, ...]) -> Column:
        """The up-to-date column of ``path`` (caller holds the shared collection latch)."""
        with self._lock:
            n = store.n_rows
            if self._all_dirty:
                self._columns.clear()
                self._all_dirty = False
                self._dirty.clear()
            if self._dirty:
                self._refresh(store, n)
            column = self._columns.get(path)
            if column is None:
                column = Column([value_at(_decode(store, row), path) for row in range(n)])
                self._columns[path] = column
                # a filter on a field no record has (a typo) keeps its column in memory
                # only: it is neither saved nor listed until a record has the field
                if path in self.declared or _any_present(column.values):
                    self.changed_since_save = True
            elif len(column.values) < n:
                column.extend(
                    [value_at(_decode(store, row), path) for row in range(len(column.values), n)]
                )
            return column

    def declare(self, path: tuple[str, ...]) -> None:
        """Keep (and save) a column of ``path`` from now on (``create_index``)."""
        with self._lock:
            if path not in self.declared:
                self.declared.add(path)
                self.changed_since_save = True

    def paths(self) -> list[tuple[str, ...]]:
        """The paths with a column: declared ones, and those some record has."""
        with self._lock:
            return sorted(
                path
                for path, column in self._columns.items()
                if path in self.declared or _any_present(column.values)
            )

    def drop(self, path: tuple[str, ...]) -> bool:
        """Forget a path's column (and its declaration); True if there was one."""
        with self._lock:
            found = self._columns.pop(path, None) is not None or path in self.declared
            self.declared.discard(path)
            self.changed_since_save = self.changed_since_save or found
            return found

    # ----------------------------------------------------------------- persistence
    def saved_state(self, store: Any, lsn: int) -> dict[str, Any] | None:
        """Every column as of ``lsn``, for the checkpoint's ``columns.bin`` (caller holds the
        shared collection latch and the writer lock: nothing changes meanwhile); None when
        nothing changed since the last one."""
        if not self.changed_since_save:
            return None
        with self._lock:
            fields = sorted(self.declared | set(self._columns))
        for field in fields:
            self.column(store, field)  # brings every column up to date, builds declared ones
        with self._lock:
            n = store.n_rows
            self.changed_since_save = False
            values: dict[str, bytes] = {}
            arrays: dict[str, Any] = {}
            strings: dict[str, Any] = {}
            for field, column in self._columns.items():
                declared = field in self.declared
                if not declared and not _any_present(column.values[:n]):
                    continue  # no record has the field: nothing to save (see column())
                name = ".".join(field)
                if column.all_strings(n) and not declared and column.long_texts():
                    # documents, not labels: saving them would store the text a second time
                    # (the snapshot holds it); the first filter after an open reads them
                    # from the records instead. create_index() keeps such a column saved.
                    continue
                if column.all_strings(n):
                    # codes and categories are the column: each text once (a text field of
                    # distinct values would otherwise be stored twice)
                    strings[name] = column.saved_strings(n)
                    continue
                values[name] = msgpack.packb(
                    column.values[:n], use_bin_type=True, default=_pack_missing
                )
                # the arrays filters built from the values, so the first filter after an
                # open does not build them again (float64 numbers, int32 codes + categories)
                arrays[name] = column.saved_arrays(n)
            return {
                "version": COLUMNS_VERSION,
                "lsn": lsn,
                "n_rows": n,
                "declared": [".".join(field) for field in sorted(self.declared)],
                "fields": values,
                "arrays": arrays,
                "strings": strings,
            }

    def restore(self, body: dict[str, Any], lsn: int, n_rows: int) -> None:
        """Take columns saved by ``saved_state`` if they are as of ``lsn`` (the MANIFEST's
        checkpoint) over ``n_rows`` rows; declared paths are kept from any readable state.
        Raises ``CorruptionError`` for a malformed state (the caller rebuilds on use)."""
        try:
            columns = self._restored(body, lsn, n_rows)
        except (KeyError, TypeError, ValueError) as error:
            from vectordb.errors import CorruptionError

            raise CorruptionError(
                f"metadata columns (columns.bin) do not decode: {error}"
            ) from error
        if columns is None:
            self.changed_since_save = True  # an older file: the next checkpoint replaces it
            return
        with self._lock:
            self._columns = columns
            self._dirty.clear()
            self._all_dirty = False
            self.changed_since_save = False

    def _restored(
        self, body: dict[str, Any], lsn: int, n_rows: int
    ) -> dict[tuple[str, ...], Column] | None:
        """``restore``'s decoding: the columns, or None for a state as of another checkpoint
        (``KeyError`` / ``TypeError`` / ``ValueError`` for a malformed one)."""
        declared = body.get("declared", [])
        if not isinstance(declared, list):
            raise TypeError(f"declared is {declared!r:.40}, not a list")
        self.declared = {parse_path(field) for field in declared}
        version = body.get("version", 1)
        if type(version) is not int or not 1 <= version <= COLUMNS_VERSION:
            raise ValueError(f"version {version!r:.20} (this vectordb reads 1 to "
                             f"{COLUMNS_VERSION})")  # fmt: skip
        saved_lsn, saved_rows = body["lsn"], body["n_rows"]
        if type(saved_lsn) is not int or type(saved_rows) is not int:
            raise TypeError(f"lsn {saved_lsn!r:.40} / n_rows {saved_rows!r:.40} are not ints")
        if saved_lsn != lsn or saved_rows != n_rows:
            return None
        columns = {}
        fields, arrays = body["fields"], body.get("arrays", {})
        strings = body.get("strings", {}) if version >= 2 else {}
        if not all(isinstance(part, dict) for part in (fields, arrays, strings)):
            raise TypeError("fields, arrays and strings are not maps")
        for field, saved in strings.items():
            if field in fields:
                raise ValueError(f"column {field!r:.40} is saved twice")
            columns[parse_path(field)] = Column.from_strings(saved, n_rows)
        for field, packed in fields.items():
            if not isinstance(packed, bytes):
                raise TypeError(f"column {field!r:.40} is not msgpack bytes")
            try:
                values = msgpack.unpackb(packed, raw=False, ext_hook=_unpack_missing)
            except Exception as error:  # msgpack's errors, a stack too deep
                raise ValueError(f"column {field!r:.40} does not decode: {error}") from error
            if not isinstance(values, list) or len(values) != n_rows:
                raise ValueError(f"column {field!r:.40} does not hold {n_rows} rows")
            column = Column(values)
            column.restore_arrays(arrays.get(field, {}), n_rows, version)
            columns[parse_path(field)] = column
        return columns

    def _refresh(self, store: Any, n: int) -> None:
        rows = sorted(row for row in self._dirty if row < n)
        self._dirty.clear()
        decoded = {row: _decode(store, row) for row in rows}
        for path, column in self._columns.items():
            size = len(column.values)
            column.update({row: value_at(m, path) for row, m in decoded.items() if row < size})


_LONG_TEXT = 200
"""Characters per distinct string above which a column of strings is not saved."""


def _any_present(values: list[Any]) -> bool:
    return any(value is not MISSING for value in values)


def _pack_missing(value: Any) -> Any:
    if value is MISSING:
        return msgpack.ExtType(_MISSING_EXT, b"")
    raise TypeError(f"cannot store {type(value).__name__} in a metadata column")


def _unpack_missing(code: int, data: bytes) -> Any:
    if code == _MISSING_EXT:
        return MISSING
    return msgpack.ExtType(code, data)


def _decode(store: Any, row: int) -> Any:
    blob = store.metadata_bytes(row)
    if not blob:
        return None
    return msgpack.unpackb(blob, raw=False)
