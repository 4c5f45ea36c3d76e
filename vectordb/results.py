"""Values returned to users: frozen, slotted dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CollectionInfo", "Hit", "Problem", "Record"]


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """One search result.

    ``score`` is the metric's natural value: cosine similarity or inner product (higher is
    better) or euclidean distance (lower is better). ``vector`` is set only when asked for
    with ``include=("vector",)``; ``metadata`` is None when the record has none or when it
    was left out of ``include``.
    """

    id: str
    score: float
    metadata: dict[str, Any] | None = None
    vector: npt.NDArray[np.float32] | None = dataclasses.field(default=None, compare=False)


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
