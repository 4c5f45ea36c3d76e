"""Values returned to users: immutable (frozen, slotted dataclasses; ``Hit`` a tuple)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CollectionInfo", "Hit", "Problem", "Record", "make_hit"]


class Hit(tuple):  # type: ignore[type-arg]
    """One search result: ``id``, ``score``, ``metadata``, ``vector``.

    ``score`` is the metric's natural value: cosine similarity or inner product (higher is
    better) or euclidean distance (lower is better). ``vector`` is set only when asked for
    with ``include=("vector",)``; ``metadata`` is None when the record has none or when it
    was left out of ``include``.

    Immutable. A tuple underneath (``id, score, metadata, vector = hit`` works) because a
    search builds k of them per query and a tuple costs a quarter of a dataclass to create.
    Equality compares ``id``, ``score`` and ``metadata``, not ``vector``.
    """

    __slots__ = ()
    __match_args__ = ("id", "score", "metadata", "vector")

    def __new__(
        cls,
        id: str,
        score: float,
        metadata: dict[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
    ) -> Hit:
        return tuple.__new__(cls, (id, score, metadata, vector))

    @property
    def id(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def score(self) -> float:
        return self[1]  # type: ignore[no-any-return]

    @property
    def metadata(self) -> dict[str, Any] | None:
        return self[2]  # type: ignore[no-any-return]

    @property
    def vector(self) -> npt.NDArray[np.float32] | None:
        return self[3]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        text = f"Hit(id={self[0]!r}, score={self[1]!r}, metadata={self[2]!r}"
        return text + (")" if self[3] is None else f", vector={self[3]!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return bool(self[0] == other[0] and self[1] == other[1] and self[2] == other[2])

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self[0], self[1]))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Hit is immutable; cannot set {name!r}")


_new_tuple = tuple.__new__


def make_hit(
    id: str,
    score: float,
    metadata: dict[str, Any] | None = None,
    vector: npt.NDArray[np.float32] | None = None,
) -> Hit:
    """``Hit(...)`` without the Python-level ``__new__`` call (the search hot path)."""
    return _new_tuple(Hit, (id, score, metadata, vector))


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """A stored record as ``get()`` returns it."""

    id: str
    vector: npt.NDArray[np.float32] = dataclasses.field(compare=False)
    metadata: dict[str, Any] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (
            self.id == other.id
            and self.metadata == other.metadata
            and np.array_equal(self.vector, other.vector)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``Database.check()``: where the damage is and what it is."""

    path: str
    offset: int | None
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionInfo:
    """Summary of a collection, as ``list_collections()`` and ``stats()`` return it."""

    name: str
    count: int
    dim: int
    metric: str
    index: str
    normalize: bool
    created_at: float
    updated_at: float
    disk_bytes: int
    memory_bytes: int
    config: dict[str, Any]
    index_info: dict[str, Any] | None = None
    """Index state (HNSW: indexed and pending rows, parameters, graph memory, fallback reason)."""
    dead_rows: int = 0
    """Rows that held deleted or replaced records: reclaimed by :meth:`Collection.compact`."""
    dead_bytes: int = 0
    """Vector bytes of ``dead_rows``."""
    problem: str | None = None
    """Why the collection cannot be used (its files are damaged), or None. An unavailable
    collection is listed with zero counts; using it raises ``CorruptionError``, and
    ``Database.check(repair=True)`` moves it to ``quarantine/``."""

    @property
    def available(self) -> bool:
        """False when the collection's files are damaged (see ``problem``)."""
        return self.problem is None
