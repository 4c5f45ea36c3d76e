"""Running a search over one collection's state: the index, an exact scan, or a filter's
plan (``planner.py``), and the hits it returns. Every function here is called with the
collection's shared latch held, so the rows, their ids and the index stay as they are.

Every hit is checked against its row's checksum before it is returned, whichever path
ranked it (``CollectionStore.verify_rows``): no search returns or ranks a damaged vector
without saying so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
import numpy.typing as npt

from vectordb.config import Metric
from vectordb.filters.evaluate import reference_match
from vectordb.filters.parse import Expression
from vectordb.index.base import SearchKnobs
from vectordb.index.flat import SearchMode, answer_again, exact_search, subset_search
from vectordb.results import Hit, Record, SearchResults, make_hit
from vectordb.search.options import AUTO_DOCUMENT
from vectordb.search.planner import (
    EXACT,
    WALK,
    AllowedRows,
    allowed_rows,
    matching_mask,
    plan_filtered,
)

if TYPE_CHECKING:
    from vectordb.engine.state import CollectionState
    from vectordb.engine.transaction import PendingWrites
    from vectordb.storage.collection_store import CollectionStore

__all__ = ["filtered", "hits", "search_rows", "within"]


def search_rows(
    state: CollectionState,
    metric: Metric,
    matrix: npt.NDArray[np.float32],
    k: int,
    included: frozenset[str],
    expression: Expression | None,
    knobs: SearchKnobs,
    exact: bool,
    mode: SearchMode,
) -> list[SearchResults]:
    """The best ``k`` hits of each query: through the filter's plan, the index, or an exact
    scan (no index, ``exact``, or ``mode="scalar"``)."""
    store = state.store
    n = store.n_rows
    index = state.index
    rows: Any
    scores: Any
    if expression is not None:
        allowed = allowed_rows(state, expression)
        rows, scores = filtered(state, metric, matrix, k, allowed, knobs, exact, mode)
    elif index is not None and not exact and mode != "scalar":
        rows, scores = index.search(matrix, k, knobs)
    else:
        rows, scores = exact_search(
            store.vectors.rows[:n], store.live[:n], store.sq_norms[:n], matrix, k, metric,
            mode=mode, threads=state.threads,
        )  # fmt: skip
    return [
        hits(store, row_line, score_line, included) for row_line, score_line in zip(rows, scores)
    ]


def text_hits(
    state: CollectionState,
    metric: Metric,
    text: str,
    k: int,
    included: frozenset[str],
    expression: Expression | None,
    matrix: npt.NDArray[np.float32] | None = None,
    knobs: SearchKnobs | None = None,
    exact: bool = False,
    mode: SearchMode = "auto",
) -> tuple[SearchResults | None, SearchResults]:
    """The best ``k`` keyword (BM25) hits of ``text`` among the rows ``expression`` allows
    and, given the query vector ``matrix`` (one row), its best ``k`` vector hits: both sides
    of a hybrid search, from the same snapshot (caller holds the shared latch)."""
    by_vector = None
    if matrix is not None:
        assert knobs is not None
        by_vector = search_rows(state, metric, matrix, k, included, expression, knobs, exact,
                                mode)[0]  # fmt: skip
    allowed = None if expression is None else allowed_rows(state, expression).mask
    rows, scores = state.keywords.search(text, k, allowed)
    return by_vector, hits(state.store, rows, scores, included)


def filtered(
    state: CollectionState,
    metric: Metric,
    matrix: npt.NDArray[np.float32],
    k: int,
    allowed: AllowedRows,
    knobs: SearchKnobs,
    exact: bool,
    mode: SearchMode,
) -> tuple[list[Any], list[Any]]:
    """The best ``k`` allowed rows per query, as the filter's plan says; any query the index
    leaves with fewer than ``k`` of them (when that many match) gets the walk, then the
    exact scan."""
    matches = allowed.count
    if matches == 0:
        empty_rows = [np.zeros(0, np.int64) for _ in range(len(matrix))]
        return empty_rows, [np.zeros(0, np.float64) for _ in range(len(matrix))]
    plan = plan_filtered(state, matches, k, exact, mode, knobs.ef)
    index = state.index
    if plan.kind == EXACT or index is None:
        return _exact_subset(state, metric, matrix, k, allowed, mode)
    assert plan.candidates is not None
    nprobe = knobs.nprobe or index.default_nprobe()
    if plan.index_kind == "ivf" and nprobe:  # None until trained: the exact fallback answers
        knobs = SearchKnobs(ef=knobs.ef, mode=knobs.mode,
                            nprobe=int(np.ceil(nprobe / plan.selectivity)))  # fmt: skip
    rows, scores = index.search(matrix, plan.candidates, knobs)
    mask = allowed.mask
    out_rows, out_scores, short = [], [], []
    for position, (line, line_scores) in enumerate(zip(rows, scores)):
        keep = mask[line]
        kept_rows, kept_scores = line[keep][:k], line_scores[keep][:k]
        out_rows.append(kept_rows)
        out_scores.append(kept_scores)
        if len(kept_rows) < min(k, matches):
            short.append(position)
    if short and plan.kind == WALK:
        walked = index.filtered_search(matrix[short], k, allowed.mask, allowed.rows, knobs)
        if walked is not None:
            answer_again(out_rows, out_scores, short, walked)
            short = [i for i in short if len(out_rows[i]) < min(k, matches)]
    if short:
        scanned = _exact_subset(state, metric, matrix[short], k, allowed, mode)
        answer_again(out_rows, out_scores, short, scanned)
    return out_rows, out_scores


def _exact_subset(
    state: CollectionState,
    metric: Metric,
    matrix: npt.NDArray[np.float32],
    k: int,
    allowed: AllowedRows,
    mode: SearchMode,
) -> tuple[Any, Any]:
    store = state.store
    n = store.n_rows
    return subset_search(store.vectors.rows[:n], store.sq_norms[:n], allowed.mask, allowed.rows,
                         matrix, k, metric, mode=mode, threads=state.threads)  # fmt: skip


def hits(
    store: CollectionStore,
    row_array: npt.NDArray[np.int64],
    score_array: npt.NDArray[Any],
    included: frozenset[str],
) -> SearchResults:
    """The hits of one query's rows and scores, carrying the fields ``included`` names."""
    # never a hit (or its vector) from bytes that fail their checksum, whichever index
    # ranked it: CorruptionError names the row (~1 us for 10 hits, compiled)
    store.verify_rows(row_array)
    rows, scores = row_array.tolist(), score_array.tolist()
    ids = store.row_ids
    if not included:
        return SearchResults([make_hit(ids[row], score) for row, score in zip(rows, scores)])
    with_metadata = "metadata" in included
    with_vector = "vector" in included
    with_document = "document" in included or (AUTO_DOCUMENT in included and store.has_documents)
    vectors = store.vectors.rows
    if not with_document:
        return SearchResults(
            [
                make_hit(
                    ids[row],
                    score,
                    store.metadata(row) if with_metadata else None,
                    vectors[row].copy() if with_vector else None,
                )
                for row, score in zip(rows, scores)
            ]
        )
    document = store.document
    return SearchResults(
        [
            make_hit(
                ids[row],
                score,
                store.metadata(row) if with_metadata else None,
                vectors[row].copy() if with_vector else None,
                document(row),
            )
            for row, score in zip(rows, scores)
        ]
    )


