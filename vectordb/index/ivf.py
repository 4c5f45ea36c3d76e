"""IVF and quantized flat indexes: vectors (or their codes) grouped in cells, scanned by numba.

``CellLists`` is the ``Structure`` (see ``background.py``): k-means centroids (none for a flat
scan: one cell holds everything) and an *arena* holding every entry's code, rank bias and row,
each cell a contiguous run of it. A cell that outgrows its run moves to the end of the arena
with twice the room; the arena is compacted when moved-out space passes half of it. A removal
moves the cell's last entry into the hole, so cells stay dense.

A search ranks the ``nprobe`` cells nearest the query (all of them for a flat scan), scans their
entries with the codec's kernel into a top-``candidates(k)`` heap, and hands the candidates to
``BackgroundIndex``, which re-scores them exactly from the stored float32 vectors: with
``nprobe = nlist`` an unquantized IVF returns exactly what brute force returns.

Cosine collections store and search unit vectors (cosine is then a dot product); euclidean
ranks by ``2 q.v - |v|^2`` (the codec's bias holds ``-|v|^2``).

Training: the first structure is made once ``train_after`` rows exist (earlier searches are
exact); ``nlist`` defaults to ``4 * sqrt(rows)`` capped at ``rows / 39`` (FAISS's advice of at
least 39 training points per cell). When the live rows grow past ``retrain_growth`` times the
rows it was trained on, or new rows land twice as far from their cells as the training rows did
(drift), the indexer rebuilds the structure from scratch in the background.

File: ``ivf-<lsn>.bin`` or ``flat-<lsn>.bin``, an uncompressed ``.npz`` read with
``allow_pickle=False`` after its checksum is verified (``background.py``).
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.config import IvfConfig, Metric, QuantizationConfig
from vectordb.errors import CorruptionError
from vectordb.files.atomic import os_error
from vectordb.files.io import write_file
from vectordb.index import jit
from vectordb.index.background import BackgroundIndex
from vectordb.index.base import RowSource, SearchKnobs
from vectordb.index.jit import NO_ROW
from vectordb.index.kmeans import assign, kmeans
from vectordb.index.quantization import Codec, codec_class, codec_from_state, make_codec
from vectordb.index.saved import SavedFlags

__all__ = ["CellLists", "IvfIndex"]

_FLOAT_MARGIN = 16  # extra candidates of an unquantized scan (float32 rank vs exact)
_MIN_POINTS_PER_CELL = 39
_FLAT_TRAIN_AFTER = 32  # rows before a quantized flat scan trains (retrained at 8x)

def default_nlist(rows: int) -> int:
    by_sqrt = round(4 * math.sqrt(max(rows, 1)))
    return int(max(1, min(65_536, by_sqrt, rows // _MIN_POINTS_PER_CELL)))


def default_nprobe(nlist: int) -> int:
    return min(nlist, max(8, -(-nlist // 16)))


class CellLists:
    """See the module docstring. Methods run under the index's structure latch."""

    exact_scores = False

    def __init__(
        self,
        dim: int,
        metric: Metric,
        codec: Codec,
        centroids: npt.NDArray[np.float32] | None,
        *,
        nprobe: int | None,
        rescore: int | None,
        trained_on: int,
        threads: int,
    ) -> None:
        self.dim = dim
        self.metric = metric
        self.l2 = metric is Metric.EUCLIDEAN
        self.codec = codec
        self.centroids = centroids
        self.nlist = 1 if centroids is None else len(centroids)
        self.nprobe = nprobe
        self.rescore = rescore
        self.trained_on = trained_on
        self.threads = threads
        self._centroid_half_sq = (
            None if centroids is None else 0.5 * np.einsum("ij,ij->i", centroids, centroids)
        )
        self.list_start = np.zeros(self.nlist, np.int64)
        self.list_size = np.zeros(self.nlist, np.int64)
        self.list_room = np.zeros(self.nlist, np.int64)
        self.used = 0  # arena entries handed out to cells (live, free room and moved-out runs)
        self.garbage = 0  # entries of runs that cells moved out of
        self.codes = np.zeros((0, codec.width), codec.dtype)
        self.bias = np.zeros(0, np.float32)
        self.rows = np.zeros(0, np.int64)
        self.entry_of_row = np.full(0, -1, np.int64)
        self.list_of_row = np.full(0, -1, np.int64)
        # drift: mean squared distance of rows to their cell, at training and since
        self.training_distance = 0.0
        self.added_distance_sum = 0.0
        self.added_count = 0

    # ----------------------------------------------------------------- building
    @classmethod
    def train(
        cls,
        dim: int,
        metric: Metric,
        quantization: QuantizationConfig | None,
        ivf: IvfConfig | None,
        sample: npt.NDArray[np.float32],
        live_rows: int,
        threads: int,
    ) -> CellLists:
        """Train the cells (``ivf`` given) and the codec on ``sample``; empty lists."""
        kind = None if quantization is None else quantization.kind
        codec = make_codec(kind, dim, None if quantization is None else quantization.pq_m(dim))
        prepared = _unit_rows(sample) if metric is Metric.COSINE else sample
        centroids = None
        if ivf is not None:
            nlist = ivf.nlist or default_nlist(live_rows)
            nlist = max(1, min(nlist, len(prepared)))
            centroids = kmeans(prepared, nlist, seed=0)
        if codec.needs_training:
            codec.train(prepared)
        lists = cls(
            dim,
            metric,
            codec,
            centroids,
            nprobe=None if ivf is None else ivf.nprobe,
            rescore=None if quantization is None else quantization.rescore_factor,
            trained_on=live_rows,
            threads=threads,
        )
        if centroids is not None:
            _labels, distances = assign(prepared, centroids)
            lists.training_distance = float(distances.mean()) if len(distances) else 0.0
        return lists

    def _grow_rows(self, needed: int) -> None:
        if needed <= len(self.entry_of_row):
            return
        capacity = max(needed, 2 * len(self.entry_of_row), 1024)
        for name in ("entry_of_row", "list_of_row"):
            old = getattr(self, name)
            grown = np.full(capacity, -1, np.int64)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def _grow_arena(self, needed: int) -> None:
        if needed <= len(self.rows):
            return
        capacity = max(needed, 2 * len(self.rows), 1024)
        codes = np.zeros((capacity, self.codec.width), self.codec.dtype)
        codes[: self.used] = self.codes[: self.used]
        bias = np.zeros(capacity, np.float32)
        bias[: self.used] = self.bias[: self.used]
        rows = np.full(capacity, -1, np.int64)
        rows[: self.used] = self.rows[: self.used]
        self.codes, self.bias, self.rows = codes, bias, rows

    def _compact(self, extra: npt.NDArray[np.int64]) -> None:
        """Lay the cells out again back to back, each with room for ``extra[cell]`` more plus
        a quarter of its size."""
        room = self.list_size + extra + self.list_size // 4 + 4
        starts = np.concatenate([[0], np.cumsum(room)[:-1]]).astype(np.int64)
        total = int(room.sum())
        capacity = max(total, 1024)
        codes = np.zeros((capacity, self.codec.width), self.codec.dtype)
        bias = np.zeros(capacity, np.float32)
        rows = np.full(capacity, -1, np.int64)
        for cell in np.flatnonzero(self.list_size).tolist():
            size = int(self.list_size[cell])
            old = int(self.list_start[cell])
            new = int(starts[cell])
            codes[new : new + size] = self.codes[old : old + size]
            bias[new : new + size] = self.bias[old : old + size]
            rows[new : new + size] = self.rows[old : old + size]
        self.codes, self.bias, self.rows = codes, bias, rows
        self.list_start = starts
        self.list_room = room.astype(np.int64)
        self.used = total
        self.garbage = 0
        live = rows[:total] >= 0
        self.entry_of_row[rows[:total][live]] = np.flatnonzero(live)

    def cells_of(self, prepared: npt.NDArray[np.float32]) -> tuple[Any, Any]:
        if self.centroids is None:
            return np.zeros(len(prepared), np.int64), np.zeros(len(prepared), np.float32)
        return assign(prepared, self.centroids)

    def add(
        self, rows: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], threads: int = 1
    ) -> None:
        rows = np.asarray(rows, np.int64)
        self._grow_rows(int(rows.max()) + 1 if len(rows) else 0)
        present = rows[self.entry_of_row[rows] >= 0]
        if len(present):
            self.remove(present)
        prepared = _unit_rows(vectors) if self.metric is Metric.COSINE else vectors
        prepared = np.ascontiguousarray(prepared, np.float32)
        cells, distances = self.cells_of(prepared)
        if self.centroids is not None and len(distances):
            self.added_distance_sum += float(distances.sum())
            self.added_count += len(distances)
        codes = self.codec.encode(prepared)
        bias = self.codec.bias(codes, self.l2)
        order = np.argsort(cells, kind="stable")
        cells_sorted = cells[order]
        unique, first, counts = np.unique(cells_sorted, return_index=True, return_counts=True)
        over = self.list_size[unique] + counts > self.list_room[unique]
        if over.any():
            moving = unique[over]
            need = np.maximum(2 * (self.list_size[moving] + counts[over]), 16)
            moved_out = int(self.list_room[moving].sum())
            if self.garbage + moved_out > max(self.used, 4096) // 2:
                extra = np.zeros(self.nlist, np.int64)
                extra[unique] = counts
                self._compact(extra)
            else:
                self._grow_arena(self.used + int(need.sum()))
                for cell, room in zip(moving.tolist(), need.tolist()):
                    old, size = int(self.list_start[cell]), int(self.list_size[cell])
                    new = self.used
                    self.codes[new : new + size] = self.codes[old : old + size]
                    self.bias[new : new + size] = self.bias[old : old + size]
                    self.rows[new : new + size] = self.rows[old : old + size]
                    self.rows[old : old + size] = -1
                    self.entry_of_row[self.rows[new : new + size]] = np.arange(new, new + size)
                    self.list_start[cell] = new
                    self.list_room[cell] = room
                    self.used += room
                self.garbage += moved_out
        for cell, begin, count in zip(unique.tolist(), first.tolist(), counts.tolist()):
            pick = order[begin : begin + count]
            at = int(self.list_start[cell] + self.list_size[cell])
            self.codes[at : at + count] = codes[pick]
            self.bias[at : at + count] = bias[pick]
            self.rows[at : at + count] = rows[pick]
            self.entry_of_row[rows[pick]] = np.arange(at, at + count)
            self.list_of_row[rows[pick]] = cell
            self.list_size[cell] += count

    def remove(self, rows: npt.NDArray[np.int64]) -> None:
        rows = np.asarray(rows, np.int64)
        rows = rows[rows < len(self.entry_of_row)]
        jit.load_scan_kernels().remove_entries(
            rows,
            self.entry_of_row,
            self.list_of_row,
            self.list_start,
            self.list_size,
            self.codes,
            self.bias,
            self.rows,
        )

    # ----------------------------------------------------------------- search
    @property
    def default_nprobe(self) -> int:
        """Cells a search probes when it names no ``nprobe``."""
        return self.nprobe or default_nprobe(self.nlist)

    def candidates(self, k: int) -> int:
        if self.rescore is None:
            return k + _FLOAT_MARGIN
        return k * self.rescore

    def element_count(self) -> int:
        return int(self.list_size.sum())

    def probes(self, prepared: npt.NDArray[np.float32], nprobe: int) -> npt.NDArray[np.int64]:
        """``(q, nprobe)`` cells to scan per query, nearest first."""
        if self.centroids is None:
            return np.zeros((len(prepared), 1), np.int64)
        assert self._centroid_half_sq is not None
        with np.errstate(over="ignore", invalid="ignore"):  # vectors an older version took
            scores = prepared @ self.centroids.T
            if self.metric is not Metric.DOT:
                scores -= self._centroid_half_sq  # euclidean nearness (cosine: unit vectors)
        if nprobe >= self.nlist:
            return np.broadcast_to(np.arange(self.nlist), (len(prepared), self.nlist))
        part = np.argpartition(-scores, nprobe - 1, axis=1)[:, :nprobe]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)

    def search(
        self, queries: npt.NDArray[np.float32], wanted: int, knobs: SearchKnobs
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        if self.element_count() == 0:
            return None
        prepared = _unit_rows(queries) if self.metric is Metric.COSINE else queries
        prepared = np.ascontiguousarray(prepared, np.float32)
        nprobe = knobs.nprobe or self.default_nprobe
        cells = self.probes(prepared, min(nprobe, self.nlist))
        starts = np.ascontiguousarray(self.list_start[cells])
        sizes = np.ascontiguousarray(self.list_size[cells])
        wanted = max(1, min(wanted, int(sizes.sum(axis=1).max())))
        use_numba = knobs.mode == "numba" or (knobs.mode == "auto" and jit.scan_kernels_ready())
        if knobs.mode == "auto" and not jit.scan_kernels_ready():
            jit.warm_scan_kernels_in_background()
        blas_ready = knobs.mode == "numba" or jit.kernels_ready()  # auto never waits for a JIT
        if use_numba and blas_ready and self.codec.linear and len(prepared) >= 16:
            if self.centroids is None:
                ranks, rows = self._scan_blocks_blas(prepared, wanted)
            else:
                ranks, rows = self._scan_cells_blas(prepared, cells, wanted)
        elif use_numba:
            ranks, rows = self._scan_numba(prepared, starts, sizes, wanted)
        else:
            ranks, rows = self._scan_numpy(prepared, starts, sizes, wanted)
        # every rank is a row found (padding is NO_ROW already): one whose rank is not
        # finite (vectors an older version accepted) stays, NaN ranking as -inf, the worst
        ranks = np.where(np.isnan(ranks), -np.inf, ranks)
        order = np.lexsort((rows, -ranks), axis=1)
        rows = np.take_along_axis(rows, order, axis=1)
        ranks = np.take_along_axis(ranks, order, axis=1)
        return rows, ranks.astype(np.float64)

    def _scan_blocks_blas(self, prepared: Any, wanted: int) -> tuple[Any, Any]:
        """A batch over the one cell of a flat scan: decode blocks of codes to float32 and rank
        them with one BLAS product per block (the per-query kernels would stream every code
        once per query; BLAS reuses each block across the whole batch)."""
        kernels = jit.load_kernels()
        n_queries = len(prepared)
        heap_ranks = np.full((n_queries, wanted), -np.inf, np.float32)
        heap_entries = np.full((n_queries, wanted), NO_ROW, np.int64)
        start, size = int(self.list_start[0]), int(self.list_size[0])
        block = max(1024, (1 << 22) // max(n_queries, 1))
        scale = np.float32(2.0 if self.l2 else 1.0)
        for first in range(start, start + size, block):
            stop = min(first + block, start + size)
            decoded = self.codec.decode(self.codes[first:stop])
            raw = prepared @ decoded.T
            columns = stop - first
            kernels.topk_block_update(
                raw,
                first,
                np.ones(columns, np.bool_),
                np.full(columns, scale, np.float32),
                self.bias[first:stop],
                heap_ranks,
                heap_entries,
                0,
                n_queries,
            )
        found = heap_entries != NO_ROW
        rows = np.where(found, self.rows[np.where(found, heap_entries, 0)], NO_ROW)
        return heap_ranks, rows

    def _scan_cells_blas(self, prepared: Any, cells: Any, wanted: int) -> tuple[Any, Any]:
        """A batch over IVF cells, one cell at a time: decode the cell's codes once and rank
        them against every query that probes the cell with one BLAS product (FAISS's
        batch-by-list order), instead of streaming each cell once per query."""
        kernels = jit.load_scan_kernels()
        n_queries, n_probe = cells.shape
        heap_ranks = np.full((n_queries, wanted), -np.inf, np.float32)
        heap_entries = np.full((n_queries, wanted), NO_ROW, np.int64)
        flat_cells = np.ascontiguousarray(cells).ravel()
        order = np.argsort(flat_cells, kind="stable")
        by_cell = flat_cells[order]
        queries_in_order = (order // n_probe).astype(np.int64)
        unique, first, counts = np.unique(by_cell, return_index=True, return_counts=True)
        scale = np.float32(2.0 if self.l2 else 1.0)
        for cell, begin, count in zip(unique.tolist(), first.tolist(), counts.tolist()):
            size = int(self.list_size[cell])
            if size == 0:
                continue
            start = int(self.list_start[cell])
            asking = queries_in_order[begin : begin + count]
            decoded = self.codec.decode(self.codes[start : start + size])
            raw = prepared[asking] @ decoded.T
            kernels.merge_cell_ranks(
                raw, asking, scale, self.bias[start : start + size], start, heap_ranks,
                heap_entries,
            )  # fmt: skip
        found = heap_entries != NO_ROW
        rows = np.where(found, self.rows[np.where(found, heap_entries, 0)], NO_ROW)
        return heap_ranks, rows

    def _scan_numba(self, prepared: Any, starts: Any, sizes: Any, wanted: int) -> tuple[Any, Any]:
        kernels = jit.load_scan_kernels()
        n_queries = len(prepared)
        heap_ranks = np.full((n_queries, wanted), -np.inf, np.float32)
        heap_rows = np.full((n_queries, wanted), NO_ROW, np.int64)
        args = (kernels, self.codes, self.bias, self.rows, prepared, self.l2, starts, sizes,
                heap_ranks, heap_rows)  # fmt: skip
        threads = self.threads if n_queries >= 16 else 1
        if threads <= 1:
            self.codec.scan(*args, 0, n_queries)
        else:
            pool = jit.pool("vectordb-ivf", threads)
            step = -(-n_queries // threads)
            futures = [
                pool.submit(self.codec.scan, *args, first, min(first + step, n_queries))
                for first in range(0, n_queries, step)
            ]
            for future in futures:
                future.result()
        return heap_ranks, heap_rows

    def _scan_numpy(self, prepared: Any, starts: Any, sizes: Any, wanted: int) -> tuple[Any, Any]:
        n_queries = len(prepared)
        out_ranks = np.full((n_queries, wanted), -np.inf, np.float32)
        out_rows = np.full((n_queries, wanted), NO_ROW, np.int64)
        for q in range(n_queries):
            entries = np.concatenate(
                [np.arange(s, s + n) for s, n in zip(starts[q].tolist(), sizes[q].tolist())]
            ).astype(np.int64)
            if not len(entries):
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                ranks = self.codec.rank_numpy(
                    prepared[q], self.codes[entries], self.bias[entries], self.l2
                )
            ranks = np.where(np.isnan(ranks), -np.inf, ranks)  # as the kernels rank NaN
            rows = self.rows[entries]
            take = min(wanted, len(entries))
            best = np.lexsort((rows, -ranks))[:take]
            out_ranks[q, :take] = ranks[best]
            out_rows[q, :take] = rows[best]
        return out_ranks, out_rows

    # ----------------------------------------------------------------- drift
    def drift(self) -> float:
        """How much farther from their cells rows added since training are than the training
        rows were (1.0: as near; 0 when unknown)."""
        if self.centroids is None or self.added_count < 1000 or self.training_distance <= 0:
            return 0.0
        return (self.added_distance_sum / self.added_count) / self.training_distance

    # ----------------------------------------------------------------- files
    def save(self, path: Path) -> None:
        self._compact(np.zeros(self.nlist, np.int64))
        order = np.concatenate(
            [np.arange(s, s + n) for s, n in zip(self.list_start.tolist(), self.list_size.tolist())]
            or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        arrays = {
            "kind": np.array(self.codec.kind),
            "dim": np.array(self.dim),
            "pq_m": np.array(getattr(self.codec, "m", 0)),
            "centroids": (
                np.zeros((0, self.dim), np.float32) if self.centroids is None else self.centroids
            ),
            "list_size": self.list_size,
            "codes": self.codes[order],
            "bias": self.bias[order],
            "rows": self.rows[order],
            "trained_on": np.array(self.trained_on),
            "training_distance": np.array(self.training_distance),
            **{f"codec_{key}": value for key, value in self.codec.state().items()},
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        write_file(path, buffer.getvalue())

    @classmethod
    def load(
        cls,
        path: Path,
        dim: int,
        metric: Metric,
        quantization: QuantizationConfig | None,
        ivf: IvfConfig | None,
        threads: int,
        *,
        rows: int,
    ) -> CellLists:
        """Load a file written by ``save`` whose checksum was verified; ``rows``: the
        collection's rows when it was saved (entries name rows below it). Every array is
        checked for the dtype, shape and range the scan kernels index with unchecked."""
        arrays = _read_npz(path)
        try:
            kind = str(_scalar(arrays, "kind", "U"))
            saved_dim = int(_scalar(arrays, "dim", "iu"))
            expected = "float32" if quantization is None else quantization.kind
            if kind != expected or saved_dim != dim:
                raise CorruptionError(
                    f"index file holds {kind!r:.20} codes of dim {saved_dim}; the collection "
                    f"wants {expected!r} of dim {dim}",
                    path=path,
                )
            pq_m = int(_scalar(arrays, "pq_m", "iu"))
            if pq_m != (quantization.pq_m(dim) if quantization and kind == "pq" else 0):
                raise ValueError(f"pq_m is {pq_m}")
            state = {
                name[len("codec_") :]: value
                for name, value in arrays.items()
                if name.startswith("codec_")
            }
            codec = codec_from_state(kind, dim, pq_m or None, state)
            centroids = arrays["centroids"]
            if centroids.dtype != np.float32 or centroids.shape[1:] != (dim,) or (
                (ivf is None) != (len(centroids) == 0)
            ):  # fmt: skip
                raise ValueError(f"centroids are {centroids.dtype} of shape {centroids.shape}")
            trained_on = int(_scalar(arrays, "trained_on", "iu"))
            lists = cls(
                dim,
                metric,
                codec,
                np.ascontiguousarray(centroids) if len(centroids) else None,
                nprobe=None if ivf is None else ivf.nprobe,
                rescore=None if quantization is None else quantization.rescore_factor,
                trained_on=trained_on,
                threads=threads,
            )
            lists.training_distance = float(_scalar(arrays, "training_distance", "f"))
            sizes, codes = arrays["list_size"], arrays["codes"]
            bias, entries = arrays["bias"], arrays["rows"]
            n = len(entries)
            if (
                sizes.dtype.kind not in "iu"
                or sizes.shape != (lists.nlist,)
                or (n and not 0 <= int(sizes.min()) <= int(sizes.max()) <= n)
                or int(sizes.sum()) != n
                or codes.shape != (n, codec.width)
                or codes.dtype != codec.dtype
                or bias.dtype != np.float32
                or bias.shape != (n,)
                or entries.dtype.kind not in "iu"
                or entries.shape != (n,)
                or (n and not 0 <= int(entries.min()) <= int(entries.max()) < rows)
                or len(np.unique(entries)) != n
            ):
                raise CorruptionError("index file's cell lists are inconsistent", path=path)
        except CorruptionError as error:
            raise CorruptionError(error.message, path=path) from error
        except (KeyError, ValueError, TypeError, IndexError) as error:
            raise CorruptionError(f"index file does not load: {error}", path=path) from error
        sizes = sizes.astype(np.int64)
        rows_array = entries.astype(np.int64)
        lists._grow_rows(int(rows_array.max()) + 1 if n else 0)
        lists._grow_arena(n)
        lists.codes[:n] = codes
        lists.bias[:n] = bias
        lists.rows[:n] = rows_array
        lists.list_size = sizes.copy()
        lists.list_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        lists.list_room = sizes.copy()
        lists.used = n
        lists.entry_of_row[rows_array] = np.arange(n)
        lists.list_of_row[rows_array] = np.repeat(np.arange(lists.nlist), sizes)
        return lists

    # ----------------------------------------------------------------- info
    def memory_bytes(self) -> int:
        return int(
            self.codes.nbytes
            + self.bias.nbytes
            + self.rows.nbytes
            + self.entry_of_row.nbytes
            + self.list_of_row.nbytes
            + (0 if self.centroids is None else self.centroids.nbytes)
        )

    def info(self) -> dict[str, Any]:
        count = self.element_count()
        code_bytes = count * self.codec.code_bytes
        full_bytes = count * self.dim * 4
        sizes = self.list_size
        return {
            "quantization": None if self.codec.kind == "float32" else self.codec.kind,
            "nlist": self.nlist if self.centroids is not None else None,
            "nprobe": None if self.centroids is None else self.default_nprobe,
            "trained_on": self.trained_on,
            "cell_sizes": {
                "min": int(sizes.min()),
                "max": int(sizes.max()),
                "mean": float(sizes.mean()),
            }
            if self.centroids is not None
            else None,
            "code_bytes_per_vector": self.codec.code_bytes,
            "vector_memory_bytes": code_bytes,
            "float32_memory_bytes": full_bytes,
            "memory_saved_bytes": full_bytes - code_bytes,
            "compression": (full_bytes / code_bytes) if code_bytes else None,
            "drift": round(self.drift(), 3),
        }


class IvfIndex(BackgroundIndex):
    """An IVF index (``ivf`` given) or a quantized flat scan (``ivf`` None, ``quantization``
    given), built and kept fresh by ``BackgroundIndex``."""

    def default_nprobe(self) -> int | None:
        structure = self.structure  # None until trained
        return None if structure is None else int(structure.default_nprobe)

    def __init__(
        self,
        directory: Path,
        dim: int,
        metric: Metric,
        source: RowSource,
        *,
        ivf: IvfConfig | None,
        quantization: QuantizationConfig | None,
        read_only: bool,
        threads: int | None = None,
    ) -> None:
        self.kind = "ivf" if ivf is not None else "flat"  # before the base names its files
        super().__init__(directory, dim, metric, source, read_only=read_only, threads=threads)
        self.ivf = ivf
        self.quantization = quantization
        self.retrains = 0

    def _train_after(self) -> int:
        if self.ivf is not None:
            return self.ivf.train_after
        codec = codec_class(self.quantization.kind if self.quantization else None)
        return _FLAT_TRAIN_AFTER if codec.needs_training else 1

    def _training_sample(self) -> int:
        return self.ivf.training_sample if self.ivf is not None else 65_536

    def _can_make_structure(self) -> bool:
        return self._live_count() >= self._train_after()

    def new_structure(self, capacity: int, sample: Callable[[int], Any] | None) -> CellLists | None:
        live = self._live_count()
        if live < self._train_after() or sample is None:
            return None
        wanted = self._training_sample()
        if self.ivf is not None and self.ivf.nlist is None:
            # enough points per cell, not more: k-means cost grows with sample x nlist
            wanted = min(wanted, max(256 * default_nlist(live), 4096))
        vectors = sample(wanted)
        if len(vectors) < 1:
            return None
        self.retrains += 1
        return CellLists.train(
            self.dim, self.metric, self.quantization, self.ivf, vectors, live, self.threads
        )

    def load_structure(self, path: Path, body: dict[str, Any], flags: SavedFlags) -> CellLists:
        return CellLists.load(
            path, self.dim, self.metric, self.quantization, self.ivf, self.threads,
            rows=flags.rows,
        )  # fmt: skip

    def wants_rebuild(self) -> bool:
        structure = self.structure
        if structure is None:
            return False
        live = self._live_count()
        if self.ivf is not None:
            # more rows want more cells (nlist follows the data) and cells fitted to them
            grown = live >= self.ivf.retrain_growth * max(structure.trained_on, 1)
            return bool(grown or structure.drift() > 2.0)
        if not structure.codec.needs_training:
            return False
        # a codec trained on few rows is retrained once there are many more to learn from
        few = structure.trained_on < self._training_sample()
        return bool(few and live >= 8 * max(structure.trained_on, 1))

    def params(self) -> dict[str, Any]:
        return {
            **({"ivf": self.ivf.to_dict()} if self.ivf is not None else {}),
            "quantization": None if self.quantization is None else self.quantization.to_dict(),
        }

    def describe(self) -> dict[str, Any]:
        return {"trainings": self.retrains}


def _read_npz(path: Path) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an uncompressed ``.npz`` (what ``np.savez`` writes), read without trusting
    it: ``CorruptionError`` for anything else, and before numpy allocates an array as large
    as a member's header declares, which could be any size."""
    try:
        whole = path.read_bytes()
    except OSError as error:
        raise os_error(error, f"read {path}") from error
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(whole)) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                    raise ValueError(f"member {info.filename!r:.40} is not a stored .npy")
                data = archive.read(info)
                member = io.BytesIO(data)
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                if dtype.hasobject or math.prod(shape) * dtype.itemsize > len(data):
                    raise ValueError(f"member {info.filename!r:.40} declares {shape} {dtype}")
                member.seek(0)
                arrays[info.filename[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
    except Exception as error:  # zipfile and numpy's readers raise many kinds on bad bytes
        raise CorruptionError(f"index file does not load: {error!r:.200}", path=path) from error
    return arrays


def _scalar(arrays: dict[str, npt.NDArray[Any]], name: str, kinds: str) -> Any:
    """The value of a 0-d array of one of the dtype ``kinds`` (``ValueError`` otherwise)."""
    value = arrays[name]
    if value.shape != () or value.dtype.kind not in kinds:
        raise ValueError(f"{name} is a {value.dtype} array of shape {value.shape}")
    return value.item()


def _unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(norms[:, None] > 0, vectors / norms[:, None], 0.0)
    return scaled.astype(np.float32)


