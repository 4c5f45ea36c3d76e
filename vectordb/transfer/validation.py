"""RowBatch and RowChecker: the checks every imported row passes before anything is stored.

Readers turn a file's rows into ``RowBatch``es of raw values; the checker applies the rules
``Collection.add`` applies (ids, finite vectors, non-zero vectors where the metric needs
them, storable metadata) so that a whole file can be found valid before its first row is
written. Each error names where the row came from (``data.jsonl line 7``) and, when a batch
holds several bad rows, the first of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
import numpy.typing as npt

from vectordb.collection import MAX_ID_BYTES
from vectordb.config import Metric
from vectordb.errors import (
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidVectorError,
    VectorDBError,
)

if TYPE_CHECKING:
    from vectordb.collection import Collection

__all__ = [
    "NOTHING_IMPORTED",
    "RowBatch",
    "RowChecker",
    "check_flag",
    "check_non_negative_int",
    "check_positive_int",
    "describe_value",
]

NOTHING_IMPORTED = "nothing was imported"


@dataclasses.dataclass(frozen=True, slots=True)
class RowBatch:
    """Consecutive rows of a source, as read and not yet checked.

    ``vectors`` already has the collection's ``dim`` columns (readers check the shape, since
    they cannot build the matrix otherwise); ``positions`` holds each row's place in the
    source (a line number or a row index) for error messages.
    """

    ids: list[Any]
    vectors: npt.NDArray[np.float32]
    metadata: list[Any]
    positions: Sequence[int]

    def __len__(self) -> int:
        return len(self.ids)


class RowChecker:
    """Checks RowBatches against one collection's rules.

    Parameters
    ----------
    collection
        The collection the rows are for.
    describe
        Turns a row's position into the words that locate it: ``"data.jsonl line 7"``.
    """

    def __init__(self, collection: Collection, describe: Callable[[int], str]) -> None:
        self._describe = describe
        self._metric = Metric(collection.metric)
        self._normalize = collection.config.normalize
        self._pack = msgpack.Packer(use_bin_type=True, default=_storable).pack

    def check(self, batch: RowBatch) -> None:
        """Raise the error of the batch's first bad row, if it has one.

        Raises
        ------
        InvalidArgumentError, InvalidVectorError, InvalidMetadataError
            Naming the row's position and what is wrong with it.
        """
        problems = [
            problem
            for problem in (
                self._id_problem(batch),
                self._vector_problem(batch),
                self._metadata_problem(batch),
            )
            if problem is not None
        ]
        if problems:
            raise min(problems, key=lambda problem: problem[0])[1]

    def where(self, batch: RowBatch, index: int) -> str:
        """The words that locate ``batch``'s row ``index``."""
        return self._describe(batch.positions[index])

    # the three checks return (index in batch, error) for their first bad row, or None
    def _id_problem(self, batch: RowBatch) -> tuple[int, VectorDBError] | None:
        ids = batch.ids
        if not ids:
            return None
        # whole-batch checks in C first; the loop below runs only to find the bad id
        if set(map(type, ids)) == {str}:
            joined = "".join(ids)
            lengths = list(map(len, ids))
            if min(lengths) > 0 and max(lengths) <= MAX_ID_BYTES // 4 and "\x00" not in joined:
                try:
                    joined.encode("utf-8")
                    return None
                except UnicodeEncodeError:
                    pass
        for index, vector_id in enumerate(ids):
            problem = _id_problem(vector_id)
            if problem is not None:
                message = f"{self.where(batch, index)}: {problem}; {NOTHING_IMPORTED}"
                return index, InvalidArgumentError(message)
        return None

    def _vector_problem(self, batch: RowBatch) -> tuple[int, VectorDBError] | None:
        vectors = batch.vectors
        if not len(vectors):
            return None
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            return index, InvalidVectorError(
                f"{self.where(batch, index)}: vector holds NaN or infinity (or a value outside "
                f"float32's range); {NOTHING_IMPORTED}"
            )
        if self._metric is Metric.COSINE or self._normalize:
            zero = ~vectors.any(axis=1)
            if zero.any():
                index = int(np.flatnonzero(zero)[0])
                why = "cosine similarity" if self._metric is Metric.COSINE else "normalization"
                return index, InvalidVectorError(
                    f"{self.where(batch, index)}: vector is all zeros, for which {why} is "
                    f"undefined; {NOTHING_IMPORTED}"
                )
        return None

    def _metadata_problem(self, batch: RowBatch) -> tuple[int, VectorDBError] | None:
        pack = self._pack
        for index, entry in enumerate(batch.metadata):
            if entry is None:
                continue
            problem = None
            # type() first: parsed JSON gives plain dicts, and an ABC isinstance costs more
            if type(entry) is not dict and not isinstance(entry, Mapping):
                problem = f"metadata is {describe_value(entry)}; expected an object or null"
            else:
                for key in entry:
                    if type(key) is not str:
                        problem = f"metadata has key {key!r}; keys must be strings"
                        break
                else:
                    try:
                        pack(entry if type(entry) is dict else dict(entry))
                    except (TypeError, ValueError, OverflowError) as error:
                        problem = f"metadata cannot be stored: {error}"
            if problem is not None:
                message = f"{self.where(batch, index)}: {problem}; {NOTHING_IMPORTED}"
                return index, InvalidMetadataError(message)
        return None


def _id_problem(vector_id: Any) -> str | None:
    if type(vector_id) is not str:
        return f"id is {describe_value(vector_id)}; ids must be non-empty strings"
    if not vector_id:
        return "id is empty; ids must be non-empty strings"
    if "\x00" in vector_id:
        return f"id {vector_id!r} holds a NUL character"
    try:
        size = len(vector_id.encode("utf-8"))
    except UnicodeEncodeError as error:
        return f"id {vector_id!r} is not valid Unicode text ({error.reason})"
    if size > MAX_ID_BYTES:
        return f"id takes {size} bytes as UTF-8; at most {MAX_ID_BYTES} are allowed"
    return None


def describe_value(value: Any) -> str:
    """``value`` in words for an error message, the JSON way where it came from JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _storable(value: Any) -> Any:
    """msgpack's fallback for values that pandas and numpy hand over (as Collection's)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def check_positive_int(name: str, value: Any) -> None:
    """Raise InvalidArgumentError unless ``value`` is an int > 0 (bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidArgumentError(f"{name} must be a positive integer; got {value!r}")


def check_non_negative_int(name: str, value: Any) -> None:
    """Raise InvalidArgumentError unless ``value`` is an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative integer; got {value!r}")


def check_flag(name: str, value: Any) -> None:
    """Raise InvalidArgumentError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False; got {value!r}")
