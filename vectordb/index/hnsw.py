"""HnswIndex: an hnswlib graph over a collection's rows (labels = rows), kept fresh in the
background by ``BackgroundIndex`` (see ``background.py`` for the delta, the indexer, the locks
and the files).

Deletes are tombstones (``mark_deleted``); a row reused by a later add overwrites its element
(hnswlib updates an existing label in place), so churn does not grow the graph. The graph file
is hnswlib's own format, named ``hnsw-<lsn>.bin``; its xxh3 checksum is verified before hnswlib
parses it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.config import HnswConfig, Metric
from vectordb.errors import CorruptionError
from vectordb.index.background import BackgroundIndex, RowSource, SearchKnobs

__all__ = ["HnswGraph", "HnswIndex"]

_SPACES = {Metric.COSINE: "cosine", Metric.DOT: "ip", Metric.EUCLIDEAN: "l2"}
_EF_LOCK = threading.Lock()


class HnswGraph:
    """An hnswlib index as a ``Structure``: grows itself, converts distances to scores."""

    exact_scores = True

    def __init__(self, graph: Any, metric: Metric, params: HnswConfig, threads: int) -> None:
        self.graph = graph
        self.metric = metric
        self.params = params
        self.threads = threads
        self.capacity = int(graph.get_max_elements())
        self._ef = params.ef_search  # the ef last set on the hnswlib graph
        graph.set_ef(params.ef_search)
        graph.set_num_threads(threads)

    @classmethod
    def empty(
        cls, dim: int, metric: Metric, params: HnswConfig, capacity: int, threads: int
    ) -> HnswGraph:
        import hnswlib

        graph = hnswlib.Index(space=_SPACES[metric], dim=dim)
        graph.init_index(
            max_elements=max(capacity, 1024),
            ef_construction=params.ef_construction,
            M=params.M,
            random_seed=100,
        )
        return cls(graph, metric, params, threads)

    @classmethod
    def load(
        cls, path: Path, dim: int, metric: Metric, params: HnswConfig, n_present: int, threads: int
    ) -> HnswGraph:
        import hnswlib

        graph = hnswlib.Index(space=_SPACES[metric], dim=dim)
        try:
            graph.load_index(str(path), max_elements=max(n_present, 1024))
        except (RuntimeError, ValueError) as error:
            raise CorruptionError(f"graph file does not load: {error}", path=path) from error
        return cls(graph, metric, params, threads)

    def add(
        self, rows: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], threads: int
    ) -> None:
        # hnswlib counts every element ever added, marked-deleted ones included
        need = int(self.graph.get_current_count()) + len(rows)
        if need > self.capacity:
            self.capacity = max(need, 2 * self.capacity)
            self.graph.resize_index(self.capacity)
        self.graph.add_items(vectors, rows.astype(np.uint64), num_threads=threads)

    def remove(self, rows: npt.NDArray[np.int64]) -> None:
        for row in rows.tolist():
            self.graph.mark_deleted(int(row))

    def candidates(self, k: int) -> int:
        return k

    def element_count(self) -> int:
        count: int = self.graph.get_current_count()
        return count

    def search(
        self, queries: npt.NDArray[np.float32], wanted: int, knobs: SearchKnobs
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        threads = 1 if len(queries) < 8 else self.threads
        want_ef = self.params.ef_search if knobs.ef is None else knobs.ef
        if self._ef != want_ef:
            # set_ef is global to the graph and costs a call: change it only when the wanted
            # ef differs. A search running meanwhile may use the other ef once (hnswlib reads
            # a plain integer): slower or more thorough, never wrong.
            with _EF_LOCK:
                self.graph.set_ef(want_ef)
                self._ef = want_ef
        # hnswlib searches with max(ef, k) candidates, so a larger k needs no larger ef
        try:
            labels, distances = self.graph.knn_query(queries, k=wanted, num_threads=threads)
        except RuntimeError:
            # hnswlib found fewer than `wanted` (a graph cut up by deletions): answer from
            # what it can return with a smaller k, and the exact path for the rest
            for smaller in (max(1, wanted // 2), max(1, wanted // 8), 1):
                try:
                    labels, distances = self.graph.knn_query(queries, k=smaller, num_threads=1)
                    break
                except RuntimeError:
                    continue
            else:
                return None
        return labels.astype(np.int64), self._natural(distances)

    def _natural(self, distances: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        if self.metric is Metric.EUCLIDEAN:
            return np.sqrt(np.maximum(distances, 0.0, dtype=np.float64))
        return np.subtract(1.0, distances, dtype=np.float64)

    def save(self, path: Path) -> None:
        self.graph.save_index(str(path))

    def memory_bytes(self) -> int:
        # hnswlib keeps a copy of each vector plus level-0 links (2*M ids) and a label per element
        per_element = int(self.graph.dim) * 4 + 2 * self.params.M * 4 + 4 + 8 + 8
        return self.capacity * per_element

    def info(self) -> dict[str, Any]:
        return {"graph_capacity": self.capacity, "graph_elements": self.element_count()}


class HnswIndex(BackgroundIndex):
    """See the module docstring. One per HNSW collection, owned by the engine's store slot."""

    kind = "hnsw"

    def __init__(
        self,
        directory: Path,
        dim: int,
        metric: Metric,
        params: HnswConfig,
        source: RowSource,
        *,
        read_only: bool,
        threads: int | None = None,
    ) -> None:
        super().__init__(directory, dim, metric, source, read_only=read_only, threads=threads)
        self.hnsw_params = params

    def new_structure(self, capacity: int, sample: Any) -> HnswGraph:
        return HnswGraph.empty(self.dim, self.metric, self.hnsw_params, capacity, self.threads)

    def load_structure(self, path: Path, body: dict[str, Any], n_present: int) -> HnswGraph:
        return HnswGraph.load(
            path, self.dim, self.metric, self.hnsw_params, n_present, self.threads
        )

    def params(self) -> dict[str, Any]:
        return self.hnsw_params.to_dict()

    def wants_rebuild(self) -> bool:
        """Once marked-deleted elements outnumber the live ones (and there are at least 1024),
        searches wade through tombstones: rebuild the graph from the live rows."""
        structure = self.structure
        if structure is None:
            return False
        tombstones: int = structure.element_count() - self.structure_count
        return tombstones >= max(1024, self.structure_count)
