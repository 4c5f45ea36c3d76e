"""RowBatch and RowChecker: the checks every imported row passes before anything is stored.

Readers turn a file's rows into ``RowBatch``es of raw values; the checker applies the rules
``Collection.add`` applies (ids, finite vectors, non-zero vectors where the metric needs
them, storable metadata, documents of valid text within 1 MiB) so that a whole file can be
found valid before its first row is written. Each error names where the row came from
(``data.jsonl line 7``) and, when a batch holds several bad rows, the first of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from vectordb.config import Metric
from vectordb.errors import (
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidVectorError,
    VectorDBError,
)
from vectordb.inputs import (
    MAX_DOCUMENT_BYTES,
    MAX_ID_BYTES,
    MetadataEncoder,
    describe_value,
    id_problem,
    squared_norms,
    vector_problem,
)

if TYPE_CHECKING:
    from vectordb.transfer.target import TransferTarget

__all__ = [
    "NOTHING_IMPORTED",
    "RowBatch",
    "RowChecker",
    "check_flag",
    "describe_value",
]

NOTHING_IMPORTED = "nothing was imported"


@dataclasses.dataclass(frozen=True, slots=True)
class RowBatch:
    """Consecutive rows of a source, as read and not yet checked.

    ``vectors`` already has the collection's ``dim`` columns (readers check the shape, since
    they cannot build the matrix otherwise); ``positions`` holds each row's place in the
    source (a line number or a row index) for error messages. ``documents`` is None when the
    source has no documents, else one entry per row (None or ``""``: no document).
    """

    ids: list[Any]
    vectors: npt.NDArray[np.float32]
    metadata: list[Any]
    positions: Sequence[int]
    documents: list[Any] | None = None

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

    def __init__(self, collection: TransferTarget, describe: Callable[[int], str]) -> None:
        self._describe = describe
        self._metric = Metric(collection.metric)
        self._normalize = collection.config.normalize
        self._encode = MetadataEncoder().encode

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
                self._document_problem(batch),
            )
            if problem is not None
        ]
        if problems:
            raise min(problems, key=lambda problem: problem[0])[1]

    def where(self, batch: RowBatch, index: int) -> str:
        """The words that locate ``batch``'s row ``index``."""
        return self._describe(batch.positions[index])

    # the checks return (index in batch, error) for their first bad row, or None
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
            problem = id_problem(vector_id)
            if problem is not None:
                message = f"{self.where(batch, index)}: {problem}; {NOTHING_IMPORTED}"
                return index, InvalidArgumentError(message)
        return None

    def _vector_problem(self, batch: RowBatch) -> tuple[int, VectorDBError] | None:
        vectors = batch.vectors
        if not len(vectors):
            return None
        # the rules Collection applies, in the same words (inputs.vector_problem)
        if self._metric is Metric.COSINE:
            zero_undefined: str | None = "cosine similarity"
        else:
            zero_undefined = "normalization" if self._normalize else None
        problem = vector_problem(squared_norms(vectors), zero_undefined)
        if problem is None:
            return None
        index, words = problem
        return index, InvalidVectorError(
            f"{self.where(batch, index)}: vector {words}; {NOTHING_IMPORTED}"
        )

    def _metadata_problem(self, batch: RowBatch) -> tuple[int, VectorDBError] | None:
        encode = self._encode
        for index, entry in enumerate(batch.metadata):
            if entry is None:
                continue
            # type() first: parsed JSON gives plain dicts, and an ABC isinstance costs more
            if type(entry) is not dict and not isinstance(entry, Mapping):
                problem = f"metadata is {describe_value(entry)}; expected an object or null"
                message = f"{self.where(batch, index)}: {problem}; {NOTHING_IMPORTED}"
                return index, InvalidMetadataError(message)
            try:
                # the rules Collection applies, in the same words (inputs.MetadataEncoder)
                encode(entry, self._metadata_words(batch), index, f"; {NOTHING_IMPORTED}")
            except InvalidMetadataError as error:
                return index, error
        return None

    def _document_problem(self, batch: RowBatch) -> tuple[int, VectorDBError] | None:
        documents = batch.documents
        if documents is None:
            return None
        # the rules of Collection.add(documents=) (inputs.document_updates), per row
        for index, document in enumerate(documents):
            if document is None:
                continue
            if type(document) is not str:
                problem = f"document is {describe_value(document)}; expected text or null"
            else:
                try:
                    size = len(document.encode("utf-8"))
                except UnicodeEncodeError as error:
                    problem = (
                        f"document is not valid text ({error.reason} at character {error.start})"
                    )
                else:
                    if size <= MAX_DOCUMENT_BYTES:
                        continue
                    problem = (
                        f"document is {size} bytes of UTF-8, over the limit of "
                        f"{MAX_DOCUMENT_BYTES} (1 MiB)"
                    )
            message = f"{self.where(batch, index)}: {problem}; {NOTHING_IMPORTED}"
            return index, InvalidArgumentError(message)
        return None

    def _metadata_words(self, batch: RowBatch) -> Callable[[int], str]:
        return lambda index: f"{self.where(batch, index)}: metadata"


def check_flag(name: str, value: Any) -> None:
    """Raise InvalidArgumentError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False; got {value!r}")
