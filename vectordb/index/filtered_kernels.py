"""numba kernels for filtered search: an exact scan of a list of allowed rows, and an HNSW
graph walk that checks the filter's bitmap for every node it reaches. Pure functions, no I/O.

Like ``kernels.py`` this module imports numba, so nothing imports it at ``import vectordb``
time: ``jit.load_filtered_kernels`` loads it, in the background thread that warms the other
kernels when a database opens; filtered searches use it once it is loaded.

Metric codes: ``0`` dot (inner product), ``1`` cosine, ``2`` euclidean. Scores come back in
the metric's natural form (similarity, inner product, distance), computed in float64 from the
stored float32 vectors: ``flat.rescore``'s values up to float64 rounding (the sums here are
reassociated to vectorize), so a filtered exact search ranks like an unfiltered one. Ties
keep the smaller row.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.extending import intrinsic

from vectordb.index.kernels import _sift_down

__all__ = ["COSINE", "DOT", "EUCLIDEAN", "graph_search", "subset_topk"]

DOT, COSINE, EUCLIDEAN = 0, 1, 2
_NO_ROW = np.iinfo(np.int64).max
_LINE_FLOATS = 16  # float32 values per 64-byte cache line


def _prefetch_python(array, index):
    """What ``_prefetch`` is when numba's JIT is disabled: nothing."""


