"""The index seam: what the engine and the search layer ask of an index, with capabilities
instead of ``isinstance`` checks from above.

Every approximate index (``hnsw.HnswIndex``, ``ivf.IvfIndex``, and quantized flat collections,
which use ``IvfIndex`` without cells) is a ``background.BackgroundIndex``: a structure kept
fresh by a background thread while searches also scan the rows it has not taken in yet. The
engine creates one per collection that needs it (a flat, unquantized collection has none:
its searches are exact scans) and tells it which rows were written and released; searches
call ``search`` / ``search_one`` and, for filters, ``filtered_search`` where the index
``supports_filtered_walk``. ``RowSource`` is how an index reads the collection's rows, and
``SearchKnobs`` a query's quality settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vectordb.index.flat import SearchMode
from vectordb.locking import ReadWriteLatch

__all__ = ["DEFAULT_KNOBS", "RowSource", "SearchKnobs", "VectorIndex"]


class RowSource:
    """What the index reads from the collection: rows, live flags, squared norms (by reference:
    the arrays are replaced when the vector file grows, so they are read through callables)."""

    def __init__(self, vectors: Any, live: Any, sq_norms: Any, n_rows: Any, latch: Any) -> None:
        self.vectors = vectors
        self.live = live
        self.sq_norms = sq_norms
        self.n_rows = n_rows
        self.latch: ReadWriteLatch = latch


class SearchKnobs:
    """Per-query quality settings; ``None`` means the collection's default."""

    __slots__ = ("ef", "mode", "nprobe")

    def __init__(
        self, ef: int | None = None, nprobe: int | None = None, mode: SearchMode = "auto"
    ) -> None:
        self.ef = ef
        self.nprobe = nprobe
        self.mode = mode


DEFAULT_KNOBS = SearchKnobs()


class VectorIndex(Protocol):
    """An approximate index over one collection's rows (see the module docstring)."""

    #: "hnsw" or "ivf" (also for quantized flat collections)
    kind: str
    #: ``filtered_search`` can walk the structure checking a filter at every node
    supports_filtered_walk: bool

    def load(self, checkpoint_lsn: int, live: npt.NDArray[np.bool_]) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def rows_written(self, rows: npt.NDArray[np.int64]) -> None: ...

    def rows_released(self, rows: npt.NDArray[np.int64]) -> None: ...

    def search(
        self, queries: npt.NDArray[np.float32], k: int, knobs: SearchKnobs = ...
    ) -> tuple[Any, Any]: ...

    def search_one(
        self, query: npt.NDArray[np.float32], k: int, knobs: SearchKnobs = ...
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

    def filtered_search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        accept: npt.NDArray[np.bool_],
        allowed_rows: npt.NDArray[np.int64],
        knobs: SearchKnobs,
    ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float64]]] | None: ...

    def walk_breadth(self, ef: int | None) -> int: ...

    def default_nprobe(self) -> int | None: ...

    def save(self, lsn: int) -> None: ...

    def rebuild(self) -> None: ...

    def wait_indexed(self, timeout: float | None = None) -> bool: ...

    def verify_files(self) -> list[tuple[Path, str]]: ...

    def stray_files(self) -> list[Path]: ...

    def stats(self) -> dict[str, Any]: ...
