"""BackgroundIndex: an approximate structure over a collection's rows, kept fresh in the background.

The structure (an HNSW graph, IVF lists, quantized codes; see ``Structure``) never stands
between a write and its visibility. A write marks its rows *pending*; every search answers from
the structure for indexed rows **plus** an exact scan of the pending rows (the delta), merged
into one top-k. A daemon thread moves pending rows into the structure in chunks sized to take
about ``_CHUNK_SECONDS`` each, so writers and searches wait at most one chunk for it. The same
mechanism is the fallback: when the saved structure is missing or damaged (or not trained yet),
every live row is pending, searches are exact, and the structure (re)builds in the background.

Locks (outermost first; the collection latch belongs to the engine, see ``locking.py``):
1. collection latch - exclusive for writers (``rows_written`` / ``rows_released``), shared for
   searches, checkpoints and the indexer (which therefore sees stable rows and ``live``).
2. ``structure_latch`` - searches hold it shared, the indexer and ``save`` exclusive (hnswlib
   allows parallel searches or parallel inserts, never both at once).

State and who may change it: ``indexed[row]`` (the structure holds the row's current vector and
may return it) and ``pending`` change under the exclusive collection latch, or under the shared
collection latch plus the exclusive structure latch (the indexer). ``in_structure[row]`` (the
structure holds an element for the row) changes under the exclusive structure latch only. Rows
rewritten after indexing stay in the structure with their old vector but ``indexed`` false, so
searches drop them; the indexer's next add overwrites them.

The structure is saved with each checkpoint and loaded at open (``saved.SavedIndex``: the
files in ``<collection>/index/``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vectordb.config import Metric
from vectordb.errors import CorruptionError
from vectordb.index.base import DEFAULT_KNOBS, RowSource, SearchKnobs
from vectordb.index.flat import NO_ROW, answer_again, exact_search, rescore
from vectordb.index.saved import SavedFlags, SavedIndex, saved_flags
from vectordb.locking import ReadWriteLatch

__all__ = ["BackgroundIndex", "Structure"]

log = logging.getLogger("vectordb.index")

_CHUNK_SECONDS = 0.02




class Structure(Protocol):
    """The approximate part of an index. Called with the structure latch held: exclusive for
    ``add`` / ``remove`` / ``save``, shared for ``search``."""

    #: scores from ``search`` are exact up to float32 rounding (no re-score needed when the
    #: answer comes from the structure alone)
    exact_scores: bool

    def add(
        self, rows: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], threads: int
    ) -> None:
        """Insert (or overwrite) the elements of ``rows``, using up to ``threads`` threads."""

    def remove(self, rows: npt.NDArray[np.int64]) -> None:
        """Drop the elements of ``rows`` (all present)."""

    def search(
        self, queries: npt.NDArray[np.float32], wanted: int, knobs: SearchKnobs
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        """``(q, w)`` rows (``NO_ROW`` pads) and natural scores, best first; None if empty."""

    def candidates(self, k: int) -> int:
        """How many candidates to fetch for a final top ``k`` (more when scores are coarse)."""

    def element_count(self) -> int:
        """Elements ever inserted and still taking space (hnswlib counts marked-deleted ones)."""

    def save(self, path: Path) -> None:
        """Write the structure file (``BackgroundIndex.save_structure`` calls it; a kind
        whose file needs more, as HNSW's does, overrides that hook)."""

    def memory_bytes(self) -> int: ...

    def info(self) -> dict[str, Any]: ...


class BackgroundIndex:
    """See the module docstring. Subclasses say how to make, load and describe the structure.
    Implements ``base.VectorIndex``."""

    kind = "?"
    supports_filtered_walk = False

    def __init__(
        self,
        directory: Path,
        dim: int,
        metric: Metric,
        source: RowSource,
        *,
        read_only: bool,
        threads: int | None = None,
    ) -> None:
        self.directory = directory
        self.saved = SavedIndex(directory, self.kind)
        self.dim = dim
        self.metric = metric
        self.source = source
        self.read_only = read_only
        self.threads = threads or max(1, min(os.cpu_count() or 1, 8))
        self.structure_latch = ReadWriteLatch()
        self.structure: Any = None
        self.structure_count = 0  # rows in the structure and not removed (sum of in_structure)
        self.structure_epoch = 0  # bumped when rebuild() swaps in a new structure
        self.indexed = np.zeros(0, np.bool_)
        self.in_structure = np.zeros(0, np.bool_)
        self.pending = np.zeros(0, np.bool_)
        self.version = np.zeros(0, np.uint32)  # bumped by every write or release of the row
        self._last_write = 0.0  # time.monotonic() of the last rows_written
        self.pending_count = 0
        self.released: list[int] = []
        self.stale_count = 0  # rows in the structure whose vector is out of date or deleted
        self.changed_since_save = False
        self.fallback_reason: str | None = None
        self.chunk = 256
        self._delta_cache: tuple[int, npt.NDArray[np.int64]] | None = None
        self._generation = 0
        self._wake = threading.Condition(threading.Lock())
        self._idle = threading.Condition(threading.Lock())
        self._rebuild_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.indexer_error: BaseException | None = None

    # ----------------------------------------------------------------- subclass hooks
    def new_structure(self, capacity: int, sample: Callable[[int], Any] | None) -> Any:
        """A fresh, empty structure for about ``capacity`` rows, or None when it cannot be made
        yet (an IVF needs enough rows to train on). ``sample(n)`` returns up to ``n`` live
        vectors, read under the shared collection latch."""
        raise NotImplementedError

    def load_structure(self, path: Path, body: dict[str, Any], flags: SavedFlags) -> Any:
        """Parse a saved structure file whose checksum was verified, saved with INDEX body
        ``body`` and its per-row ``flags``; CorruptionError if bad. Called at open, before
        the log is replayed: the collection's rows are as of the saved checkpoint."""
        raise NotImplementedError

    def save_structure(self, path: Path, valid: npt.NDArray[np.bool_]) -> None:
        """Write the structure to ``path``; ``valid``: per row, the structure holds the row's
        current vector (caller holds the exclusive structure latch)."""
        self.structure.save(path)

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Kind-specific entries of ``stats()``."""
        return {}

    def wants_rebuild(self) -> bool:
        """True when the structure should be rebuilt from scratch (e.g. an IVF whose data
        outgrew its training). Checked by the indexer between chunks."""
        return False

    # ----------------------------------------------------------------- sizing
    def _grow_masks(self, needed: int) -> None:
        if needed <= len(self.indexed):
            return
        # the indexer writes in_structure holding only the structure latch: swap the arrays
        # under it, or an update to the old array could be lost
        with self.structure_latch.write():
            self._grow_masks_locked(needed)

    def _grow_masks_locked(self, needed: int) -> None:
        if needed <= len(self.indexed):
            return
        capacity = max(needed, 2 * len(self.indexed), 1024)
        for name in ("indexed", "in_structure", "pending", "version"):
            old = getattr(self, name)
            grown = np.zeros(capacity, old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def _sample(self, n: int) -> npt.NDArray[np.float32]:
        """Up to ``n`` live vectors chosen at random (a fixed seed: builds are repeatable)."""
        source = self.source
        with source.latch.read():
            count = source.n_rows()
            rows = np.flatnonzero(source.live()[:count])
            if len(rows) > n:
                rows = np.sort(np.random.default_rng(0).choice(rows, n, replace=False))
            return np.asarray(source.vectors()[rows], np.float32)

    def _live_count(self) -> int:
        source = self.source
        return int(np.count_nonzero(source.live()[: source.n_rows()]))

    # ----------------------------------------------------------------- open
    def load(self, checkpoint_lsn: int, live: npt.NDArray[np.bool_]) -> None:
        """Load the saved structure if it matches ``checkpoint_lsn``; otherwise start empty and
        let every live row be pending (searches exact meanwhile). Caller: before log replay."""
        self._grow_masks(len(live))
        try:
            loaded = self._load_saved(checkpoint_lsn, len(live))
        except CorruptionError as error:
            self.fallback_reason = f"saved index refused: {error}; rebuilding"
            log.warning("%s", self.fallback_reason)
            loaded = None
        n = len(live)
        current = np.zeros(n, np.bool_)
        if loaded is None:
            self.structure = None  # made by the indexer (it may need rows to train on)
            self.in_structure[:] = False
        else:
            self.structure, present, valid = loaded
            self.in_structure[: len(present)] = present
            current[: len(valid)] = valid
        self.structure_count = int(np.count_nonzero(self.in_structure))
        # trusted: the structure holds the row's vector as of the checkpoint and the row is live
        self.indexed[:n] = self.in_structure[:n] & current & live
        self.stale_count = int(np.count_nonzero(self.in_structure[:n] & ~self.indexed[:n]))
        self.released = np.flatnonzero(self.in_structure[:n] & ~live).tolist()
        self.pending[:n] = live & ~self.indexed[:n]
        self.pending_count = int(np.count_nonzero(self.pending[:n]))
        self._generation += 1

    def _load_saved(self, checkpoint_lsn: int, n_rows: int) -> tuple[Any, Any, Any] | None:
        body = self.saved.read_meta()
        if body is None:
            if checkpoint_lsn > 0 and n_rows:
                self.fallback_reason = "no saved index; building it in the background"
            return None
        if body.get("kind") != self.kind or body.get("lsn") != checkpoint_lsn:
            self.fallback_reason = (
                f"saved index is a {body.get('kind')!r} for LSN {body.get('lsn')}, the "
                f"collection is a {self.kind!r} at {checkpoint_lsn}; rebuilding it in the "
                "background"
            )
            log.warning("%s", self.fallback_reason)
            return None
        if body.get("file") is None:  # saved before the structure existed (too few rows)
            return None
        path = self.saved.verified_file(body)
        flags = saved_flags(body, self.saved.meta_path)
        structure = self.load_structure(path, body, flags)
        return structure, flags.present[:n_rows], flags.valid[:n_rows]

    # ----------------------------------------------------------------- write hooks
    def rows_written(self, rows: npt.NDArray[np.int64]) -> None:
        """New vectors stored at ``rows`` (caller holds the exclusive collection latch)."""
        if len(rows) == 0:
            return
        self._grow_masks(int(rows.max()) + 1)
        rows = _as_index(rows)  # type: ignore[assignment]
        was_indexed = self.indexed[rows]
        self.stale_count += int(np.count_nonzero(self.in_structure[rows] & was_indexed))
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
        self.released.extend(rows[self.in_structure[rows]].tolist())
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
                if not worked and self.wants_rebuild():
                    self.rebuild()
                    worked = True
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
        if not (self.pending_count > 0 or self.released):
            return False
        if self.structure is None:
            # nothing to remove from a structure that does not exist; and an IVF that cannot
            # train yet has nothing to do until more rows arrive
            return self.pending_count > 0 and self._can_make_structure()
        return True

    def _can_make_structure(self) -> bool:
        return True

    def _ensure_structure(self) -> bool:
        with self._rebuild_lock:
            if self.structure is not None:
                return True
            structure = self.new_structure(max(self._live_count(), 1), self._sample)
            if structure is None:
                return False
            with self.structure_latch.write():
                self.structure = structure
                self.structure_epoch += 1
        return True

    def index_some(self) -> bool:
        """Move one chunk of pending rows into the structure; False if there was nothing to do.

        Three steps, so that writers never wait for the structure: (1) under the shared
        collection latch, pick the chunk and copy its vectors and row versions; (2) under the
        structure latch alone, insert them; (3) under both again, trust only the rows whose
        version did not change meanwhile. A row deleted or rewritten during (2) stays untrusted
        (not ``indexed``): dead, it is removed next time; rewritten, it is still pending and its
        next insert overwrites the element.
        """
        if not self._has_work() or not self._ensure_structure():
            return False
        source = self.source
        with source.latch.read(), self.structure_latch.write():
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
            epoch = self.structure_epoch
            structure = self.structure
        with self.structure_latch.write():
            if self.structure_epoch != epoch:
                return True  # rebuild() swapped the structure meanwhile: pick again
            started = time.perf_counter()
            # while writes are arriving, leave one core to the writer: add() stays at log speed
            # and the structure catches up at full speed once the writes pause
            busy = time.monotonic() - self._last_write < 0.2
            threads = self.threads - 1 if busy and self.threads > 1 else self.threads
            structure.add(rows, vectors, threads)
            elapsed = time.perf_counter() - started
            self.structure_count += len(rows) - int(np.count_nonzero(self.in_structure[rows]))
            self.in_structure[rows] = True
        with source.latch.read(), self.structure_latch.write():
            # a structure swapped in by rebuild() meanwhile may not hold these rows: trust none
            unchanged = (self.version[rows] == versions) & (self.structure_epoch == epoch)
            trusted = rows[unchanged]
            self.indexed[trusted] = True
            self.pending[trusted] = False
            self.pending_count -= len(trusted)
            changed = rows[~unchanged]
            if len(changed):
                live = source.live()
                self.released.extend(changed[~live[changed]].tolist())
            n = source.n_rows()
            self.stale_count = int(np.count_nonzero(self.in_structure[:n] & ~self.indexed[:n]))
            self._generation += 1
            self.changed_since_save = True
        # aim each chunk at _CHUNK_SECONDS: searches wait at most about that long
        per_row = elapsed / max(len(rows), 1)
        target = int(_CHUNK_SECONDS / max(per_row, 1e-7))
        self.chunk = int(min(8192, max(64, (self.chunk + target) // 2)))
        return True

    def _apply_released(self, live: npt.NDArray[np.bool_]) -> None:
        released, self.released = self.released, []
        if self.structure is None:
            return
        rows = np.fromiter(dict.fromkeys(released), np.int64, len(set(released)))
        if not len(rows):
            return
        rows = rows[self.in_structure[rows] & ~live[rows]]
        if not len(rows):
            return
        self.structure.remove(rows)
        self.in_structure[rows] = False
        self.structure_count -= len(rows)
        self.stale_count = max(0, self.stale_count - len(rows))

    def rebuild(self) -> None:
        """Build a fresh structure from the live rows and swap it in; the current one keeps
        answering meanwhile (caller: any thread, holding no latch).

        Reads the rows in chunks under the shared collection latch, inserts them into the new
        structure holding no latch at all, then swaps under the shared collection latch and the
        exclusive structure latch. Rows written or deleted during the build are caught by their
        versions: not trusted in the new structure, they are pending again and the indexer
        redoes them. Drops the removed elements an old structure carries.
        """
        with self._rebuild_lock:
            self._rebuild_locked()
        self._kick()

    def _rebuild_locked(self) -> None:
        source = self.source
        with source.latch.read():
            n = source.n_rows()
            rows = np.flatnonzero(source.live()[:n]).astype(np.int64)
        structure = self.new_structure(len(rows), self._sample)
        if structure is None:  # too few rows to build on: everything is answered exactly
            with source.latch.read(), self.structure_latch.write():
                n = source.n_rows()
                live = source.live()
                self._grow_masks_locked(n)
                self.structure = None
                self.in_structure[:] = False
                self.indexed[:] = False
                self.pending[:n] = live[:n]
                self.pending_count = int(np.count_nonzero(self.pending[:n]))
                self.released = []
                self.stale_count = 0
                self.structure_count = 0
                self.structure_epoch += 1
                self._generation += 1
                self.changed_since_save = True
            return
        versions = np.zeros(len(rows), np.uint32)
        block = 4096
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            with source.latch.read():
                vectors = source.vectors()[part]
                versions[start : start + block] = self.version[part]
            structure.add(part, vectors, self.threads)
        with source.latch.read(), self.structure_latch.write():
            n = source.n_rows()
            live = source.live()
            self._grow_masks_locked(n)
            trusted = rows[(self.version[rows] == versions) & live[rows]]
            dead = rows[~live[rows]]
            if len(dead):
                structure.remove(dead)
            self.in_structure[:] = False
            self.in_structure[rows] = True
            self.in_structure[dead] = False
            self.indexed[:] = False
            self.indexed[trusted] = True
            self.pending[:n] = live[:n] & ~self.indexed[:n]
            self.pending_count = int(np.count_nonzero(self.pending[:n]))
            self.released = []
            self.stale_count = int(np.count_nonzero(self.in_structure[:n] & ~self.indexed[:n]))
            self.structure = structure
            self.structure_count = int(np.count_nonzero(self.in_structure))
            self.structure_epoch += 1
            self._generation += 1
            self.changed_since_save = True
            self.fallback_reason = None

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Block until every pending row is in the structure (or cannot be: an IVF with too few
        rows to train on answers exactly) and no retraining is due; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # a retraining that is due (an IVF whose data outgrew its cells) is part of catching up
        while self._has_work() or self.wants_rebuild():
            if self.indexer_error is not None:
                raise self.indexer_error
            if self._thread is None:
                if not self.index_some():
                    if self.wants_rebuild():
                        self.rebuild()
                    elif not self._has_work():
                        break
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
        knobs: SearchKnobs = DEFAULT_KNOBS,
    ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float64]]]:
        """Best ``k`` live rows per query: structure hits for indexed rows merged with an exact
        scan of the pending rows. Caller holds the shared collection latch."""
        source = self.source
        n = source.n_rows()
        live = source.live()
        vectors = source.vectors()
        higher = self.metric.higher_is_better
        with self.structure_latch.read():
            structure = self.structure
            delta = self._delta_rows(n)
            found = self._structure_search(queries, k, knobs)
            # which hits to trust, decided under the same latch as the delta: the indexer may
            # mark rows indexed (and not pending) the moment the latch is free, and a row must
            # come from the structure or from the delta, never from both
            if found is None:
                graph_rows = graph_scores = keep_all = None
            else:
                graph_rows, graph_scores = found
                safe = np.where(graph_rows == NO_ROW, 0, graph_rows)
                keep_all = (graph_rows != NO_ROW) & self.indexed[safe] & live[safe]
        exact_scores = structure is not None and structure.exact_scores
        if graph_rows is not None and not len(delta) and exact_scores:
            # the common case once the indexer has caught up: the structure's answer
            assert keep_all is not None and graph_scores is not None
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
                mode=knobs.mode,
                threads=self.threads,
            )
            delta_rows = delta[local]
        out_rows, out_scores = [], []
        for position in range(len(queries)):
            rows_parts, score_parts = [], []
            if graph_rows is not None and keep_all is not None and graph_scores is not None:
                keep = keep_all[position]
                rows_parts.append(graph_rows[position][keep])
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
            # coarse (quantized) scores rank only the structure's candidates: re-scored
            # below, all of them, so keep them all; exact ones need only the best k
            width = k if exact_scores or graph_rows is None else len(rows)
            order = np.lexsort((rows, -scores if higher else scores))[:width]
            out_rows.append(rows[order])
            out_scores.append(scores[order])
        if graph_rows is not None and out_rows:
            # structure hits carry float32 or approximate scores, delta hits exact float64
            # ones: re-score the merged candidates exactly so that the two kinds compare fairly
            width = max(len(line) for line in out_rows)
            if width:
                padded = np.full((len(out_rows), width), NO_ROW, np.int64)
                for i, line in enumerate(out_rows):
                    padded[i, : len(line)] = line
                rows, scores = rescore(vectors, queries, padded, min(k, width), self.metric)
                for i, line in enumerate(out_rows):
                    keep = min(k, len(line))
                    out_rows[i] = rows[i, :keep]
                    out_scores[i] = scores[i, :keep]
        short = [i for i, line in enumerate(out_rows) if len(line) < k]
        if short:
            # the structure came back with too few valid hits (heavy deletes cut a graph up,
            # many rows are stale, an IVF probe saw small lists): answer those queries
            # exactly, so k hits come back whenever k records exist
            n_live = int(np.count_nonzero(live[:n]))
            short = [i for i in short if len(out_rows[i]) < min(k, n_live)]
            if short:
                exact = exact_search(
                    vectors[:n],
                    live[:n],
                    source.sq_norms()[:n],
                    queries[short],
                    k,
                    self.metric,
                    mode=knobs.mode,
                    threads=self.threads,
                )
                answer_again(out_rows, out_scores, short, exact)
        return out_rows, out_scores

    def filtered_search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        accept: npt.NDArray[np.bool_],
        allowed_rows: npt.NDArray[np.int64],
        knobs: SearchKnobs,
    ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float64]]] | None:
        """A search that checks the filter's bitmap inside the structure's traversal; None
        where the structure has none (the planner then over-fetches). See ``HnswIndex``."""
        return None

    def walk_breadth(self, ef: int | None) -> int:
        """The candidates a filtered walk keeps (only where ``supports_filtered_walk``)."""
        return 0

    def default_nprobe(self) -> int | None:
        """Cells an IVF search probes by default; None for other kinds, or while untrained."""
        return None

    def search_one(
        self, query: npt.NDArray[np.float32], k: int, knobs: SearchKnobs = DEFAULT_KNOBS
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """``search`` for one query (a ``(1, dim)`` array), with the fewest steps when the
        indexer has caught up and scores are exact; falls back to ``search`` otherwise."""
        structure = self.structure
        if (
            self.pending_count > 0
            or self.structure_count == 0
            or structure is None
            or not structure.exact_scores
        ):
            rows, scores = self.search(query, k, knobs)
            return rows[0], scores[0]
        latch = self.structure_latch
        latch.acquire_read()
        try:
            # the structure straight away: stale rows still in it need a wider request
            wanted = k if self.stale_count == 0 else 0
            if wanted and wanted <= self.structure_count:
                found = structure.search(query, wanted, knobs)
            else:
                found = self._structure_search(query, k, knobs)
            labels = None
            if found is not None and found[0].shape[1] >= k:
                labels = found[0][0, :k]
                # exact-score structures (HNSW) never pad with NO_ROW
                if not self.indexed[labels].all():
                    labels = None
        finally:
            latch.release_read()
        if labels is not None:
            assert found is not None
            # the structure's float32 scores (an exact float64 re-score costs more than the
            # rest of this method); equal scores in row order, as on every other path
            return _ties_by_row(labels, found[1][0, :k], self.metric.higher_is_better)
        rows, scores = self.search(query, k, knobs)
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

    def _structure_search(
        self, queries: npt.NDArray[np.float32], k: int, knobs: SearchKnobs
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        structure = self.structure
        count = self.structure_count
        if structure is None or count == 0:
            return None
        # rows rewritten or deleted since indexing are still in the structure until the
        # indexer catches up; ask for that many more so dropping them still leaves k hits
        wanted = structure.candidates(k)
        wanted = min(count, wanted + min(self.stale_count, 4 * k + 64))
        result: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None
        result = structure.search(queries, max(1, wanted), knobs)
        return result

    # ----------------------------------------------------------------- save
    def save(self, lsn: int) -> None:
        """Write the structure for checkpoint ``lsn`` (caller holds the shared collection latch
        and the writer mutex, so rows are stable)."""
        if self.read_only:
            return
        if not self.changed_since_save and self.saved.saved_at(lsn):
            return
        name: str | None = None
        data = b""
        with self.structure_latch.write():
            self._apply_released(self.source.live())
            n = self.source.n_rows()
            present = self.in_structure[:n].copy()
            # rows rewritten since they were indexed are in the structure with an old vector:
            # present, but not valid
            valid = present & self.indexed[:n]
            if self.structure is not None:
                name, data = self.saved.write_structure(
                    lsn, lambda path: self.save_structure(path, valid)
                )
            else:
                self.saved.make_directory()
            self.changed_since_save = False
        self.saved.write_meta(lsn, name, data, self.params(), present, valid)
        self.fallback_reason = None

    # ----------------------------------------------------------------- integrity
    def verify_files(self) -> list[tuple[Path, str]]:
        """Problems with the saved index files: ``(path, what)`` pairs (empty: intact, or none
        saved). Reads the files only; the index in memory is not touched."""
        return self.saved.verify()

    def stray_files(self) -> list[Path]:
        """Files in the index directory that the INDEX file does not name (left by a crash)."""
        return self.saved.stray_files()

    # ----------------------------------------------------------------- info
    def stats(self) -> dict[str, Any]:
        structure = self.structure
        return {
            "kind": self.kind,
            **self.params(),
            **({} if structure is None else structure.info()),
            **self.describe(),
            "indexed": self.structure_count,
            "pending": max(0, self.pending_count),
            "stale": self.stale_count,
            "memory_bytes": 0 if structure is None else structure.memory_bytes(),
            "fallback": self.fallback_reason,
            "indexer_error": None if self.indexer_error is None else repr(self.indexer_error),
        }

    def close(self) -> None:
        self.stop()
        self.structure = None


def _ties_by_row(
    rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], higher_is_better: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The structure's order, best first, with equal scores put in row order (as every other
    search path orders them)."""
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