@intrinsic
def _prefetch_compiled(typingctx, array, index):
    """Ask the CPU to start loading ``array.flat[index]``'s cache line (LLVM's prefetch: a
    read, kept in every cache level). A walk knows which vectors it scores next before it
    scores them; loading them all at once overlaps their memory latency, which is most of
    a graph search's time (this made the walk ~1.3x faster here)."""
    from llvmlite import ir
    from numba.core import types

    signature = types.void(array, index)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        byte_pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        int32 = ir.IntType(32)
        function = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte_pointer.type] + [int32] * 3)
        )
        builder.call(function, [byte_pointer, int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return signature, codegen


_prefetch = _prefetch_python if numba.config.DISABLE_JIT else _prefetch_compiled


# Each metric's loop is its own small function: reassociation ("reassoc") lets LLVM
# vectorize the sums, and a loop alone in its function keeps that (one function branching
# over three loops ran half as fast). No "ninf"/"nnan": the heaps hold -inf. The callers
# are not inlined into at numba level (inline="always" would drop these flags).
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _dot64(vectors, row, query):
    total = 0.0
    for j in range(vectors.shape[1]):
        total += np.float64(vectors[row, j]) * query[j]
    return total


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _squares64(vectors, row):
    total = 0.0
    for j in range(vectors.shape[1]):
        value = np.float64(vectors[row, j])
        total += value * value
    return total


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _l2_64(vectors, row, query):
    total = 0.0
    for j in range(vectors.shape[1]):
        difference = np.float64(vectors[row, j]) - query[j]
        total += difference * difference
    return total


@numba.njit(cache=True, nogil=True)
def _natural(vectors, row, query, query_norm, metric):
    """The natural score of stored ``vectors[row]`` for one query, in float64. Rows go in
    by index, not as ``vectors[row]`` views: a view per score costs reference counting."""
    if metric == EUCLIDEAN:
        return math.sqrt(_l2_64(vectors, row, query))
    dot = _dot64(vectors, row, query)
    if metric == COSINE:
        squares = _squares64(vectors, row)
        if squares <= 0.0:
            return 0.0
        return dot / (math.sqrt(squares) * query_norm)
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
        query_norm = math.sqrt(_dot64(queries, q, query))
        heap_ranks[:] = -np.inf
        heap_rows[:] = _NO_ROW
        threshold = -np.inf
        for i in range(rows.shape[0]):
            row = rows[i]
            natural = _natural(vectors, row, query, query_norm, metric)
            rank = -natural if metric == EUCLIDEAN else natural
            if rank != rank:  # NaN (a vector an older version accepted): the worst rank
                rank = -np.inf
            # rows ascend, so an equal rank never displaces the kept (smaller) row
            if rank > threshold or (i < m):
                heap_ranks[0] = rank
                heap_rows[0] = row
                _sift_down(heap_ranks, heap_rows, m)
                threshold = heap_ranks[0]
        _pop_sorted(heap_ranks, heap_rows, m, out_rows[q], out_scores[q], metric)


# ----------------------------------------------------------------- the filtered graph walk
@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _dot32(vectors, row, query):
    total = np.float32(0.0)
    for j in range(vectors.shape[1]):
        total += vectors[row, j] * query[j]
    return total


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _l2_32(vectors, row, query):
    total = np.float32(0.0)
    for j in range(vectors.shape[1]):
        difference = vectors[row, j] - query[j]
        total += difference * difference
    return total


@numba.njit(cache=True, nogil=True)
def _walk_rank(vectors, row, query, sq_norm, metric):
    """float32 "larger is better" rank that steers the walk: ``q.v`` (dot), ``q.v / |v|``
    with a unit ``q`` (cosine), ``-|q - v|^2`` (euclidean)."""
    if metric == EUCLIDEAN:
        return -_l2_32(vectors, row, query)
    dot = _dot32(vectors, row, query)
    if metric == COSINE:
        if sq_norm <= 0.0:
            return np.float32(0.0)
        return dot / np.float32(math.sqrt(sq_norm))
    return dot


@numba.njit(cache=True, nogil=True, inline="always")
def _push(ranks, ids, size, rank, ident, sign):
    """Push onto a binary heap whose root is the largest ``sign * rank``; returns the size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if sign * ranks[parent] >= sign * rank:
            break
        ranks[i] = ranks[parent]
        ids[i] = ids[parent]
        i = parent
    ranks[i] = rank
    ids[i] = ident
    return size + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _pop(ranks, ids, size, sign):
    """Remove the root of a heap made by ``_push``; returns the new size."""
    size -= 1
    if size == 0:
        return 0
    rank = ranks[size]
    ident = ids[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and sign * ranks[child + 1] > sign * ranks[child]:
            child += 1
        if sign * ranks[child] <= sign * rank:
            break
        ranks[i] = ranks[child]
        ids[i] = ids[child]
        i = child
    ranks[i] = rank
    ids[i] = ident
    return size


@numba.njit(cache=True, nogil=True)
def graph_search(
    level0,
    upper,
    upper_offsets,
    upper_stride,
    entry,
    max_level,
    vectors,
    sq_norms,
    accept,
    queries,
    metric,
    ef,
    visited,
    tag,
    candidate_ranks,
    candidate_ids,
    out_rows,
    out_scores,
    out_counts,
):
    """HNSW search for each query that keeps only nodes whose row ``accept`` allows, checked
    as each node is reached (the walk still passes through the others).

    The graph is hnswlib's, copied and renumbered by row by ``hnsw.GraphLinks``:
    ``level0[row] = [count, linked rows..]``, a row's upper levels at
    ``upper[upper_offsets[row] + (level - 1) * upper_stride ..]`` (``count`` in the low 16
    bits of the first word). The search is hnswlib's with a filter (greedy descent to level
    1, then a best-first walk of level 0 that stops once ``ef`` allowed nodes are found and
    no candidate can beat the worst), steered by float32 ranks; a node's unvisited
    neighbours are gathered and prefetched before any is scored. The allowed nodes found are
    re-scored in float64 (``_natural``) and the best ``out_rows.shape[1]`` kept, ties by
    smaller row. ``visited`` holds per-row marks: a row is visited when its mark equals the
    query's tag (``tag``, ``tag + 1``, ...); returns the next unused tag. ``candidate_*``:
    room for one entry per row (the candidate heap; fixed, since growing it inside the loop
    made numba count references on every use, 1.5x slower)."""
    m = out_rows.shape[1]
    n_elements = level0.shape[0]
    dim = vectors.shape[1]
    flat_vectors = vectors.reshape(vectors.shape[0] * dim)
    fresh = np.empty(level0.shape[1], np.int64)
    result_ranks = np.empty(ef + 1, np.float32)
    result_ids = np.empty(ef + 1, np.int64)
    best_ranks = np.empty(m, np.float64)
    best_rows = np.empty(m, np.int64)
    walk_query = np.empty(queries.shape[1], np.float32)
    for q in range(queries.shape[0]):
        query = queries[q]
        query_norm = math.sqrt(_dot64(queries, q, query))
        scale = 1.0 / query_norm if (metric == COSINE and query_norm > 0.0) else 1.0
        for j in range(query.shape[0]):
            walk_query[j] = np.float32(query[j] * scale)
        out_counts[q] = 0
        if n_elements == 0:
            continue
        # greedy descent through the upper levels, every node counts
        current = entry
        current_rank = _walk_rank(vectors, current, walk_query, sq_norms[current], metric)
        for level in range(max_level, 0, -1):
            changed = True
            while changed:
                changed = False
                base = upper_offsets[current] + (level - 1) * upper_stride
                count = upper[base] & 0xFFFF
                for j in range(count):
                    neighbour = upper[base + 1 + j]
                    rank = _walk_rank(vectors, neighbour, walk_query, sq_norms[neighbour], metric)
                    if rank > current_rank:
                        current_rank = rank
                        current = neighbour
                        changed = True
        # level 0: best-first, only allowed nodes enter the results
        candidates = _push(candidate_ranks, candidate_ids, 0, current_rank, current, 1.0)
        results = 0
        visited[current] = tag
        if accept[current]:
            results = _push(result_ranks, result_ids, 0, current_rank, current, -1.0)
        while candidates > 0:
            rank = candidate_ranks[0]
            if results == ef and rank < result_ranks[0]:
                break
            element = candidate_ids[0]
            candidates = _pop(candidate_ranks, candidate_ids, candidates, 1.0)
            count = level0[element, 0] & 0xFFFF
            n_fresh = 0
            for j in range(count):
                neighbour = level0[element, 1 + j]
                if visited[neighbour] != tag:
                    visited[neighbour] = tag
                    fresh[n_fresh] = neighbour
                    n_fresh += 1
                    for offset in range(0, dim, _LINE_FLOATS):
                        _prefetch(flat_vectors, neighbour * dim + offset)
            for j in range(n_fresh):
                neighbour = fresh[j]
                rank = _walk_rank(vectors, neighbour, walk_query, sq_norms[neighbour], metric)
                if results < ef or rank > result_ranks[0]:
                    candidates = _push(candidate_ranks, candidate_ids, candidates, rank,
                                       neighbour, 1.0)  # fmt: skip
                    if accept[neighbour]:
                        results = _push(result_ranks, result_ids, results, rank, neighbour, -1.0)
                        if results > ef:
                            results = _pop(result_ranks, result_ids, results, -1.0)
        tag += 1
        # exact float64 re-score of the allowed nodes found, best m by (score, row)
        kept = min(m, results)
        best_ranks[:kept] = -np.inf
        best_rows[:kept] = _NO_ROW
        for i in range(results):
            row = result_ids[i]
            natural = _natural(vectors, row, query, query_norm, metric)
            rank64 = -natural if metric == EUCLIDEAN else natural
            if rank64 > best_ranks[0] or (rank64 == best_ranks[0] and row < best_rows[0]):
                best_ranks[0] = rank64
                best_rows[0] = row
                _sift_down(best_ranks, best_rows, kept)
        _pop_sorted(best_ranks, best_rows, kept, out_rows[q], out_scores[q], metric)
        out_counts[q] = kept
    return tag
