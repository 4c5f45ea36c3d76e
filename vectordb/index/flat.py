"""Exact (flat) search: BLAS matrix products over blocks of rows plus a top-k selection.

Two selection paths give the same answer: numpy (``argpartition`` per block, always available)
and numba (``kernels.topk_block_update``: one comparison per score against the k-th best,
several times faster). ``mode="auto"`` uses numba once its kernels have loaded in the
background and numpy until then, so the first query after ``import vectordb`` never waits for
the JIT. ``mode="scalar"`` is the slow, obviously correct reference the tests compare against.

Scores inside the selection are "larger is better": ``q.v`` (dot), ``q.v / |v|`` with a unit
``q`` (cosine), ``2 q.v - |v|^2`` (euclidean: the squared distance minus the constant
``|q|^2``). The best ``k + margin`` candidates are then re-scored exactly in float64 from the
stored vectors and ranked again, so rounding in the expanded euclidean form cannot reorder
the final answer.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from vectordb.config import Metric
from vectordb.index.jit import (
    NO_ROW,
    default_threads,
    filtered_kernels_ready,
    kernels_ready,
    load_filtered_kernels,
    load_kernels,
    pool,
)

__all__ = [
    "METRIC_CODES",
    "NO_ROW",
    "SearchMode",
    "answer_again",
    "exact_search",
    "subset_search",
    "rescore",
]

SearchMode = Literal["auto", "numba", "numpy", "scalar"]

_RESCORE_MARGIN = 16
_BLOCK_ELEMENTS = 1 << 22  # scores computed per BLAS call: 16 MiB of float32

_SUBSET_KERNEL_SCORES = 1 << 22  # queries x allowed rows the float64 subset kernel takes on


def exact_search(
    vectors: npt.NDArray[np.float32],
    live: npt.NDArray[np.bool_],
    sq_norms: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    k: int,
    metric: Metric,
    *,
    mode: SearchMode = "auto",
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Best ``k`` live rows for each query (``threads``: for the top-k selection of large
    batches; default: the machine's cores, at most 8).

    Parameters
    ----------
    vectors, live, sq_norms
        The first ``n`` rows of the vector file and their live flags and squared norms.
    queries
        ``(q, dim)`` float32, already validated.
    Returns
    -------
    rows, scores
        ``(q, m)`` arrays, best first, ``m = min(k, live rows)``; scores are the metric's
        natural values (similarity, inner product, or euclidean distance).
    """
    n_live = int(np.count_nonzero(live))
    m = min(k, n_live)
    n_queries = queries.shape[0]
    if m == 0:
        return np.zeros((n_queries, 0), np.int64), np.zeros((n_queries, 0), np.float64)
    if mode == "scalar":
        return _scalar_search(vectors, live, queries, m, metric)
    wanted = min(n_live, m + _RESCORE_MARGIN)
    query_norms = np.sqrt(np.einsum("ij,ij->i", queries, queries, dtype=np.float64))
    if metric is Metric.COSINE:
        prepared = (queries / np.maximum(query_norms, 1e-30)[:, None]).astype(np.float32)
        with np.errstate(divide="ignore"):
            scale = np.where(sq_norms > 0, 1.0 / np.sqrt(sq_norms), 0.0).astype(np.float32)
        bias = np.zeros_like(sq_norms)
    elif metric is Metric.EUCLIDEAN:
        prepared = queries
        scale = np.full_like(sq_norms, 2.0)
        bias = -sq_norms
    else:
        prepared = queries
        scale = np.ones_like(sq_norms)
        bias = np.zeros_like(sq_norms)
    use_numba = mode == "numba" or (mode == "auto" and kernels_ready())
    if use_numba:
        threads = threads or default_threads()
        rows = _select_numba(vectors, live, prepared, scale, bias, wanted, threads)
    else:
        rows = _select_numpy(vectors, live, prepared, scale, bias, wanted)
    return rescore(vectors, queries, rows, m, metric)


