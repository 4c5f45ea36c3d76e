"""Vectors / query / ids / metadata validation, shared with ``transfer/``.

``Collection`` (add, upsert, update, search and the methods built on them) and the importers
(``transfer.validation.RowChecker``: ``import_file``, ``add_dataframe``) check their input
with the functions here, so that every write path accepts and refuses the same values with the
same words. A value that passes is safe everywhere later: filters, metadata columns, msgpack,
the float32 search kernels.

Invariants of what passes:

- ids: non-empty ``str``, no NUL, valid UTF-8 of at most ``MAX_ID_BYTES`` bytes.
- vectors and queries: finite float32 rows whose squared L2 norm is at most
  ``MAX_SQUARED_NORM`` (2**125, float32's largest value / 8: see there why), non-zero where
  the metric or ``normalize=True`` needs it.
- metadata: a mapping with ``str`` keys at every depth, nesting at most ``MAX_METADATA_DEPTH``
  levels (the record's mapping is level 1), whose values are None, bool, int in msgpack's
  range ``[-2**63, 2**64)``, float other than NaN (infinities are fine), str that is valid
  UTF-8 (no lone surrogates), bytes, lists / tuples and maps of these. numpy scalars become
  the Python value (``np.int64`` -> int, ``np.float32`` -> float, ``np.bool_`` -> bool),
  numpy arrays nested lists, other mappings dicts, ``bytearray`` / ``memoryview`` bytes;
  tuples come back as lists. Sets and dates are refused, saying what to store instead.

NaN is refused because it equals no value, not even itself: no equality filter could select
it, and a record holding it would not compare equal to itself after a round trip.
"""

from __future__ import annotations

import datetime
import math
import os
import reprlib
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import msgpack
import numpy as np
import numpy.typing as npt

from vectordb.errors import (
    DimensionMismatchError,
    DuplicateIdError,
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidVectorError,
)
from vectordb.filters.parse import Expression, parse_filter
from vectordb.filters.schema import check_metadata

__all__ = [
    "MAX_ID_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_SQUARED_NORM",
    "MetadataEncoder",
    "as_matrix",
    "checked_id",
    "checked_ids",
    "checked_key_paths",
    "checked_metadata",
    "checked_query",
    "checked_update",
    "UpdateArguments",
    "checked_vectors",
    "MAX_DOCUMENT_BYTES",
    "document_blobs",
    "document_updates",
    "merged_blobs",
    "merged_metadata",
    "metadata_blobs",
    "packed_metadata",
    "non_negative_int",
    "positive_int",
    "uuid4_strings",
    "describe_value",
    "id_problem",
    "numeric_array",
    "query_problem",
    "quoted_ids",
    "squared_norms",
    "texts_to_embed",
    "texts_to_reembed",
    "vector_problem",
]

MAX_ID_BYTES = 512
#: the largest document a record may carry, in UTF-8 bytes
MAX_DOCUMENT_BYTES = 1 << 20

#: A stored vector's or a query's squared L2 norm may be at most this: 2**125, float32's
#: largest value (~2**128) / 8. The search kernels compute in float32: dot products
#: (|q.x| <= |q| |x| <= 2**125), the euclidean rank 2 q.x - |x|^2 (<= 3 * 2**125), distances
#: |q - x|^2 <= 2 (|q|^2 + |x|^2) <= 2**127 (the graph walk and hnswlib compute these
#: directly) and squared norms (<= 2**125): each stays at most half of float32's largest
#: value, which leaves room for rounding in long sums, so no score is ever +-inf or NaN.
#: float32 max / 4 would make |q - x|^2 reach float32 max itself, with nothing to spare.
MAX_SQUARED_NORM = 2.0**125
_LIMIT_WORDS = (
    "at most 2**125 (about 4.25e+37, float32's largest value / 8, so that every distance "
    "and score the float32 search kernels compute stays finite); scale the vectors down"
)
# float32 squared norms at most this are exact enough to trust; larger ones (and zero, inf,
# NaN) are computed again in float64, where no float32 value's square overflows
_TRUSTED_FLOAT32 = MAX_SQUARED_NORM / 2

#: Containers (maps and lists) nest at most this deep in one record's metadata, counting the
#: record's mapping as level 1: deep enough for any real document, shallow enough that no
#: recursive reader (msgpack, filters, JSON export, ``==``) comes near Python's recursion limit.
MAX_METADATA_DEPTH = 32

_INT_MIN = -(2**63)
_INT_END = 2**64
_F32 = np.dtype("<f4")
_NAN_WORDS = (
    "NaN is not storable: it equals no value, not even itself, so no filter could select it; "
    "store None for a missing value"
)
_KINDS = "None, bool, int, float, str, bytes, lists and maps with str keys"
_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlong = 80
_repr.maxlevel = 2


