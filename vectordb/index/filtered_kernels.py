"""numba kernels for filtered search: an exact scan of a list of allowed rows, and an HNSW
graph walk that checks the filter's bitmap for every node it reaches. Pure functions, no I/O.

Like ``kernels.py`` this module imports numba, so nothing imports it at ``import vectordb``
time: ``load_filtered_kernels`` below loads it on the first filtered search that can use it
(``flat.load_kernels`` warms it in the background with the others).

Metric codes: ``0`` dot (inner product), ``1`` cosine, ``2`` euclidean. Scores come back in
the metric's natural form (similarity, inner product, distance), computed in float64 from the
stored float32 vectors: the same values ``flat.rescore`` gives, so a filtered exact search
ranks exactly like an unfiltered one. Ties keep the smaller row.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vectordb.index.kernels import _sift_down

__all__ = ["DOT", "COSINE", "EUCLIDEAN", "subset_topk"]

DOT, COSINE, EUCLIDEAN = 0, 1, 2
_NO_ROW = np.iinfo(np.int64).max


# reassociation lets LLVM vectorize the sums; no "ninf"/"nnan": the heaps hold -inf
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _natural(vector, query, query_norm, metric):
    """The natural score of one stored row for one query, in float64."""
    dim = vector.shape[0]
    if metric == EUCLIDEAN:
        total = 0.0
        for j in range(dim):
            difference = np.float64(vector[j]) - query[j]
            total += difference * difference
        return math.sqrt(total)
    dot = 0.0
    if metric == COSINE:
        squares = 0.0
        for j in range(dim):
            value = np.float64(vector[j])
            dot += value * query[j]
            squares += value * value
        if squares <= 0.0:
            return 0.0
        return dot / (math.sqrt(squares) * query_norm)
    for j in range(dim):
        dot += np.float64(vector[j]) * query[j]
    return dot


@numba.njit(cache=True, nogil=True, inline="always")
def _pop_sorted(heap_ranks, heap_rows, m, out_rows, out_scores, metric):
    """Empty a full min-heap of ``m`` (rank, row) pairs into ``out_*`` best first."""
    for size in range(m, 0, -1):
        out_rows[size - 1] = heap_rows[0]
        rank = heap_ranks[0]
        out_scores[size - 1] = -rank if metric == EUCLIDEAN else rank
        heap_ranks[0] = heap_ranks[size - 1]
        heap_rows[0] = heap_rows[size - 1]
        if size > 1:
            _sift_down(heap_ranks, heap_rows, size - 1)


@numba.njit(cache=True, nogil=True)
def subset_topk(vectors, rows, queries, metric, out_rows, out_scores):
    """For each query (float64 rows of ``queries``), the best ``m = out_rows.shape[1]`` of the
    stored ``rows`` (ascending int64), into ``out_rows`` / ``out_scores``, best first."""
    m = out_rows.shape[1]
    heap_ranks = np.empty(m, np.float64)
    heap_rows = np.empty(m, np.int64)
    for q in range(queries.shape[0]):
        query = queries[q]
        query_norm = 0.0
        for j in range(query.shape[0]):
            query_norm += query[j] * query[j]
        query_norm = math.sqrt(query_norm)
        heap_ranks[:] = -np.inf
        heap_rows[:] = _NO_ROW
        threshold = -np.inf
        for i in range(rows.shape[0]):
            row = rows[i]
            natural = _natural(vectors[row], query, query_norm, metric)
            rank = -natural if metric == EUCLIDEAN else natural
            # rows ascend, so an equal rank never displaces the kept (smaller) row
            if rank > threshold or (i < m):
                heap_ranks[0] = rank
                heap_rows[0] = row
                _sift_down(heap_ranks, heap_rows, m)
                threshold = heap_ranks[0]
        _pop_sorted(heap_ranks, heap_rows, m, out_rows[q], out_scores[q], metric)