def subset_search(
    vectors: npt.NDArray[np.float32],
    sq_norms: npt.NDArray[np.float32],
    mask: npt.NDArray[np.bool_],
    rows: npt.NDArray[np.int64],
    queries: npt.NDArray[np.float32],
    k: int,
    metric: Metric,
    *,
    mode: SearchMode = "auto",
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Best ``k`` of the allowed ``rows`` (ascending; ``mask`` marks the same rows) for each
    query, exact, the same answer as :func:`exact_search` restricted to them.

    The cheapest of three ways: few queries x rows go to one compiled pass that scores each
    allowed row in float64 and keeps a heap (no gather, no second pass: ~10 us for 100
    rows); a batch over few rows gathers them and runs the blocked scan on the copy; a
    batch over many scans every row with the mask."""
    n_queries = len(queries)
    m = min(k, len(rows))
    if m == 0:
        return np.zeros((n_queries, 0), np.int64), np.zeros((n_queries, 0), np.float64)
    if mode == "scalar":
        return exact_search(vectors, mask, sq_norms, queries, k, metric, mode=mode)
    if n_queries * len(rows) <= _SUBSET_KERNEL_SCORES and (
        mode == "numba" or (mode == "auto" and filtered_kernels_ready())
    ):
        kernels = load_filtered_kernels()
        out_rows = np.empty((n_queries, m), np.int64)
        out_scores = np.empty((n_queries, m), np.float64)
        kernels.subset_topk(vectors, rows, queries.astype(np.float64), METRIC_CODES[metric],
                            out_rows, out_scores)  # fmt: skip
        return out_rows, out_scores
    if n_queries * len(rows) <= _SMALL_SUBSET:
        # few candidates: score them all exactly in float64 at once (the re-scoring step
        # alone), skipping the float32 selection pass and its fixed costs
        return rescore(vectors, queries, np.broadcast_to(rows, (n_queries, len(rows))), m, metric)
    if len(rows) * 4 < len(vectors):
        # gather the few allowed rows: the scan then costs their count, not the collection's
        local, scores = exact_search(vectors[rows], np.ones(len(rows), np.bool_), sq_norms[rows],
                                     queries, k, metric, mode=mode, threads=threads)  # fmt: skip
        return rows[local], scores
    return exact_search(vectors, mask, sq_norms, queries, k, metric, mode=mode, threads=threads)


_SMALL_SUBSET = 16_384  # queries x allowed rows scored directly in float64 (numpy path)
_LOWEST = np.finfo(np.float32).min
METRIC_CODES = {Metric.DOT: 0, Metric.COSINE: 1, Metric.EUCLIDEAN: 2}


def _block_size(n_queries: int) -> int:
    return max(1024, _BLOCK_ELEMENTS // max(n_queries, 1))


def _select_numpy(
    vectors: npt.NDArray[np.float32],
    live: npt.NDArray[np.bool_],
    queries: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    wanted: int,
) -> npt.NDArray[np.int64]:
    n_queries = queries.shape[0]
    n_rows = vectors.shape[0]
    block = _block_size(n_queries)
    best_scores = np.full((n_queries, 0), -np.inf, np.float32)
    best_rows = np.zeros((n_queries, 0), np.int64)
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        # as in _select_numba, no np.errstate: only vectors an older version accepted
        # (beyond the input limit) may overflow here, with a RuntimeWarning
        scores = queries @ vectors[start:stop].T
        scores *= scale[start:stop]
        scores += bias[start:stop]
        # a live row's NaN or -inf score (such vectors again) becomes the lowest finite one:
        # still worse than every other score, still better than the -inf that marks the rows
        # that are not live, so such a row is never dropped
        np.fmax(scores, _LOWEST, out=scores)
        scores[:, ~live[start:stop]] = -np.inf
        take = min(wanted, stop - start)
        if take < stop - start:
            part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        else:
            part = np.broadcast_to(np.arange(stop - start), (n_queries, stop - start))
        part_scores = np.take_along_axis(scores, part, axis=1)
        best_scores = np.concatenate([best_scores, part_scores], axis=1)
        best_rows = np.concatenate([best_rows, part + start], axis=1)
        if best_scores.shape[1] > wanted:
            keep = np.argpartition(-best_scores, wanted - 1, axis=1)[:, :wanted]
            best_scores = np.take_along_axis(best_scores, keep, axis=1)
            best_rows = np.take_along_axis(best_rows, keep, axis=1)
    best_rows[best_scores == -np.inf] = NO_ROW  # not live (+inf is a real, best score)
    return best_rows


def _select_numba(
    vectors: npt.NDArray[np.float32],
    live: npt.NDArray[np.bool_],
    queries: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    wanted: int,
    threads: int,
) -> npt.NDArray[np.int64]:
    kernels = load_kernels()
    n_queries = queries.shape[0]
    n_rows = vectors.shape[0]
    heap_scores = np.full((n_queries, wanted), -np.inf, np.float32)
    heap_rows = np.full((n_queries, wanted), NO_ROW, np.int64)
    block = _block_size(n_queries)
    threads = threads if n_queries >= 64 else 1
    search_pool = pool("vectordb-search", threads) if threads > 1 else None
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        # no np.errstate here (2 us, most of a small scan): vectors within the input limit
        # cannot overflow; ones an older version accepted may, with a RuntimeWarning
        scores = queries @ vectors[start:stop].T
        args: tuple[Any, ...] = (
            scores,
            start,
            live[start:stop],
            scale[start:stop],
            bias[start:stop],
            heap_scores,
            heap_rows,
        )
        if threads == 1:
            kernels.topk_block_update(*args, 0, n_queries)
        else:
            assert search_pool is not None
            step = -(-n_queries // threads)
            update: Any = kernels.topk_block_update
            futures = [
                search_pool.submit(update, *(*args, first, min(first + step, n_queries)))
                for first in range(0, n_queries, step)
            ]
            for future in futures:
                future.result()
    # a heap whose root is still NO_ROW (the worst entry) had room for every live row but
    # took fewer: the rest scored NaN (vectors an older version accepted), which the kernel
    # passes over. They take the free places as the worst rows, smaller rows first
    short = np.flatnonzero(heap_rows[:, 0] == NO_ROW)
    if len(short):
        live_rows = np.flatnonzero(live)
        for query in short.tolist():
            line = heap_rows[query]
            free = np.flatnonzero(line == NO_ROW)
            unscored = np.setdiff1d(live_rows, line)[: len(free)]
            line[free[: len(unscored)]] = unscored
    return heap_rows


def rescore(
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    m: int,
    metric: Metric,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    valid = rows != NO_ROW
    safe_rows = np.where(valid, rows, 0)
    candidates = vectors[safe_rows].astype(np.float64)  # (q, wanted, dim)
    q64 = queries.astype(np.float64)[:, None, :]
    if metric is Metric.EUCLIDEAN:
        difference = candidates - q64
        natural = np.sqrt(np.einsum("qwd,qwd->qw", difference, difference))
        ranking = -natural
    else:
        natural = np.einsum("qwd,qwd->qw", candidates, q64)
        if metric is Metric.COSINE:
            norms = np.sqrt(np.einsum("qwd,qwd->qw", candidates, candidates))
            query_norms = np.sqrt(np.einsum("qxd,qxd->qx", q64, q64))
            with np.errstate(divide="ignore", invalid="ignore"):
                natural = np.where(norms > 0, natural / (norms * query_norms), 0.0)
        ranking = natural
    # a NaN score (a vector an older version accepted) ranks as -inf, like the padding,
    # which comes after every row since NO_ROW is the largest row
    ranking = np.where(valid & ~np.isnan(ranking), ranking, -np.inf)
    # rank by score, ties by smaller row: lexsort's last key is the primary one
    order = np.lexsort((rows, -ranking), axis=1)[:, :m]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(natural, order, axis=1)


def _scalar_search(
    vectors: npt.NDArray[np.float32],
    live: npt.NDArray[np.bool_],
    queries: npt.NDArray[np.float32],
    m: int,
    metric: Metric,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Reference: every score in float64, one full sort per query."""
    live_rows = np.flatnonzero(live)
    stored = vectors[live_rows].astype(np.float64)
    all_rows = []
    all_scores = []
    for query in queries.astype(np.float64):
        if metric is Metric.EUCLIDEAN:
            natural = np.sqrt(((stored - query) ** 2).sum(axis=1))
            ranking = -natural
        elif metric is Metric.COSINE:
            norms = np.sqrt((stored**2).sum(axis=1)) * np.sqrt((query**2).sum())
            with np.errstate(divide="ignore", invalid="ignore"):
                natural = np.where(norms > 0, stored @ query / norms, 0.0)
            ranking = natural
        else:
            natural = stored @ query
            ranking = natural
        ranking = np.where(np.isnan(ranking), -np.inf, ranking)  # as rescore() ranks NaN
        order = np.lexsort((live_rows, -ranking))[:m]
        all_rows.append(live_rows[order])
        all_scores.append(natural[order])
    return np.array(all_rows, np.int64), np.array(all_scores, np.float64)


def answer_again(
    out_rows: list[Any], out_scores: list[Any], short: list[int], answers: tuple[Any, Any]
) -> None:
    """Put ``answers`` (rows and scores per query, in the order of ``short``) in place of
    the answers at positions ``short``: a search that left some queries with too few hits
    answers those again another way (a filtered walk, an exact scan)."""
    rows, scores = answers
    for position, i in enumerate(short):
        out_rows[i] = rows[position]
        out_scores[i] = scores[position]