# --------------------------------------------------------------------- ids
def id_problem(vector_id: Any) -> str | None:
    """What is wrong with one id (``"id is empty; ..."``), or None if it is valid."""
    if type(vector_id) is not str:
        return f"id is {describe_value(vector_id)}; ids must be non-empty strings"
    if not vector_id:
        return "id is empty; ids must be non-empty strings"
    if "\x00" in vector_id:
        return f"id {_shown(vector_id)} holds a NUL character"
    try:
        size = len(vector_id.encode("utf-8"))
    except UnicodeEncodeError as error:
        return f"id {_shown(vector_id)} is not valid Unicode text ({error.reason})"
    if size > MAX_ID_BYTES:
        return f"id takes {size} bytes as UTF-8; at most {MAX_ID_BYTES} are allowed"
    return None


def describe_value(value: Any) -> str:
    """``value`` in words for an error message, the JSON way (ids and metadata often come
    from JSON)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, (int, float)):
        return f"the number {_shown(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------- vectors
def numeric_array(value: Any, what: str) -> npt.NDArray[Any]:
    """``value`` as a numpy array of real numbers (``InvalidVectorError`` otherwise)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise InvalidVectorError(f"{what}s cannot be read as a numeric array: {error}") from error
    if array.dtype.kind not in "fiu":
        raise InvalidVectorError(
            f"{what}s must be real numbers; got an array of dtype {array.dtype} (ragged rows, "
            "strings, booleans or complex values are not vectors)"
        )
    return array


def as_matrix(
    vectors: Any, *, dim: int, collection: str, what: str, expected: int | None
) -> npt.NDArray[np.float32]:
    """A batch (or one 1-D vector) as a C-contiguous ``(n, dim)`` float32 matrix; checks the
    shape and count, not the values (``squared_norms`` + ``vector_problem`` do). Values beyond
    float32's range become infinities, which ``vector_problem`` reports. May alias
    ``vectors``."""
    array = numeric_array(vectors, what)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise InvalidArgumentError(
            f"{what}s must be a 2-D (n, {dim}) batch or one 1-D vector; got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise InvalidArgumentError(f"empty batch: no {what}s given")
    if array.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} has dim {array.shape[1]}, collection {collection!r} expects {dim}"
        )
    if expected is not None and array.shape[0] != expected:
        raise InvalidArgumentError(f"got {array.shape[0]} {what}s for {expected} ids")
    if array.dtype == _F32 and array.flags.c_contiguous:
        return array
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(array, dtype="<f4")


