"""HnswIndex: an hnswlib graph over a collection's rows (labels = rows), kept fresh in the
background by ``BackgroundIndex`` (see ``background.py`` for the delta, the indexer, the locks
and the files).

Deletes are tombstones (``mark_deleted``); a row reused by a later add overwrites its element
(hnswlib updates an existing label in place), so churn does not grow the graph. The graph file,
``hnsw-<lsn>.bin``, holds the links, labels and levels without the vectors (``graph_file.py``,
format 2): loading it takes each element's vector from the collection's rows. Files in hnswlib's
own format (format 1, written by earlier versions) still load. The xxh3 checksum is verified,
and the file checked field by field, before hnswlib sees it.

Cosine collections normalize their vectors and queries here (``graph_file.normalized``), and
hnswlib compares them in its ``ip`` space (what its ``cosine`` space does after normalizing
them itself): vectordb's normalization gives the same bits on every machine, so a graph file
without vectors is restored exactly as it was saved.
"""

from __future__ import annotations

import math
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.config import HnswConfig, Metric
from vectordb.errors import CorruptionError
from vectordb.files.io import write_file, write_with
from vectordb.index.background import BackgroundIndex
from vectordb.index.base import RowSource, SearchKnobs
from vectordb.index.graph_file import (
    GRAPH_MAGIC,
    encode_graph,
    graph_state,
    normalized,
    read_graph,
)
from vectordb.index.saved import SavedFlags

__all__ = ["GraphLinks", "HnswGraph", "HnswIndex"]

#: hnswlib's space per metric: cosine vectors and queries arrive normalized (``HnswGraph``)
_SPACES = {Metric.COSINE: "ip", Metric.DOT: "ip", Metric.EUCLIDEAN: "l2"}
_EF_LOCK = threading.Lock()


