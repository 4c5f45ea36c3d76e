"""numba kernels: top-k selection over blocks of scores. Pure functions, no I/O.

Importing this module imports numba (about half a second), so nothing imports it at
``import vectordb`` time: ``jit.py`` loads it lazily (``load_kernels``), in a background thread
started when a database opens, and serves queries with numpy until it is ready.

Convention: larger internal scores are better. A block's score for column ``j`` is
``raw[i, j] * column_scale[j] + column_bias[j]``; columns whose ``live[j]`` is false are skipped.
Each query keeps a min-heap of its best ``k`` (score, row) pairs in ``heap_scores`` /
``heap_rows`` (root at index 0 = the worst kept), so most scores cost one comparison.

Scores that are not finite: vectordb refuses vectors whose scores could overflow float32
(``vectordb.inputs.MAX_SQUARED_NORM``), but a database written by an older version may hold
some. The heaps start full of (-inf, ``NO_ROW``), which every real row beats, -inf included
(ties keep the smaller row): +inf ranks first and -inf last. A NaN score never enters a heap
(the hot loop stays one comparison per score): a heap left holding ``NO_ROW`` after a scan
had room for rows whose scores were NaN, which the caller adds as the worst
(``flat._select_numba``).
"""

from __future__ import annotations

import numba

__all__ = ["topk_block_update"]


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_down(scores, rows, k):
    position = 0
    score = scores[0]
    row = rows[0]
    while True:
        child = 2 * position + 1
        if child >= k:
            break
        right = child + 1
        if right < k and (
            scores[right] < scores[child]
            or (scores[right] == scores[child] and rows[right] > rows[child])
        ):
            child = right
        if scores[child] < score or (scores[child] == score and rows[child] > row):
            scores[position] = scores[child]
            rows[position] = rows[child]
            position = child
        else:
            break
    scores[position] = score
    rows[position] = row


@numba.njit(cache=True, nogil=True)
def topk_block_update(
    raw,
    row_offset,
    live,
    column_scale,
    column_bias,
    heap_scores,
    heap_rows,
    first_query,
    last_query,
):
    """Merge block ``raw`` (queries x columns) into each query's heap, for queries in
    ``[first_query, last_query)``. Ties keep the smaller row."""
    k = heap_scores.shape[1]
    columns = raw.shape[1]
    for query in range(first_query, last_query):
        scores = heap_scores[query]
        rows = heap_rows[query]
        threshold = scores[0]
        threshold_row = rows[0]
        line = raw[query]
        for column in range(columns):
            if not live[column]:
                continue
            score = line[column] * column_scale[column] + column_bias[column]
            if score > threshold or (score == threshold and row_offset + column < threshold_row):
                scores[0] = score
                rows[0] = row_offset + column
                _sift_down(scores, rows, k)
                threshold = scores[0]
                threshold_row = rows[0]