def squared_norms(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Each row's squared L2 norm in float64: inf or NaN exactly when the row holds an
    infinity or NaN, zero exactly when the row is all zeros.

    float32 first (one fast pass); rows whose float32 result is zero, not finite or near the
    limit are computed again in float64, where no float32 value's square overflows or
    underflows, so every verdict ``vector_problem`` gives is the float64 one."""
    with np.errstate(over="ignore", invalid="ignore"):
        single = np.einsum("ij,ij->i", matrix, matrix)
        squared: npt.NDArray[np.float64] = single.astype(np.float64)
        doubtful = ~((squared > 0) & (squared <= _TRUSTED_FLOAT32))
    if doubtful.any():
        rows = np.flatnonzero(doubtful)
        part = matrix[rows].astype(np.float64)
        squared[rows] = np.einsum("ij,ij->i", part, part)
    return squared


def vector_problem(
    squared: npt.NDArray[np.float64], zero_undefined: str | None
) -> tuple[int, str] | None:
    """The first row whose squared norm (from ``squared_norms``) is not acceptable, and what
    is wrong with it (words that follow "vector 3" or "... line 7: vector"), or None.

    ``zero_undefined`` names what an all-zero row breaks (``"cosine similarity"``,
    ``"normalization"``), or is None where zero rows are fine."""
    # one pass in the common case: NaN fails both comparisons
    if zero_undefined is None:
        fine = bool(np.all(squared <= MAX_SQUARED_NORM))
    else:
        fine = bool(np.all((squared > 0) & (squared <= MAX_SQUARED_NORM)))
    if fine:
        return None
    for row, value in enumerate(squared.tolist()):
        problem = _norm_problem(value, zero_undefined)
        if problem is not None:
            return row, problem
    return None  # pragma: no cover - the vectorized check found a bad row


def query_problem(query: npt.NDArray[np.float32], zero_undefined: str | None) -> str | None:
    """``vector_problem`` for one 1-D query, in the fewest steps (a single float64 dot: ~2 us,
    a share of a ~30 us graph search)."""
    wide = query.astype(np.float64)
    squared = float(np.dot(wide, wide))
    if squared <= MAX_SQUARED_NORM and (squared > 0.0 or zero_undefined is None):
        return None
    return _norm_problem(squared, zero_undefined)


def _norm_problem(squared: float, zero_undefined: str | None) -> str | None:
    if not math.isfinite(squared):
        return "holds NaN or infinity (or a value outside float32's range)"
    if squared > MAX_SQUARED_NORM:
        return f"has squared L2 norm {squared:.4g}; the limit is {_LIMIT_WORDS}"
    if squared == 0.0 and zero_undefined is not None:
        return f"is all zeros, for which {zero_undefined} is undefined"
    return None


# --------------------------------------------------------------------- metadata
class MetadataEncoder:
    """Checks and packs metadata entries, one record at a time (not thread-safe: one per
    call that uses it).

    ``encode`` returns the entry as stored (numpy values converted, see the module
    docstring) and its msgpack bytes, or raises ``InvalidMetadataError`` naming the record
    (through ``describe``) and the path of the bad key or value."""

    def __init__(self) -> None:
        # no ``default=``: every value reaching msgpack has been checked and converted here
        self._pack = msgpack.Packer(use_bin_type=True).pack

    def encode(
        self,
        entry: Any,
        describe: Callable[[int], str],
        position: int,
        suffix: str = "",
    ) -> tuple[dict[str, Any] | None, bytes]:
        """``(entry as stored, its bytes)``; ``(None, b"")`` for None.

        ``describe(position)`` gives the words that name the record's metadata in a message
        (``"metadata of id 'a1'"``), and ``suffix`` ends it (``"; nothing was imported"``).
        """
        if entry is None:
            return None, b""
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise InvalidMetadataError(
                f"{describe(position)} is {_kind(entry)} ({_shown(entry)}); expected a mapping "
                f"or None{suffix}"
            )
        try:
            cleaned = _clean_map(entry, 1, None)
            try:
                return cleaned, self._pack(cleaned)
            except (TypeError, ValueError, OverflowError) as error:
                # only text that is not valid UTF-8 gets here (everything else was checked)
                path, reason = _find_bad_text(cleaned, None)
                if reason is None:
                    reason = f"msgpack cannot store it: {error}"
                raise InvalidMetadataError(path, reason) from None
        except InvalidMetadataError as problem:
            path, reason = problem.args
            where = _path_text(path)
            message = f"{describe(position)}{f' at {where}' if where else ''}"
            raise InvalidMetadataError(f"{message} cannot be stored: {reason}{suffix}") from None


# A path is None (the record's mapping) or (parent path, key or list index, is_index). The
# walkers raise InvalidMetadataError(path, reason), which ``encode`` words.
_Path = Any


def _clean_map(value: Mapping[Any, Any], depth: int, path: _Path) -> dict[str, Any]:
    if depth > MAX_METADATA_DEPTH:
        raise InvalidMetadataError(path, _too_deep())
    changes: dict[str, Any] | None = None
    for key, item in value.items():
        if type(key) is not str or "." in key:
            if not isinstance(key, str):
                raise InvalidMetadataError(
                    (path, key, False),
                    f"the key {_shown(key)} is {_kind(key)}; keys must be strings",
                )
            if "." in key:
                raise InvalidMetadataError(path, _dotted_key(key))
        # the common scalars inline: a call per value would double the cost of flat metadata
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not _INT_MIN <= item < _INT_END:
                raise InvalidMetadataError((path, key, False), _int_out_of_range(item))
            continue
        if kind is float:
            if item != item:
                raise InvalidMetadataError((path, key, False), _NAN_WORDS)
            continue
        if kind is dict:
            cleaned = _clean_map(item, depth + 1, (path, key, False))
        elif kind is list:
            cleaned = _clean_list(item, depth + 1, (path, key, False))
        else:
            cleaned = _clean(item, depth + 1, (path, key, False))
        if cleaned is not item:
            if changes is None:
                changes = {}
            changes[key] = cleaned
    if type(value) is dict and changes is None:
        return value
    result = dict(value)
    if changes is not None:
        result.update(changes)
    return result


def _clean_list(value: Any, depth: int, path: _Path) -> Any:
    if depth > MAX_METADATA_DEPTH:
        raise InvalidMetadataError(path, _too_deep())
    changes: dict[int, Any] | None = None
    for index, item in enumerate(value):
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not _INT_MIN <= item < _INT_END:
                raise InvalidMetadataError((path, index, True), _int_out_of_range(item))
            continue
        if kind is float:
            if item != item:
                raise InvalidMetadataError((path, index, True), _NAN_WORDS)
            continue
        if kind is dict:
            cleaned = _clean_map(item, depth + 1, (path, index, True))
        elif kind is list:
            cleaned = _clean_list(item, depth + 1, (path, index, True))
        else:
            cleaned = _clean(item, depth + 1, (path, index, True))
        if cleaned is not item:
            if changes is None:
                changes = {}
            changes[index] = cleaned
    if changes is None:
        return value  # a tuple stays one: msgpack writes it as an array, read back as a list
    result = list(value)
    for index, cleaned in changes.items():
        result[index] = cleaned
    return result


def _clean(value: Any, depth: int, path: _Path) -> Any:
    """``value`` (at ``depth``, the level of the container it would be) as stored."""
    kind = type(value)
    if kind is dict:
        return _clean_map(value, depth, path)
    if kind is list or kind is tuple:
        return _clean_list(value, depth, path)
    if kind is bytes or value is None:
        return value
    # subclasses of the plain kinds (np.float64 is a float, np.str_ a str, an IntEnum an
    # int) become the plain kind, as they are read back
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value < _INT_END:
            raise InvalidMetadataError(path, _int_out_of_range(value))
        return int(value)
    if isinstance(value, float):
        if value != value:
            raise InvalidMetadataError(path, _NAN_WORDS)
        return float(value)
    if isinstance(value, str):
        return str(value)  # msgpack checks that it encodes (_find_bad_text words a failure)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, np.generic):
        return _clean(_numpy_scalar(value, path), depth, path)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist(), depth, path)
    if isinstance(value, Mapping):
        return _clean_map(value, depth, path)
    if isinstance(value, (list, tuple)):
        return _clean_list(value, depth, path)
    if isinstance(value, (set, frozenset)):
        raise InvalidMetadataError(path, "sets are not storable; use a list")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()  # ISO text: what filters and a schema's date fields compare
    raise InvalidMetadataError(
        path, f"cannot store a value of type {type(value).__name__} (metadata holds {_KINDS})"
    )


def _numpy_scalar(value: np.generic, path: _Path) -> Any:
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InvalidMetadataError(path, "NaT is not storable; store None for no date")
        return str(np.datetime_as_string(value))  # ISO text, as for datetime values
    if isinstance(value, np.timedelta64):
        raise InvalidMetadataError(
            path, "durations are not storable; store a number (of seconds, say)"
        )
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)  # np.longdouble too, whose item() is itself
    item = value.item()
    if isinstance(item, np.generic):
        raise InvalidMetadataError(
            path, f"cannot store a value of type {type(value).__name__} (metadata holds {_KINDS})"
        )
    return item


def _find_bad_text(value: Any, path: _Path) -> tuple[_Path, str | None]:
    """The path of the first key or string in ``value`` (as cleaned) that is not valid
    UTF-8, and why; ``(None, None)`` if there is none."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            return path, f"the string {_shown(value)} is not valid UTF-8 text ({_why(error)})"
        return None, None
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                key.encode("utf-8")
            except UnicodeEncodeError as error:
                return (path, key, False), f"the key is not valid UTF-8 text ({_why(error)})"
            found = _find_bad_text(item, (path, key, False))
            if found[1] is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_bad_text(item, (path, index, True))
            if found[1] is not None:
                return found
    return None, None


def _why(error: UnicodeEncodeError) -> str:
    character = error.object[error.start]
    return f"{error.reason}: {character!r} at index {error.start}"


def _dotted_key(key: str) -> str:
    return (
        f"the key {_shown(key)} holds a '.': filters read a dot as a path into nested "
        f"metadata, so no filter could match this key; nest the value instead or use "
        f"another character such as '_'"
    )


def _too_deep() -> str:
    return (
        f"it nests more than {MAX_METADATA_DEPTH} levels of maps and lists deep (the record's "
        "mapping is level 1)"
    )


def _int_out_of_range(value: int) -> str:
    return (
        f"the int {_shown(value)} is out of range: metadata ints lie in [-2**63, 2**64), "
        "msgpack's 64-bit range; store larger numbers as strings or floats"
    )


def _path_text(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, part, is_index = path
        if is_index:
            parts.append(f"[{part}]")
        elif isinstance(part, str) and _plain_key(part):
            parts.append(f".{part}")
        elif isinstance(part, str):
            parts.append(f"[{_shown(part)}]")
        else:
            parts.append(f".{_shown(part)}")  # a key that is not a str: tags.1
    text = "".join(reversed(parts)).lstrip(".")
    # at most 32 levels, each part at most ~80 characters: still too long to read whole
    return text if len(text) <= 160 else f"{text[:60]}...{text[-100:]}"


def _plain_key(key: str) -> bool:
    return 0 < len(key) <= 40 and key.isprintable() and not any(c in key for c in ".[]' ")


def _kind(value: Any) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def _shown(value: Any) -> str:
    """``value``'s repr, at most ~80 characters (huge ints by their size: their repr is
    slow, and refused past 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an int of {value.bit_length()} bits>"
    try:
        return _repr.repr(value)
    except Exception:  # a hostile __repr__ must not hide the actual problem
        return f"<a {type(value).__name__}>"


def checked_vectors(
    vectors: Any,
    *,
    dim: int,
    collection: str,
    normalize: bool,
    zero_undefined: str | None,
    expected: int | None = None,
    what: str = "vector",
) -> npt.NDArray[np.float32]:
    """``vectors`` (an ``(n, dim)`` batch or one vector) as a checked float32 matrix, scaled to
    unit length with ``normalize``; ``InvalidVectorError`` names the first bad row.
    ``zero_undefined``: what an all-zero row breaks here (None: nothing). The matrix may
    alias the caller's array: it is only read during the call."""
    matrix = as_matrix(vectors, dim=dim, collection=collection, what=what, expected=expected)
    squared = squared_norms(matrix)
    problem = vector_problem(squared, zero_undefined)
    if problem is not None:
        row, words = problem
        stored = "; nothing was stored" if what == "vector" else ""
        raise InvalidVectorError(f"{what} {row} {words}{stored}")
    if normalize:
        matrix = (matrix / np.sqrt(squared)[:, None]).astype("<f4")
    return matrix


def checked_query(
    array: npt.NDArray[Any], *, dim: int, collection: str, zero_undefined: str | None
) -> npt.NDArray[np.float32]:
    """One 1-D query (already a numeric array), checked like ``checked_vectors`` checks a
    batch, as a ``(1, dim)`` float32 array: the fewest steps, since it runs per search."""
    if array.shape[0] != dim:
        raise DimensionMismatchError(
            f"query has dim {array.shape[0]}, collection {collection!r} expects {dim}"
        )
    if array.dtype != _QUERY_DTYPE or not array.flags.c_contiguous:
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.ascontiguousarray(array, dtype="<f4")
    problem = query_problem(array, zero_undefined)
    if problem is not None:
        raise InvalidVectorError(f"query 0 {problem}")
    return array[None, :]


_QUERY_DTYPE = np.dtype("<f4")


# ----------------------------------------------------------------------------- ids, metadata, ints
def checked_ids(ids: Any, expected: int | None, *, allow_repeats: bool = False) -> list[str]:
    """``ids`` (one string or a sequence of them: list, tuple, numpy array, pandas Series or
    Index; any ``str`` subclass such as ``np.str_``) as a list of valid plain-``str`` ids,
    ``expected`` of them when given; ``DuplicateIdError`` for a repeat unless
    ``allow_repeats``. Error messages quote at most ~80 characters of a bad value."""
    id_list: list[Any]
    if isinstance(ids, str):
        id_list = [str(ids)]
        batch = False
    else:
        id_list = _id_sequence(ids)
        batch = True
    if expected is not None and len(id_list) != expected:
        raise InvalidArgumentError(f"got {len(id_list)} ids for {expected} vectors")
    if not id_list:
        raise InvalidArgumentError("empty batch: no ids given")
    # whole-batch checks in C first (map/min/max/join); the per-id loops below run only to
    # name the offending id
    if set(map(type, id_list)) != {str}:
        for position, vector_id in enumerate(id_list):
            if type(vector_id) is str:
                continue
            if not isinstance(vector_id, str):
                where = f"id at position {position}" if batch else "id"
                raise InvalidArgumentError(
                    f"{where} is {_kind(vector_id)} {_shown(vector_id)}; ids must be strings"
                )
            id_list[position] = str(vector_id)  # a str subclass (np.str_): stored as str
    lengths = list(map(len, id_list))
    suspicious = min(lengths) == 0 or max(lengths) > MAX_ID_BYTES // 4 or "\x00" in "".join(id_list)
    bad = (
        [
            vector_id
            for vector_id in id_list
            if not vector_id
            or "\x00" in vector_id
            or (
                len(vector_id) > MAX_ID_BYTES // 4
                and len(vector_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES
            )
        ]
        if suspicious
        else []
    )
    if bad:
        raise InvalidArgumentError(
            f"invalid id {_shown(bad[0])}: ids must be non-empty, hold no NUL character and "
            f"take at "
            f"most {MAX_ID_BYTES} bytes as UTF-8"
        )
    try:
        "".join(id_list).encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidArgumentError(f"an id is not valid Unicode text: {error}") from error
    if not allow_repeats and len(set(id_list)) != len(id_list):
        seen: set[str] = set()
        repeated = next(i for i in id_list if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise DuplicateIdError(f"id {_shown(repeated)} appears more than once in the batch")
    return id_list


def checked_id(vector_id: Any) -> str:
    """One id (a ``str``, or a subclass such as ``np.str_``) as a valid plain ``str``."""
    if not isinstance(vector_id, str):
        hint = " (get_many takes several)" if isinstance(vector_id, (list, tuple)) else ""
        raise InvalidArgumentError(
            f"id must be a string; got {_kind(vector_id)} {_shown(vector_id)}{hint}"
        )
    return checked_ids(vector_id, None)[0]


def quoted_ids(ids: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` of ``ids`` for an error message, each at most ~80 characters."""
    return "[" + ", ".join(_shown(vector_id) for vector_id in ids[:limit]) + "]"


def _id_sequence(ids: Any) -> list[Any]:
    """The items of a batch of ids: a list, tuple or other sequence, a 1-D numpy array, or
    anything with ``tolist()`` (pandas Series and Index, pyarrow arrays)."""
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise InvalidArgumentError(
                f"ids must be one-dimensional; got an array of shape {ids.shape}"
            )
        return list(ids.tolist())
    if isinstance(ids, (Sequence, range)) and not isinstance(ids, (bytes, bytearray)):
        return list(ids)
    if not isinstance(ids, (bytes, bytearray, Mapping, set, frozenset)):
        to_list = getattr(ids, "tolist", None) or getattr(ids, "to_pylist", None)
        if callable(to_list):
            items = to_list()
            if isinstance(items, list):
                return items
    raise InvalidArgumentError(
        "ids must be a string or a sequence of strings (list, tuple, numpy array, pandas "
        f"Series); got {_kind(ids)}"
    )


def checked_metadata(
    metadata: Any, n: int, ids: Sequence[str] | None = None
) -> list[dict[str, Any] | None]:
    """``n`` metadata entries (one mapping for ``n == 1``, or a sequence of mappings or
    None), each checked by ``MetadataEncoder`` and returned as it would be stored."""
    encode = MetadataEncoder().encode
    describe = _metadata_describer(ids)
    entries = _metadata_entries(metadata, n)
    return [encode(entry, describe, position)[0] for position, entry in enumerate(entries)]


def metadata_blobs(
    metadata: Any,
    n: int,
    schema: Mapping[str, Any] | None = None,
    ids: Sequence[str] | None = None,
) -> list[bytes] | None:
    """Each entry checked and packed by ``inputs.MetadataEncoder`` (the rules every write
    path shares), then checked against the collection's schema, if it has one."""
    if metadata is None:
        if schema is not None:
            check_metadata(schema, [None] * n, ids)
        return None
    encode = MetadataEncoder().encode
    describe = _metadata_describer(ids)
    entries: list[dict[str, Any] | None] = []
    blobs: list[bytes] = []
    for position, entry in enumerate(_metadata_entries(metadata, n)):
        cleaned, blob = encode(entry, describe, position)
        entries.append(cleaned)
        blobs.append(blob)
    if schema is not None:
        check_metadata(schema, entries, ids)
    return blobs


def document_blobs(documents: Any, n: int, ids: Sequence[str] | None = None) -> list[bytes] | None:
    """``n`` documents (``str``, or None for none; one ``str`` counts for ``n == 1``) as
    UTF-8 bytes, b"" for none (an empty string is no document); None when none has text.
    ``InvalidArgumentError`` naming the record for anything else."""
    if documents is None:
        return None
    blobs = [b"" if blob is None else blob for blob in document_updates(documents, n, ids)]
    return blobs if any(blobs) else None


def document_updates(
    documents: Any, n: int, ids: Sequence[str] | None = None
) -> list[bytes | None]:
    """Like ``document_blobs``, but a None entry stays None (``update``: keep the stored
    document) and ``""`` is b"" (remove it)."""
    if isinstance(documents, str):
        if n != 1:
            raise InvalidArgumentError(
                f"documents is one string for {n} records; pass a list of {n} strings"
            )
        documents = [documents]
    elif isinstance(documents, (bytes, bytearray, Mapping)) or not isinstance(
        documents, (Sequence, np.ndarray)
    ):
        raise InvalidArgumentError(
            f"documents must be a sequence of strings (or None); got {type(documents).__name__}"
        )
    if len(documents) != n:
        raise InvalidArgumentError(f"got {len(documents)} documents for {n} records")
    blobs: list[bytes | None] = []
    for position, document in enumerate(documents):
        if document is None:
            blobs.append(None)
            continue
        where = (
            f"the document of id {ids[position]!r}"
            if ids is not None
            else f"document {position} (of record {position})"
        )
        if not isinstance(document, str):
            raise InvalidArgumentError(
                f"{where} must be a str (or None), not {type(document).__name__}; nothing was "
                "written"
            )
        try:
            blob = document.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidArgumentError(
                f"{where} is not valid text: {error.reason} at character {error.start}; "
                "nothing was written"
            ) from None
        if len(blob) > MAX_DOCUMENT_BYTES:
            raise InvalidArgumentError(
                f"{where} is {len(blob)} bytes of UTF-8, over the limit of "
                f"{MAX_DOCUMENT_BYTES} (1 MiB); split it into several records; nothing was "
                "written"
            )
        blobs.append(blob)
    return blobs


def _metadata_entries(metadata: Any, n: int) -> Sequence[Any]:
    """``metadata`` as a sequence of ``n`` entries (one mapping counts for ``n == 1``)."""
    if isinstance(metadata, Mapping):
        if n != 1:
            raise InvalidArgumentError(
                f"metadata is one mapping for {n} vectors; pass a list of {n} mappings"
            )
        return [metadata]
    if isinstance(metadata, (str, bytes)) or not isinstance(metadata, Sequence):
        raise InvalidMetadataError(
            f"metadata must be a sequence of mappings (or None); got {type(metadata).__name__}"
        )
    if len(metadata) != n:
        raise InvalidArgumentError(f"got {len(metadata)} metadata entries for {n} vectors")
    return metadata


def packed_metadata(
    entries: Sequence[dict[str, Any] | None],
    schema: Mapping[str, Any] | None = None,
    ids: Sequence[str] | None = None,
) -> list[bytes]:
    """Checked entries (``checked_metadata``) as the bytes a record stores, after the
    collection's schema, if any, accepted them."""
    if schema is not None:
        check_metadata(schema, entries, ids)
    encode = MetadataEncoder().encode
    describe = _metadata_describer(ids)
    return [encode(entry, describe, position)[1] for position, entry in enumerate(entries)]


def _metadata_describer(ids: Sequence[str] | None) -> Callable[[int], str]:
    def describe(position: int) -> str:
        if ids is None:
            return f"metadata of entry {position}"
        return f"metadata of id {ids[position]!r}"

    return describe


def checked_key_paths(keys: Any, what: str = "unset") -> list[tuple[str, ...]]:
    """Metadata keys to remove (``update(unset=...)``): strings, a dotted one naming a key
    inside nested mappings (``"a.b"``: key ``b`` of the mapping under ``a``)."""
    if isinstance(keys, str) or not isinstance(keys, (Sequence, set, frozenset)):
        raise InvalidArgumentError(
            f"{what} must be a list of metadata keys; got {describe_value(keys)}"
        )
    paths = []
    for key in keys:
        if not isinstance(key, str) or not key or "" in key.split("."):
            raise InvalidArgumentError(
                f"{what} names metadata keys as non-empty strings (dots for nested keys); "
                f"got {describe_value(key)}"
            )
        paths.append(tuple(key.split(".")))
    return paths


def merged_metadata(
    stored: dict[str, Any] | None,
    given: dict[str, Any] | None,
    unset: Sequence[tuple[str, ...]] = (),
    *,
    merge: bool = True,
) -> dict[str, Any] | None:
    """A record's metadata after ``update``: ``given``'s keys merged into ``stored`` (or,
    ``merge=False``, ``given`` in its place; a None ``given`` leaves ``stored``), then the
    ``unset`` key paths removed. ``stored`` is not changed."""
    if given is None:
        result = stored
    elif merge and stored:
        result = {**stored, **given}
    else:
        result = given
    if not unset or not result:
        return result
    result = dict(result)
    for path in unset:
        _remove_path(result, path)
    return result


def merged_blobs(
    stored: Sequence[bytes],
    given: Sequence[dict[str, Any] | None] | None,
    unset: Sequence[tuple[str, ...]],
    *,
    merge: bool,
    schema: Mapping[str, Any] | None,
    ids: Sequence[str],
) -> list[bytes]:
    """The metadata bytes after ``update`` merges ``given`` (one entry per record, or None)
    into the ``stored`` bytes and removes the ``unset`` paths, checked against ``schema``."""
    entries = []
    for position, blob in enumerate(stored):
        # strict_map_key=False: a record an older version let in with a non-string key
        # decodes, and the encoder refuses what the merge keeps of it
        old = msgpack.unpackb(blob, raw=False, strict_map_key=False) if blob else None
        new = None if given is None else given[position]
        entries.append(merged_metadata(old, new, unset, merge=merge))
    return packed_metadata(entries, schema, ids)


def _remove_path(mapping: dict[str, Any], path: tuple[str, ...]) -> None:
    """Remove ``path`` from ``mapping`` in place, copying the nested mappings it changes."""
    head = path[0]
    if len(path) == 1:
        mapping.pop(head, None)
        return
    inner = mapping.get(head)
    if isinstance(inner, dict):
        inner = dict(inner)
        _remove_path(inner, path[1:])
        mapping[head] = inner


_id_generator: np.random.Generator | None = None
_id_generator_pid = -1
_id_generator_lock = threading.Lock()


def _id_bits(n_bytes: int) -> npt.NDArray[np.uint8]:
    """Random bytes for generated ids: a PCG64 stream seeded from ``os.urandom`` once per
    process (re-seeded in a forked child). Ids need uniqueness, not secrecy, and
    ``os.urandom`` runs at tens of MB/s on some virtual machines: 5 ms per 10,000 ids."""
    global _id_generator, _id_generator_pid
    with _id_generator_lock:
        if _id_generator is None or _id_generator_pid != os.getpid():
            seed = int.from_bytes(os.urandom(32), "little")
            _id_generator = np.random.Generator(np.random.PCG64(seed))
            _id_generator_pid = os.getpid()
        return _id_generator.integers(0, 256, n_bytes, dtype=np.uint8)


def uuid4_strings(n: int) -> list[str]:
    """``n`` random uuid4 strings, built in bulk (str(uuid4()) per id costs ~1 us each)."""
    if n < 64:
        return [str(uuid.uuid4()) for _ in range(n)]
    raw = _id_bits(16 * n).reshape(n, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = hex_digits[raw >> 4]
    nibbles[:, 1::2] = hex_digits[raw & 0x0F]
    text = np.full((n, 37), ord("-"), dtype=np.uint8)
    text[:, 36] = ord("\n")
    for start, stop, source in ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20)):
        text[:, start:stop] = nibbles[:, source : source + stop - start]
    # one decode + split is C-speed; a Python-level loop over n ids is not
    return text.tobytes().decode("ascii").split("\n")[:n]


def positive_int(name: str, value: Any) -> None:
    """``InvalidArgumentError`` unless ``value`` is an int > 0 (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidArgumentError(f"{name} must be a positive integer; got {value!r}")


def non_negative_int(name: str, value: Any) -> None:
    """``InvalidArgumentError`` unless ``value`` is an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative integer; got {value!r}")


def texts_to_embed(documents: Any, what: str) -> list[str]:
    """The documents of a write without vectors, each of which must be a non-empty text
    (``InvalidArgumentError`` naming the first that is not)."""
    count = 1 if isinstance(documents, str) else len(documents) if _sized(documents) else 0
    if documents is None:
        raise InvalidArgumentError(f"{what}() needs vectors, or documents= to embed")
    blobs = document_updates(documents, count)
    missing = [position for position, blob in enumerate(blobs) if not blob]
    if missing:
        raise InvalidArgumentError(
            f"{what}() without vectors embeds every record's document; the record at "
            f"position {missing[0]} has none (give vectors= for records without text)"
        )
    return [blob.decode() for blob in blobs if blob]


def texts_to_reembed(documents: Any, count: int, collection: str) -> list[str]:
    """``update(documents=...)`` on a collection that embeds its documents: ``count`` texts,
    each non-empty (its vector is computed again)."""
    texts = [documents] * count if isinstance(documents, str) else list(documents)
    if len(texts) != count or not all(isinstance(text, str) and text for text in texts):
        raise InvalidArgumentError(
            f"collection {collection!r} embeds its documents: update(documents=...) without "
            "vectors= needs a non-empty text for every id (its vector is computed again); "
            "give vectors= too to keep or set them yourself"
        )
    return texts


def _sized(value: object) -> bool:
    return hasattr(value, "__len__")


class UpdateArguments(NamedTuple):
    """``update()``'s arguments checked: the ids (None with ``where=``), the filter's parsed
    expression (None with ids), the key paths to unset, the metadata (one mapping for
    every record, or one per id) and the new documents (per id; None keeps one)."""

    ids: list[str] | None
    expression: Expression | None
    unset: list[tuple[str, ...]]
    metadata: list[dict[str, Any] | None] | None
    documents: list[bytes | None] | None


def checked_update(
    ids: Any,
    where: Mapping[str, Any] | None,
    *,
    vectors: Any,
    metadata: Any,
    unset: Sequence[str] | None,
    documents: Any,
) -> UpdateArguments:
    """``update()``'s arguments but its vectors, checked (``InvalidArgumentError`` for a
    wrong mix, ``InvalidFilterError`` for a bad filter); nothing is read or written."""
    if (ids is None) == (where is None):
        raise InvalidArgumentError("update() takes ids or where=, exactly one of them")
    if vectors is None and metadata is None and not unset and documents is None:
        raise InvalidArgumentError(
            "update() needs vectors=, metadata=, unset=, documents= or a mix"
        )
    if where is not None and (vectors is not None or documents is not None):
        raise InvalidArgumentError(
            "update(where=...) changes metadata only: vectors and documents belong to given ids"
        )
    paths = [] if unset is None else checked_key_paths(unset)
    expression = None if where is None else parse_filter(where)
    id_list = None if ids is None else checked_ids(ids, None)
    given: list[dict[str, Any] | None] | None = None
    if metadata is not None:
        one = isinstance(metadata, Mapping)
        count = 1 if one or id_list is None else len(id_list)
        given = checked_metadata(metadata, count, None if one else id_list)
    texts = None
    if documents is not None:
        assert id_list is not None
        texts = document_updates(documents, len(id_list), id_list)
    return UpdateArguments(id_list, expression, paths, given, texts)