def within(found: list[Hit], radius: float, metric: Metric) -> SearchResults:
    """The hits at least ``radius`` alike (euclidean: at most ``radius`` away)."""
    if metric is Metric.EUCLIDEAN:
        return SearchResults([hit for hit in found if hit.score <= radius])
    return SearchResults([hit for hit in found if hit.score >= radius])


def records(
    state: CollectionState, id_list: list[str], included: frozenset[str]
) -> list[Record | None]:
    """The records stored under ``id_list`` (None where an id is not stored) carrying the
    fields ``included`` names; vectors only from rows whose checksums hold."""
    with_vector = "vector" in included
    with_metadata = "metadata" in included
    with_document = "document" in included
    with state.latch.read():
        store = state.store
        row_of = store.row_of
        rows = [row_of.get(vector_id) for vector_id in id_list]
        if with_vector:
            store.verify_rows([row for row in rows if row is not None])
        vectors = store.vectors.rows
        return [
            None
            if row is None
            else Record(
                vector_id,
                vectors[row].copy() if with_vector else None,
                store.metadata(row) if with_metadata else None,
                store.document(row) if with_document else None,
            )
            for vector_id, row in zip(id_list, rows)
        ]


def matching_ids(
    state: CollectionState,
    expression: Expression | None,
    *,
    from_row: int = 0,
    skip: int = 0,
    limit: int | None = None,
) -> tuple[list[str], int]:
    """The ids of the records matching ``expression`` (every record for None) in storage
    order, from row ``from_row`` on, after skipping ``skip`` matches, at most ``limit``; and
    the row after the last one returned (a cursor that never repeats a record)."""
    with state.latch.read():
        store = state.store
        n = store.n_rows
        if from_row >= n:
            return [], n
        if expression is None:
            mask = store.live[from_row:n]
        else:
            mask = matching_mask(state, expression)[from_row:n]
        end = None if limit is None else skip + limit
        rows = (np.flatnonzero(mask)[skip:end] + from_row).tolist()
        ids = [store.row_ids[row] for row in rows]
    return ids, (rows[-1] + 1 if rows else n)


def ids_to_write(
    state: CollectionState, expression: Expression, pending: PendingWrites | None
) -> list[str]:
    """The ids of the records matching ``expression`` for a write (``update`` / ``delete``
    with ``where=``; the caller holds the writer lock): inside a transaction (``pending``),
    as its earlier writes leave the collection."""
    store = state.store
    with state.latch.read():
        mask = matching_mask(state, expression)
        id_list = [store.row_ids[row] for row in np.flatnonzero(mask).tolist()]
    if pending is None:
        return id_list
    gone = pending.deleted()
    written = dict(pending.written())
    kept = [i for i in id_list if i not in gone and i not in written]
    for vector_id, blob in written.items():
        metadata = msgpack.unpackb(blob, raw=False) if blob else None
        if reference_match(expression, metadata):
            kept.append(vector_id)
    return kept