class GraphLinks:
    """A copy of an hnswlib graph's links, for the compiled filtered walk
    (``filtered_kernels.graph_search``), which hnswlib's Python binding cannot run: its only
    filter is a Python callback per visited node.

    Taken from hnswlib's own serialization (``__getstate__``: hnswlib's level-0 block holds,
    per element, ``[count | deleted flag, M0 links, vector, label]``, and the upper levels'
    link lists follow), keeping the links only, renumbered from hnswlib's element ids to rows:
    ``4 (M0 + 1) + 9`` bytes per row plus the few upper levels; the walk reads the vectors
    from the collection's own file.

    The copy is as of when it was taken. Rows the graph has inserted or re-inserted since
    are not ``covered``: a filtered search scans those exactly instead (``stale`` counts
    them; past a share of the copy, a new copy is taken). Deleted rows need nothing: the
    filter's bitmap never allows a dead row."""

    def __init__(self, graph: Any) -> None:
        state = graph.__getstate__()[0]
        count = int(state["cur_element_count"])
        element_bytes = int(state["size_data_per_element"])
        link_words = int(state["max_M0"]) + 1
        label_at = int(state["label_offset"])
        block = state["data_level0"][: count * element_bytes].reshape(count, element_bytes)
        level0 = np.ascontiguousarray(block[:, : 4 * link_words]).view(np.int32)
        raw_labels = np.ascontiguousarray(block[:, label_at : label_at + 8]).view(np.uint64)
        labels: npt.NDArray[np.int64] = raw_labels.reshape(count).astype(np.int64)
        del block, state["data_level0"]
        # renumbered by row (hnswlib's labels are rows): the walk then indexes the vectors,
        # the filter's bitmap and its visit marks by one number, with no lookup per node
        self.rows_spanned = int(labels.max()) + 1 if count else 0
        self.level0 = np.zeros((self.rows_spanned, link_words), np.int32)
        self.level0[labels, 0] = level0[:, 0]
        self.level0[labels, 1:] = _as_rows(level0[:, 1:], labels)
        levels = np.asarray(state["element_levels"][:count], np.int64)
        self.upper_stride = int(state["max_M"]) + 1
        offsets = np.zeros(count, np.int64)
        if count > 1:
            np.cumsum(levels[:-1] * self.upper_stride, out=offsets[1:])
        self.upper_offsets = np.zeros(self.rows_spanned, np.int64)
        self.upper_offsets[labels] = offsets
        self.upper = np.asarray(state["link_lists"]).view(np.int32).copy()
        if len(self.upper):
            words = self.upper.reshape(-1, self.upper_stride)
            words[:, 1:] = _as_rows(words[:, 1:], labels)
        self.entry = int(labels[int(state["enterpoint_node"])]) if count else 0
        self.max_level = int(state["max_level"]) if count else 0
        self.covered = np.zeros(self.rows_spanned, np.bool_)
        self.covered[labels] = True
        self.size = count
        self.stale = 0
        # per concurrent walk: visit marks (the last entry: the next tag) and candidate heap
        self._workspaces: list[tuple[Any, Any, Any]] = []
        self._pool_lock = threading.Lock()

    def forget(self, rows: npt.NDArray[np.int64]) -> None:
        """The graph (re)inserted ``rows``: their links here are not the graph's any more."""
        inside = rows[rows < len(self.covered)]
        self.stale += int(np.count_nonzero(self.covered[inside])) + len(rows) - len(inside)
        self.covered[inside] = False

    def outdated(self) -> bool:
        return self.stale > max(2048, self.size // 10)

    def memory_bytes(self) -> int:
        return int(self.level0.nbytes + self.upper.nbytes + self.upper_offsets.nbytes
                   + self.covered.nbytes)  # fmt: skip

    def search(
        self,
        vectors: npt.NDArray[np.float32],
        sq_norms: npt.NDArray[np.float32],
        accept: npt.NDArray[np.bool_],
        queries: npt.NDArray[np.float32],
        k: int,
        ef: int,
        metric: Metric,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Up to ``k`` rows ``accept`` allows per query, best first, with exact scores and
        the count found per query (``(q, k)`` arrays, ``NO_ROW`` / NaN past the count)."""
        from vectordb.index.flat import METRIC_CODES, NO_ROW
        from vectordb.index.jit import load_filtered_kernels

        kernels = load_filtered_kernels()
        if len(accept) < self.rows_spanned or len(vectors) < self.rows_spanned:
            # the compiled walk reads accept[row] and vectors[row] unchecked
            raise ValueError(f"the graph holds rows up to {self.rows_spanned - 1}; "
                             f"got {len(accept)} flags and {len(vectors)} vectors")  # fmt: skip
        out_rows = np.full((len(queries), k), NO_ROW, np.int64)
        out_scores = np.full((len(queries), k), np.nan, np.float64)
        out_counts = np.zeros(len(queries), np.int64)
        with self._pool_lock:
            workspace = self._workspaces.pop() if self._workspaces else None
        if workspace is None or workspace[0][-1] >= _TAG_LIMIT:
            visited = np.zeros(self.rows_spanned + 1, np.uint32)
            visited[-1] = 1
            workspace = (visited, np.empty(self.rows_spanned + 1, np.float32),
                         np.empty(self.rows_spanned + 1, np.int64))  # fmt: skip
        visited, candidate_ranks, candidate_ids = workspace
        try:
            visited[-1] = kernels.graph_search(
                self.level0, self.upper, self.upper_offsets, self.upper_stride, self.entry,
                self.max_level, vectors, sq_norms, accept,
                queries.astype(np.float64), METRIC_CODES[metric], max(ef, k), visited,
                int(visited[-1]), candidate_ranks, candidate_ids, out_rows, out_scores,
                out_counts,
            )  # fmt: skip
        finally:
            with self._pool_lock:
                self._workspaces.append(workspace)
        return out_rows, out_scores, out_counts


_TAG_LIMIT = np.uint32(2**31)


def _as_rows(links: npt.NDArray[np.int32], labels: npt.NDArray[np.int64]) -> Any:
    """hnswlib element ids -> rows (int32; unused slots past a list's count stay in range)."""
    ids = np.clip(links, 0, max(len(labels) - 1, 0))
    return labels.astype(np.int32)[ids]


_WALK_BREADTH = 4


def _unit(queries: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Queries at unit length for the ``ip`` space. Any rounding will do (a query is not
    stored), as long as a query is scaled the same way alone or in a batch: one ``np.dot``
    per query."""
    if len(queries) == 1:  # the common case, in about a microsecond
        one: npt.NDArray[np.float32] = queries * _scale(queries[0])
        return one
    scales = np.array([_scale(query) for query in queries], np.float32)
    unit: npt.NDArray[np.float32] = queries * scales[:, None]
    return unit


def _scale(query: npt.NDArray[np.float32]) -> np.float32:
    scale: np.float32 = np.float32(1.0 / (math.sqrt(float(np.dot(query, query))) + 1e-30))
    return scale


#: hnswlib's ``saveIndex`` header: offsetLevel0, max_elements, cur_element_count,
#: size_data_per_element, label_offset, offsetData (size_t), maxlevel (int), enterpoint_node
#: (tableint), maxM, maxM0, M (size_t), mult (double), ef_construction (size_t). Then each
#: element's level-0 block (``[count | deleted flag (u32), maxM0 links (u32), vector, label
#: (u64)]``), then per element ``linkListSize u32`` and its upper levels' link lists.
_GRAPH_HEADER = struct.Struct("<QQQQQQiIQQQdQ")
_NO_ENTRY = 2**32 - 1  # enterpoint_node of an empty graph (-1 as tableint)


def check_graph_file(path: Path, dim: int, rows: int) -> int:
    """Check that the graph file at ``path`` (format 2, ``graph_file.py``, or hnswlib's own
    format 1) is one hnswlib can load and search without reading outside its arrays; returns
    its element count. ``rows``: labels must be below it.

    hnswlib checks little when it loads (only that the upper-level sizes add up to the file
    size): a wrong element size, label offset, link count or link id, an entry point or a
    neighbour on a level it is not on, makes it read or write outside its buffers. The
    checksum in INDEX catches damage; this catches a file that checksums but is not what
    vectordb wrote (``CorruptionError``, and the index is rebuilt)."""
    data = _read(path)
    refuse = _refusal(path)
    if data[: len(GRAPH_MAGIC)] == GRAPH_MAGIC:
        return read_graph(data, dim, rows, refuse).size
    return _check_hnswlib_file(data, dim, rows, refuse)


def _read(path: Path) -> bytes:
    from vectordb.files.atomic import os_error

    try:
        return path.read_bytes()
    except OSError as error:
        raise os_error(error, f"read {path}") from error


def _refusal(path: Path) -> Any:
    def refuse(why: str, offset: int = 0) -> CorruptionError:
        return CorruptionError(f"graph file is not an index vectordb wrote: {why}",
                               path=path, offset=offset)  # fmt: skip

    return refuse


def _check_hnswlib_file(data: bytes, dim: int, rows: int, refuse: Any) -> int:
    """``check_graph_file`` for hnswlib's own format (format 1)."""
    if len(data) < _GRAPH_HEADER.size:
        raise refuse(f"{len(data)} bytes, shorter than the header")
    (level0_at, _capacity, count, element_bytes, label_at, vector_at, max_level, entry, max_m,
     max_m0, m, mult, ef_construction) = _GRAPH_HEADER.unpack_from(data)  # fmt: skip
    links0 = 4 + 4 * max_m0
    if not (2 <= m <= 10_000 and max_m == m and max_m0 == 2 * m and ef_construction >= m):
        raise refuse(f"M={m}, maxM={max_m}, maxM0={max_m0}, ef_construction={ef_construction}")
    if not (math.isfinite(mult) and mult > 0):
        raise refuse(f"level multiplier {mult}", 80)
    if (level0_at, vector_at, label_at, element_bytes) != (
        0, links0, links0 + 4 * dim, links0 + 4 * dim + 8
    ):  # fmt: skip
        raise refuse(f"element layout {element_bytes} bytes does not fit dim {dim}", 24)
    level0_end = _GRAPH_HEADER.size + count * element_bytes
    if count > rows or level0_end > len(data):
        raise refuse(f"{count} elements for {rows} rows in {len(data)} bytes", 16)
    if count == 0:
        if max_level != -1 or entry != _NO_ENTRY or len(data) != level0_end:
            raise refuse("an empty graph with an entry point or levels", 48)
        return 0
    block = np.frombuffer(data, np.uint8, count * element_bytes, _GRAPH_HEADER.size)
    block = block.reshape(count, element_bytes)
    words = np.ascontiguousarray(block[:, :links0]).view("<u4")
    labels = np.ascontiguousarray(block[:, label_at:]).view("<u8").reshape(count)
    if int(labels.max()) >= rows or len(np.unique(labels)) != count:
        raise refuse(f"labels repeat or reach past row {rows - 1}", _GRAPH_HEADER.size)
    _check_links(words, max_m0, count, refuse)
    # upper levels: per element a u32 size, then that many bytes of link lists (a sequential
    # walk, as hnswlib's own; the lists found are then checked all at once)
    upper_bytes = 4 + 4 * max_m
    unpack = struct.Struct("<I").unpack_from
    elements: list[int] = []
    starts: list[int] = []
    offset, end = level0_end, len(data)
    for element in range(count):
        if offset + 4 > end:
            raise refuse("upper levels cut short", offset)
        (size,) = unpack(data, offset)
        offset += 4
        if size:
            if size % upper_bytes or offset + size > end:
                raise refuse(f"upper levels of {size} bytes", offset - 4)
            elements.append(element)
            starts.append(offset)
            offset += size
    if offset != end:
        raise refuse(f"{end - offset} bytes after the last element", offset)
    levels = np.zeros(count, np.int64)
    element_levels = np.array(
        [(unpack(data, start - 4)[0]) // upper_bytes for start in starts], np.int64
    )
    levels[elements] = element_levels
    if not (entry < count and 0 <= max_level == levels[entry] and levels.max() <= max_level):
        raise refuse(f"entry point {entry} on level {max_level}", 48)
    if elements:
        upper = np.concatenate(
            [np.frombuffer(data, np.uint8, int(n) * upper_bytes, start)
             for start, n in zip(starts, element_levels.tolist())]
        ).view("<u4").reshape(-1, 1 + max_m)  # fmt: skip
        # list j of an element is its level j + 1; a neighbour there is searched on that
        # level, so it must have it
        first_list = np.cumsum(element_levels) - element_levels
        on_level = np.arange(len(upper)) - np.repeat(first_list, element_levels) + 1
        _check_links(upper, max_m, count, refuse, levels, on_level)
    return int(count)


def _check_links(
    words: Any, max_links: int, count: int, refuse: Any, levels: Any = None, on_level: Any = None
) -> None:
    """Rows of ``[count | flags, links...]``: counts within ``max_links``, links naming
    elements (that are on the row's level ``on_level[row]``, when ``levels`` is given)."""
    sizes = words[:, 0] & 0xFFFF
    if int(sizes.max()) > max_links:
        raise refuse(f"a link list of {int(sizes.max())} links, at most {max_links} fit")
    used = np.arange(max_links) < sizes[:, None]
    links = words[:, 1:][used]
    if len(links) and int(links.max()) >= count:
        raise refuse(f"a link to element {int(links.max())} of {count}")
    if levels is not None and len(links):
        link_levels = np.broadcast_to(on_level[:, None], used.shape)[used]
        if bool(np.any(levels[links] < link_levels)):
            raise refuse("a link to an element that is not on the link's level")


class HnswGraph:
    """An hnswlib index as a ``Structure``: grows itself, converts distances to scores."""

    exact_scores = True

    def __init__(self, graph: Any, metric: Metric, params: HnswConfig, threads: int) -> None:
        self.graph = graph
        self.metric = metric
        self.normalize = metric is Metric.COSINE  # in hnswlib's "ip" space: unit vectors
        self.params = params
        self.threads = threads
        self.capacity = int(graph.get_max_elements())
        self._ef = params.ef_search  # the ef last set on the hnswlib graph
        graph.set_ef(params.ef_search)
        graph.set_num_threads(threads)
        self._links: GraphLinks | None = None  # for filtered walks, copied on first use
        self._links_lock = threading.Lock()

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
        cls,
        path: Path,
        dim: int,
        metric: Metric,
        params: HnswConfig,
        threads: int,
        flags: SavedFlags,
        vectors: npt.NDArray[np.float32],
    ) -> HnswGraph:
        """Load a graph file whose checksum was verified, saved with INDEX's ``flags``
        (labels are rows, below ``flags.rows``). ``vectors``: the collection's rows as of
        the save (a format 2 file holds no vectors; a format 1 file, hnswlib's own, holds
        them and ignores these). The file is checked first (``check_graph_file``): hnswlib
        trusts every size, offset and link in it, and a bad one crashes the process."""
        import hnswlib

        data = _read(path)
        refuse = _refusal(path)
        n_present = int(np.count_nonzero(flags.present))
        try:
            if data[: len(GRAPH_MAGIC)] == GRAPH_MAGIC:
                saved = read_graph(data, dim, flags.rows, refuse)
                del data
                state = graph_state(
                    saved, vectors, flags.valid, space=_SPACES[metric],
                    normalize=metric is Metric.COSINE,
                    max_elements=max(n_present, saved.size, 1024), ef=params.ef_search,
                    threads=threads, refuse=refuse,
                )  # fmt: skip
                graph = hnswlib.Index.__new__(hnswlib.Index)
                graph.__setstate__((state,))
            else:
                count = _check_hnswlib_file(data, dim, flags.rows, refuse)
                del data
                graph = hnswlib.Index(space=_SPACES[metric], dim=dim)
                # never fewer than the file's elements: hnswlib would take its max_elements
                graph.load_index(str(path), max_elements=max(n_present, count, 1024))
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
        if self.normalize:
            vectors = normalized(np.ascontiguousarray(vectors, np.float32))
        self.graph.add_items(vectors, rows.astype(np.uint64), num_threads=threads)
        links = self._links
        if links is not None:
            links.forget(rows)

    def links(self) -> GraphLinks:
        """The graph's links for a filtered walk, copied again once too many rows changed
        since the last copy (caller holds the structure latch, shared: no insert runs)."""
        links = self._links
        if links is None or links.outdated():
            with self._links_lock:
                links = self._links
                if links is None or links.outdated():
                    links = self._links = GraphLinks(self.graph)
        return links

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
        if self.normalize:
            queries = _unit(queries)
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

    def save(
        self, path: Path, valid: npt.NDArray[np.bool_], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Write the graph file (format 2: no vectors); ``valid``: per row, the graph holds
        the row's current vector (the elements whose rows the file's checksum covers);
        ``vectors``: the collection's rows (stable meanwhile). An hnswlib whose layout
        ``encode_graph`` does not know gets its own file written (format 1)."""
        data = encode_graph(self.graph.__getstate__()[0], valid, vectors)
        if data is None:
            self.save_hnswlib(path)
        else:
            write_file(path, data)

    def save_hnswlib(self, path: Path) -> None:
        """Write hnswlib's own file (format 1, with the vectors), as earlier versions did."""
        write_with(path, self.graph.save_index)

    def memory_bytes(self) -> int:
        # hnswlib keeps a copy of each vector plus level-0 links (2*M ids) and a label per element
        per_element = int(self.graph.dim) * 4 + 2 * self.params.M * 4 + 4 + 8 + 8
        return self.capacity * per_element

    def info(self) -> dict[str, Any]:
        links = self._links
        return {
            "graph_capacity": self.capacity,
            "graph_elements": self.element_count(),
            "filter_links_bytes": 0 if links is None else links.memory_bytes(),
        }


class HnswIndex(BackgroundIndex):
    """See the module docstring. One per HNSW collection, owned by the engine's store slot."""

    kind = "hnsw"
    supports_filtered_walk = True

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

    def load_structure(self, path: Path, body: dict[str, Any], flags: SavedFlags) -> HnswGraph:
        # before log replay: the rows are as of the checkpoint the graph was saved at
        return HnswGraph.load(path, self.dim, self.metric, self.hnsw_params, self.threads,
                              flags, self.source.vectors())  # fmt: skip

    def save_structure(self, path: Path, valid: npt.NDArray[np.bool_]) -> None:
        self.structure.save(path, valid, self.source.vectors())

    def params(self) -> dict[str, Any]:
        return self.hnsw_params.to_dict()

    def walk_breadth(self, ef: int | None) -> int:
        """The candidates a filtered walk keeps for a search asking ``ef`` (None: default)."""
        return _WALK_BREADTH * (self.hnsw_params.ef_search if ef is None else ef)

    def filtered_search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        accept: npt.NDArray[np.bool_],
        allowed_rows: npt.NDArray[np.int64],
        knobs: SearchKnobs,
    ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float64]]] | None:
        """Best ``k`` of the rows ``accept`` allows (``allowed_rows`` lists the same rows) per
        query: a walk of the graph that checks ``accept`` at every node it reaches, merged
        with an exact scan of the allowed rows the graph's copy does not hold as written now
        (pending, re-inserted). None when there is no graph yet. Fewer than ``k`` per query
        only when the walk found fewer (the caller answers those queries exactly). Caller
        holds the shared collection latch."""
        from vectordb.index.flat import subset_search

        source = self.source
        n = len(accept)
        vectors = source.vectors()[:n]
        sq_norms = source.sq_norms()[:n]
        # a walk is the fallback for queries whose neighbourhood the filter excludes: it
        # must leave that neighbourhood, so it keeps 4x the usual candidates (measured on
        # clusters excluded by the filter: recall@10 0.80 with ef 64, 0.96 with 256)
        ef = self.walk_breadth(knobs.ef)
        with self.structure_latch.read():
            structure = self.structure
            if structure is None or self.structure_count == 0:
                return None
            links = structure.links()
            # rows the walk may return: allowed, in the copy of the links, and indexed as
            # written now (the graph holds no row past n_rows, but the walk reads unchecked)
            span = max(n, links.rows_spanned)
            trusted = np.zeros(span, np.bool_)
            m = min(n, links.rows_spanned)
            np.logical_and(accept[:m], links.covered[:m], out=trusted[:m])
            trusted[:m] &= self.indexed[:m]
            rows, scores, counts = links.search(source.vectors()[:span], source.sq_norms()[:span],
                                                trusted, queries, k, ef, self.metric)  # fmt: skip
        trusted = trusted[:n]
        rest = allowed_rows[~trusted[allowed_rows]]
        out_rows = [rows[i, : counts[i]] for i in range(len(queries))]
        out_scores = [scores[i, : counts[i]] for i in range(len(queries))]
        if len(rest):
            rest_rows, rest_scores = subset_search(vectors, sq_norms, ~trusted & accept, rest,
                                                   queries, k, self.metric, mode=knobs.mode,
                                                   threads=self.threads)  # fmt: skip
            higher = self.metric.higher_is_better
            for i in range(len(queries)):
                merged_rows = np.concatenate([out_rows[i], rest_rows[i]])
                merged_scores = np.concatenate([out_scores[i], rest_scores[i]])
                order = np.lexsort((merged_rows, -merged_scores if higher else merged_scores))
                out_rows[i] = merged_rows[order[:k]]
                out_scores[i] = merged_scores[order[:k]]
        return out_rows, out_scores

    def wants_rebuild(self) -> bool:
        """Once marked-deleted elements outnumber the live ones (and there are at least 1024),
        searches wade through tombstones: rebuild the graph from the live rows."""
        structure = self.structure
        if structure is None:
            return False
        tombstones: int = structure.element_count() - self.structure_count
        return tombstones >= max(1024, self.structure_count)
