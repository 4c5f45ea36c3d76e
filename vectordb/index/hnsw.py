"""HnswIndex: an hnswlib graph over a collection's rows, kept fresh by a background indexer.

The graph never stands between a write and its visibility. A write marks its rows *pending*;
every search answers from the graph for indexed rows **plus** an exact scan of the pending rows
(the delta), merged into one top-k. A daemon thread moves pending rows into the graph in
chunks sized to take about ``_CHUNK_SECONDS`` each, so writers and searches wait at most one
chunk for it. The same mechanism is the fallback: when the saved graph is missing or damaged,
every live row is pending, searches are exact, and the graph rebuilds in the background.

Locks (outermost first; the collection latch belongs to the engine, see ``locking.py``):
1. collection latch - exclusive for writers (``rows_written`` / ``rows_released``), shared for
   searches, checkpoints and the indexer (which therefore sees stable rows and ``live``).
2. ``graph_latch`` - hnswlib allows parallel searches or parallel inserts, never both at
   once: searches hold it shared, the indexer and ``save`` exclusive.

State and who may change it: ``indexed[row]`` (the graph holds the row's current vector and
may return it) and ``pending`` change under the exclusive collection latch, or under the
shared collection latch plus the exclusive graph latch (the indexer). ``in_graph[row]`` (the
label exists in hnswlib and is not marked deleted) changes under the exclusive graph latch only.
Rows rewritten after indexing stay in the graph with their old vector but ``indexed`` false, so
searches drop them; the indexer's next add overwrites them (hnswlib updates an existing label).

Files in ``<collection>/index/``: ``hnsw-<lsn:012d>.bin`` (hnswlib's own format) and ``INDEX``
(header ``VDB-IDX``, then body length, xxh3-64 of the body, and a msgpack body: ``kind``, ``lsn``,
``file``, ``file_size``, ``file_checksum`` = xxh3-64 of the graph file, ``params``, ``present``
= one byte per row of ``in_graph``, ``valid`` = one byte per row: present and holding the row's
current vector). The graph file's checksum is verified before hnswlib reads
it, so a damaged file is refused instead of crashing the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash

from vectordb.config import HnswConfig, Metric
from vectordb.errors import CorruptionError
from vectordb.index.flat import NO_ROW, exact_search, rescore
from vectordb.locking import ReadWriteLatch
from vectordb.storage.atomic import fsync_dir, os_error
from vectordb.storage.checksummed import read_checksummed_map, write_checksummed_map

__all__ = ["HnswIndex"]

log = logging.getLogger("vectordb.index")

INDEX_MAGIC = b"VDB-IDX\x00"
_CHUNK_SECONDS = 0.02
_SPACES = {Metric.COSINE: "cosine", Metric.DOT: "ip", Metric.EUCLIDEAN: "l2"}


class RowSource:
    """What the index reads from the collection: rows, live flags, squared norms (by reference:
    the arrays are replaced when the vector file grows, so they are read through callables)."""

    def __init__(self, vectors: Any, live: Any, sq_norms: Any, n_rows: Any, latch: Any) -> None:
        self.vectors = vectors
        self.live = live
        self.sq_norms = sq_norms
        self.n_rows = n_rows
        self.latch: ReadWriteLatch = latch


class HnswIndex:
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
        import hnswlib

        self._hnswlib = hnswlib
        self.directory = directory
        self.dim = dim
        self.metric = metric
        self.params = params
        self.source = source
        self.read_only = read_only
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.graph_latch = ReadWriteLatch()
        self.graph: Any = None
        self.graph_capacity = 0
        self.graph_count = 0  # rows in the graph and not marked deleted (sum of in_graph)
        self._graph_ef = params.ef_search  # the ef last set on the hnswlib graph
        self.graph_epoch = 0  # bumped when rebuild() swaps in a new graph
        self.rebuilding = False
        self.indexed = np.zeros(0, np.bool_)
        self.in_graph = np.zeros(0, np.bool_)
        self.pending = np.zeros(0, np.bool_)
        self.version = np.zeros(0, np.uint32)  # bumped by every write or release of the row
        self._last_write = 0.0  # time.monotonic() of the last rows_written
        self.pending_count = 0
        self.released: list[int] = []
        self.stale_count = 0  # rows in the graph whose vector is out of date or deleted
        self.changed_since_save = False
        self.fallback_reason: str | None = None
        self.chunk = 256
        self._delta_cache: tuple[int, npt.NDArray[np.int64]] | None = None
        self._generation = 0
        self._wake = threading.Condition(threading.Lock())
        self._idle = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.indexer_error: BaseException | None = None

    # ----------------------------------------------------------------- sizing
    def _grow_masks(self, needed: int) -> None:
        if needed <= len(self.indexed):
            return
        # the indexer writes in_graph holding only the graph latch: swap the arrays under it,
        # or an update to the old array could be lost
        with self.graph_latch.write():
            self._grow_masks_locked(needed)

    def _grow_masks_locked(self, needed: int) -> None:
        if needed <= len(self.indexed):
            return
        capacity = max(needed, 2 * len(self.indexed), 1024)
        for name in ("indexed", "in_graph", "pending", "version"):
            old = getattr(self, name)
            grown = np.zeros(capacity, old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def _new_graph(self, capacity: int) -> Any:
        graph = self._hnswlib.Index(space=_SPACES[self.metric], dim=self.dim)
        graph.init_index(
            max_elements=max(capacity, 1024),
            ef_construction=self.params.ef_construction,
            M=self.params.M,
            random_seed=100,
        )
        graph.set_ef(self.params.ef_search)
        graph.set_num_threads(self.threads)
        return graph

    # ----------------------------------------------------------------- open
    def load(self, checkpoint_lsn: int, live: npt.NDArray[np.bool_]) -> None:
        """Load the saved graph if it matches ``checkpoint_lsn``; otherwise start empty and let
        every live row be pending (searches exact meanwhile). Caller: before log replay."""
        self._grow_masks(len(live))
        try:
            loaded = self._load_saved(checkpoint_lsn, len(live))
        except CorruptionError as error:
            self.fallback_reason = f"saved graph refused: {error}; rebuilding"
            log.warning("%s", self.fallback_reason)
            loaded = None
        n = len(live)
        current = np.zeros(n, np.bool_)
        if loaded is None:
            self.graph = self._new_graph(int(live.sum()))
            self.graph_capacity = self.graph.get_max_elements()
            self.in_graph[:] = False
        else:
            self.graph, present, valid = loaded
            self.graph_capacity = self.graph.get_max_elements()
            self.in_graph[: len(present)] = present
            current[: len(valid)] = valid
        self.graph_count = int(np.count_nonzero(self.in_graph))
        # trusted: the graph holds the row's vector as of the checkpoint and the row is live
        self.indexed[:n] = self.in_graph[:n] & current & live
        self.stale_count = int(np.count_nonzero(self.in_graph[:n] & ~self.indexed[:n]))
        self.released = np.flatnonzero(self.in_graph[:n] & ~live).tolist()
        self.pending[:n] = live & ~self.indexed[:n]
        self.pending_count = int(np.count_nonzero(self.pending[:n]))
        self._generation += 1

    def _load_saved(self, checkpoint_lsn: int, n_rows: int) -> tuple[Any, Any, Any] | None:
        meta_path = self.directory / "INDEX"
        if not meta_path.exists():
            if checkpoint_lsn > 0 and n_rows:
                self.fallback_reason = "no saved graph; building it in the background"
            return None
        body = _read_meta(meta_path)
        if body.get("kind") != self.kind or body.get("lsn") != checkpoint_lsn:
            self.fallback_reason = (
                f"saved graph is for LSN {body.get('lsn')}, the collection is at "
                f"{checkpoint_lsn}; rebuilding it in the background"
            )
            log.warning("%s", self.fallback_reason)
            return None
        graph_path = self.directory / str(body["file"])
        try:
            data = graph_path.read_bytes()
        except FileNotFoundError as error:
            raise CorruptionError(
                "graph file named by INDEX is missing", path=graph_path
            ) from error
        except OSError as error:
            raise os_error(error, f"read {graph_path}") from error
        if (
            len(data) != body["file_size"]
            or xxhash.xxh3_64_intdigest(data) != body["file_checksum"]
        ):
            raise CorruptionError("graph file fails its checksum", path=graph_path, offset=0)
        present = np.frombuffer(body["present"], dtype=np.uint8).astype(np.bool_)
        valid = np.frombuffer(body["valid"], dtype=np.uint8).astype(np.bool_) & present
        graph = self._hnswlib.Index(space=_SPACES[self.metric], dim=self.dim)
        try:
            graph.load_index(str(graph_path), max_elements=max(int(present.sum()), 1024))
        except (RuntimeError, ValueError) as error:
            raise CorruptionError(f"graph file does not load: {error}", path=graph_path) from error
        graph.set_ef(self.params.ef_search)
        graph.set_num_threads(self.threads)
        return graph, present[:n_rows], valid[:n_rows]

    # ----------------------------------------------------------------- write hooks
    def rows_written(self, rows: npt.NDArray[np.int64]) -> None:
        """New vectors stored at ``rows`` (caller holds the exclusive collection latch)."""
        if len(rows) == 0:
            return
        self._grow_masks(int(rows.max()) + 1)
        rows = _as_index(rows)  # type: ignore[assignment]
        was_indexed = self.indexed[rows]
        self.stale_count += int(np.count_nonzero(self.in_graph[rows] & was_indexed))
        self.indexed[rows] = False
        newly = ~self.pending[rows]
        self.pending[rows] = True
        self.pending_count += int(np.count_nonzero(newly))
        self.version[rows] += 1
        self._generation += 1
        self.changed_since_save = True
        self._last_write = time.monotonic()
        self._kick()

    def rows_released(self, rows: npt.NDArray[np.int64]) -> None:
        """The records at ``rows`` were deleted or replaced (exclusive collection latch)."""
        if len(rows) == 0:
            return
        self._grow_masks(int(rows.max()) + 1)
        self.stale_count += int(np.count_nonzero(self.indexed[rows]))
        self.indexed[rows] = False
        was_pending = self.pending[rows]
        self.pending_count -= int(np.count_nonzero(was_pending))
        self.pending[rows] = False
        self.version[rows] += 1
        self.released.extend(rows[self.in_graph[rows]].tolist())
        self._generation += 1
        self.changed_since_save = True
        self._kick()

    # ----------------------------------------------------------------- indexer
    def start(self) -> None:
        """Start the background indexer (idempotent; read-only handles index too, in memory)."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=f"vectordb-indexer-{self.directory.parent.name}", daemon=True
        )
        self._thread.start()

    def _kick(self) -> None:
        with self._wake:
            self._wake.notify()

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._kick()
        thread.join()
        self._thread = None

    def _run(self) -> None:
        while not self._stopping:
            try:
                worked = self.index_some()
            except BaseException as error:  # keep searches exact rather than die silently
                self.indexer_error = error
                log.exception("background indexer stopped; searches stay exact")
                return
            if not worked:
                with self._idle:
                    self._idle.notify_all()
                with self._wake:
                    if self._should_sleep():
                        self._wake.wait(0.5)

    def _should_sleep(self) -> bool:
        return not self._stopping and not self._has_work()

    def _has_work(self) -> bool:
        return self.pending_count > 0 or bool(self.released)

    def index_some(self) -> bool:
        """Move one chunk of pending rows into the graph; False if there was nothing to do.

        Three steps, so that writers never wait for hnswlib: (1) under the shared collection
        latch, pick the chunk and copy its vectors and row versions; (2) under the graph latch
        alone, insert them; (3) under both again, trust only the rows whose version did not
        change meanwhile. A row deleted or rewritten during (2) stays untrusted (not
        ``indexed``): dead, it is marked deleted next time; rewritten, it is still pending and
        its next insert overwrites the element.
        """
        if not self._has_work():
            return False
        source = self.source
        with source.latch.read(), self.graph_latch.write():
            if not self._has_work():
                return False
            n = source.n_rows()
            self._apply_released(source.live())
            candidates = np.flatnonzero(self.pending[:n])
            if len(candidates) == 0:
                self.pending_count = 0
                return True
            rows = candidates[: self.chunk]
            vectors = source.vectors()[rows]  # fancy indexing copies
            versions = self.version[rows].copy()
            epoch = self.graph_epoch
        with self.graph_latch.write():
            # hnswlib counts every element ever added, marked-deleted ones included
            need = int(self.graph.get_current_count()) + len(rows)
            if need > self.graph_capacity:
                self.graph_capacity = max(need, 2 * self.graph_capacity)
                self.graph.resize_index(self.graph_capacity)
            # while writes are arriving, leave one core to the writer: add() stays at log speed
            # and the graph catches up at full speed once the writes pause
            busy = time.monotonic() - self._last_write < 0.2
            threads = self.threads - 1 if busy and self.threads > 1 else self.threads
            started = time.perf_counter()
            self.graph.add_items(vectors, rows.astype(np.uint64), num_threads=threads)
            elapsed = time.perf_counter() - started
            self.graph_count += len(rows) - int(np.count_nonzero(self.in_graph[rows]))
            self.in_graph[rows] = True
        with source.latch.read(), self.graph_latch.write():
            # a graph swapped in by rebuild() meanwhile may not hold these rows: trust none
            unchanged = (self.version[rows] == versions) & (self.graph_epoch == epoch)
            trusted = rows[unchanged]
            self.indexed[trusted] = True
            self.pending[trusted] = False
            self.pending_count -= len(trusted)
            changed = rows[~unchanged]
            if len(changed):
                live = source.live()
                self.released.extend(changed[~live[changed]].tolist())
            n = source.n_rows()
            self.stale_count = int(np.count_nonzero(self.in_graph[:n] & ~self.indexed[:n]))
            self._generation += 1
            self.changed_since_save = True
        # aim each chunk at _CHUNK_SECONDS: searches wait at most about that long
        per_row = elapsed / max(len(rows), 1)
        target = int(_CHUNK_SECONDS / max(per_row, 1e-7))
        self.chunk = int(min(8192, max(64, (self.chunk + target) // 2)))
        return True

    def _apply_released(self, live: npt.NDArray[np.bool_]) -> None:
        released, self.released = self.released, []
        for row in dict.fromkeys(released):
            if self.in_graph[row] and not live[row]:
                self.graph.mark_deleted(int(row))
                self.in_graph[row] = False
                self.graph_count -= 1
                self.stale_count = max(0, self.stale_count - 1)

    def rebuild(self) -> None:
        """Build a fresh graph from the live rows and swap it in; the current graph keeps
        answering meanwhile (caller: any thread, holding no latch).

        Reads the rows in chunks under the shared collection latch, inserts them into the new
        graph holding no latch at all, then swaps under the shared collection latch and the
        exclusive graph latch. Rows written or deleted during the build are caught by their
        versions: not trusted in the new graph, they are pending again and the indexer
        redoes them. Drops the marked-deleted elements an old graph carries.
        """
        source = self.source
        with source.latch.read():
            n = source.n_rows()
            rows = np.flatnonzero(source.live()[:n]).astype(np.int64)
        graph = self._new_graph(len(rows))
        versions = np.zeros(len(rows), np.uint32)
        block = 4096
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            with source.latch.read():
                vectors = source.vectors()[part]
                versions[start : start + block] = self.version[part]
            graph.add_items(vectors, part.astype(np.uint64), num_threads=self.threads)
        with source.latch.read(), self.graph_latch.write():
            n = source.n_rows()
            live = source.live()
            self._grow_masks_locked(n)
            trusted = rows[(self.version[rows] == versions) & live[rows]]
            dead = rows[~live[rows]]
            for row in dead.tolist():
                graph.mark_deleted(row)
            self.in_graph[:] = False
            self.in_graph[rows] = True
            self.in_graph[dead] = False
            self.indexed[:] = False
            self.indexed[trusted] = True
            self.pending[:n] = live[:n] & ~self.indexed[:n]
            self.pending_count = int(np.count_nonzero(self.pending[:n]))
            self.released = []
            self.stale_count = int(np.count_nonzero(self.in_graph[:n] & ~self.indexed[:n]))
            self.graph = graph
            self.graph_capacity = graph.get_max_elements()
            self.graph_count = int(np.count_nonzero(self.in_graph))
            self._graph_ef = self.params.ef_search
            self.graph_epoch += 1
            self._generation += 1
            self.changed_since_save = True
            self.fallback_reason = None
        self._kick()

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Block until every pending row is in the graph; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._has_work():
            if self.indexer_error is not None:
                raise self.indexer_error
            if self._thread is None:
                self.index_some()
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._kick()
            with self._idle:
                self._idle.wait(0.05 if remaining is None else min(0.05, remaining))
        return True

    # ----------------------------------------------------------------- search
    def search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        *,
        ef: int | None = None,
    ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float64]]]:
        """Best ``k`` live rows per query: graph hits for indexed rows merged with an exact scan
        of the pending rows. Caller holds the shared collection latch."""
        source = self.source
        n = source.n_rows()
        live = source.live()
        vectors = source.vectors()
        higher = self.metric.higher_is_better
        with self.graph_latch.read():
            delta = self._delta_rows(n)
            graph_rows, graph_scores = self._graph_search(queries, k, ef, self.graph_count)
            # which graph hits to trust, decided under the same latch as the delta: the
            # indexer may mark rows indexed (and not pending) the moment the latch is free,
            # and a row must come from the graph or from the delta, never from both
            keep_all = None if graph_rows is None else self.indexed[graph_rows] & live[graph_rows]
        if graph_rows is not None and not len(delta):
            # the common case once the indexer has caught up: hnswlib's answer, best first
            assert keep_all is not None
            if graph_rows.shape[1] >= k and bool(keep_all[:, :k].all()):
                pairs = [
                    _ties_by_row(graph_rows[i, :k], graph_scores[i, :k], higher)
                    for i in range(len(queries))
                ]
                return [rows for rows, _ in pairs], [scores for _, scores in pairs]
        delta_rows = delta_scores = None
        if len(delta):
            local, delta_scores = exact_search(
                vectors[delta],
                np.ones(len(delta), np.bool_),
                source.sq_norms()[delta],
                queries,
                k,
                self.metric,
            )
            delta_rows = delta[local]
        out_rows, out_scores = [], []
        for position in range(len(queries)):
            rows_parts, score_parts = [], []
            if graph_rows is not None and keep_all is not None:
                line = graph_rows[position]
                keep = keep_all[position]
                rows_parts.append(line[keep])
                score_parts.append(graph_scores[position][keep])
            if delta_rows is not None and delta_scores is not None:
                rows_parts.append(delta_rows[position])
                score_parts.append(delta_scores[position])
            if not rows_parts:
                out_rows.append(np.zeros(0, np.int64))
                out_scores.append(np.zeros(0, np.float64))
                continue
            rows = np.concatenate(rows_parts)
            scores = np.concatenate(score_parts)
            order = np.lexsort((rows, -scores if higher else scores))[:k]
            out_rows.append(rows[order])
            out_scores.append(scores[order])
        if graph_rows is not None and out_rows:
            # graph hits carry hnswlib's float32 distances, delta hits exact float64 scores:
            # re-score the merged top k exactly so that the two kinds compare fairly
            width = max(len(line) for line in out_rows)
            if width:
                padded = np.full((len(out_rows), width), NO_ROW, np.int64)
                for i, line in enumerate(out_rows):
                    padded[i, : len(line)] = line
                rows, scores = rescore(vectors, queries, padded, width, self.metric)
                for i, line in enumerate(out_rows):
                    out_rows[i] = rows[i, : len(line)]
                    out_scores[i] = scores[i, : len(line)]
        short = [i for i, line in enumerate(out_rows) if len(line) < k]
        if short:
            # the graph came back with too few valid hits (heavy deletes cut it up, or many
            # rows are stale): answer those queries exactly, so k hits come back whenever k
            # records exist
            n_live = int(np.count_nonzero(live[:n]))
            short = [i for i in short if len(out_rows[i]) < min(k, n_live)]
            if short:
                exact_rows, exact_scores = exact_search(
                    vectors[:n], live[:n], source.sq_norms()[:n], queries[short], k, self.metric
                )
                for position, i in enumerate(short):
                    out_rows[i] = exact_rows[position]
                    out_scores[i] = exact_scores[position]
        return out_rows, out_scores

    def search_one(
        self, query: npt.NDArray[np.float32], k: int, ef: int | None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """``search`` for one query (a ``(1, dim)`` array), with the fewest steps when the
        indexer has caught up; falls back to ``search`` otherwise."""
        if self.pending_count > 0 or self.graph_count == 0:
            rows, scores = self.search(query, k, ef=ef)
            return rows[0], scores[0]
        latch = self.graph_latch
        latch.acquire_read()
        try:
            labels, natural = self._graph_search(query, k, ef, self.graph_count)
            trusted = labels is not None and len(labels[0]) >= k
            trusted = trusted and bool(self.indexed[labels[0, :k]].all())
        finally:
            latch.release_read()
        if trusted:
            # hnswlib's float32 scores (an exact float64 re-score costs more than the rest of
            # this method); equal scores in row order, as on every other path
            return _ties_by_row(labels[0, :k], natural[0, :k], self.metric.higher_is_better)
        rows, scores = self.search(query, k, ef=ef)
        return rows[0], scores[0]

    def _delta_rows(self, n: int) -> npt.NDArray[np.int64]:
        if self.pending_count <= 0:
            return np.zeros(0, np.int64)
        cached = self._delta_cache
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        rows = np.flatnonzero(self.pending[:n]).astype(np.int64)
        self._delta_cache = (self._generation, rows)
        return rows

    def _graph_search(
        self, queries: npt.NDArray[np.float32], k: int, ef: int | None, graph_count: int
    ) -> tuple[Any, Any]:
        if graph_count == 0:
            return None, None
        # rows rewritten or deleted since indexing are still in the graph until the indexer
        # catches up; ask for that many more so dropping them still leaves k hits (hnswlib
        # searches with max(ef, k) candidates, so a larger k needs no larger ef)
        wanted = min(graph_count, k + min(self.stale_count, 4 * k + 64))
        threads = 1 if len(queries) < 8 else self.threads
        want_ef = self.params.ef_search if ef is None else ef
        if self._graph_ef != want_ef:
            # set_ef is global to the graph and costs a call: change it only when the wanted
            # ef differs. A search running meanwhile may use the other ef once (hnswlib reads
            # a plain integer): slower or more thorough, never wrong.
            with _EF_LOCK:
                self.graph.set_ef(want_ef)
                self._graph_ef = want_ef
        try:
            labels, distances = self.graph.knn_query(queries, k=wanted, num_threads=threads)
        except RuntimeError:
            # hnswlib found fewer than `wanted` (a graph cut up by deletions): answer from
            # what it can return with a smaller k, and the delta path for the rest
            return self._graph_search_small(queries, k)
        return labels.astype(np.int64), self._natural(distances)

    def _graph_search_small(self, queries: Any, k: int) -> tuple[Any, Any]:
        for wanted in (k, max(1, k // 2), 1):
            try:
                labels, distances = self.graph.knn_query(queries, k=wanted, num_threads=1)
            except RuntimeError:
                continue
            return labels.astype(np.int64), self._natural(distances)
        return None, None

    def _natural(self, distances: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        if self.metric is Metric.EUCLIDEAN:
            return np.sqrt(np.maximum(distances, 0.0, dtype=np.float64))
        return np.subtract(1.0, distances, dtype=np.float64)

    # ----------------------------------------------------------------- save
    def save(self, lsn: int) -> None:
        """Write the graph for checkpoint ``lsn`` (caller holds the shared collection latch and
        the writer mutex, so rows are stable)."""
        if self.read_only:
            return
        if not self.changed_since_save and (self.directory / "INDEX").exists():
            body = _read_meta(self.directory / "INDEX")
            if body.get("lsn") == lsn:
                return
        with self.graph_latch.write():
            self._apply_released(self.source.live())
            self.directory.mkdir(exist_ok=True)
            name = f"hnsw-{lsn:012d}.bin"
            path = self.directory / name
            try:
                self.graph.save_index(str(path))
                data = path.read_bytes()
                with open(path, "rb+") as handle:
                    os.fsync(handle.fileno())
            except (OSError, RuntimeError) as error:
                raise os_error(OSError(str(error)), f"save graph {path}") from error
            n = self.source.n_rows()
            present = self.in_graph[:n].astype(np.uint8).tobytes()
            # rows rewritten since they were indexed are in the graph with an old vector:
            # present, but not valid
            valid = (self.in_graph[:n] & self.indexed[:n]).astype(np.uint8).tobytes()
            self.changed_since_save = False
        write_checksummed_map(
            self.directory / "INDEX",
            INDEX_MAGIC,
            {
                "kind": self.kind,
                "lsn": lsn,
                "file": name,
                "file_size": len(data),
                "file_checksum": xxhash.xxh3_64_intdigest(data),
                "params": self.params.to_dict(),
                "present": present,
                "valid": valid,
            },
        )
        fsync_dir(self.directory)
        for entry in self.directory.iterdir():
            if entry.name.startswith("hnsw-") and entry.name != name:
                with contextlib.suppress(OSError):
                    entry.unlink()
        self.fallback_reason = None

    # ----------------------------------------------------------------- info
    def stats(self) -> dict[str, Any]:
        in_graph = self.graph_count
        # hnswlib keeps a copy of each vector plus level-0 links (2*M ids) and a label per element
        per_element = self.dim * 4 + 2 * self.params.M * 4 + 4 + 8 + 8
        return {
            "kind": self.kind,
            "M": self.params.M,
            "ef_construction": self.params.ef_construction,
            "ef_search": self.params.ef_search,
            "indexed": in_graph,
            "pending": max(0, self.pending_count),
            "stale": self.stale_count,
            "graph_capacity": self.graph_capacity,
            "memory_bytes": self.graph_capacity * per_element,
            "fallback": self.fallback_reason,
            "indexer_error": None if self.indexer_error is None else repr(self.indexer_error),
        }

    def close(self) -> None:
        self.stop()
        self.graph = None


_EF_LOCK = threading.Lock()


def _ties_by_row(
    rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], higher_is_better: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """hnswlib's order, best first, with equal scores put in row order (as every other search
    path orders them)."""
    if len(scores) < 2 or not bool((scores[1:] == scores[:-1]).any()):
        return rows, scores
    order = np.lexsort((rows, -scores if higher_is_better else scores))
    return rows[order], scores[order]


def _as_index(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | slice:
    """``rows`` as a slice when it is one ascending run (the common append): numpy reads and
    writes a slice several times faster than the same positions given as an array."""
    first = int(rows[0])
    last = int(rows[-1])
    if last - first + 1 == len(rows) and (len(rows) == 1 or bool(np.all(np.diff(rows) == 1))):
        return slice(first, last + 1)
    return rows


def _read_meta(path: Path) -> dict[str, Any]:
    return read_checksummed_map(path, INDEX_MAGIC, "index metadata (INDEX)")
