"""The filtered-search planner: which rows a filter allows, and how a search over them runs.

A filter's allowed rows (``AllowedRows``: a mask, the rows in order, their count) are
computed once per collection generation and cached, so an application repeating one filter
pays for it once. The plan (``docs/filters.md``):

- **exact scan of the matching rows** when the collection has no index, ``exact=True`` or
  ``mode="scalar"``, when few rows match (``<= 4k``), or when the index would need more
  candidates than a scan of the matches costs;
- **index with over-fetch**: the index is asked for ``4k / selectivity + 16`` candidates and
  the allowed ones kept; queries left with fewer than ``k`` get the exact scan. An IVF index
  takes over only for broad filters (selectivity >= 0.5), probing ``1 / selectivity`` more
  cells;
- **then a filtered graph walk** where the index ``supports_filtered_walk`` (HNSW) and the walk
  scores fewer vectors than the exact scan would: the queries left short walk the graph
  checking the filter at every node.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from vectordb.filters.evaluate import evaluate
from vectordb.filters.parse import Expression, filter_key
from vectordb.index.flat import SearchMode
from vectordb.index.jit import filtered_kernels_ready

if TYPE_CHECKING:
    from vectordb.engine.state import CollectionState

__all__ = ["AllowedRows", "FilterPlan", "allowed_rows", "matching_mask", "plan_filtered"]

EXACT = "exact scan of the matching rows"
OVER_FETCH = "index with over-fetch, exact fallback"
WALK = "index with over-fetch, then a filtered graph walk, exact fallback"

#: the graph serves a filter when the matches outnumber this many times its candidates
GRAPH_OVER_SCAN = 8
#: new neighbours a filtered walk scores per node it expands
WALK_SCORES_PER_NODE = 16
#: an IVF index serves filters at least this broad
BROAD_FILTER_IVF = 0.5
#: filters whose allowed rows a collection keeps until its next write
CACHED_FILTERS = 8


@dataclasses.dataclass(frozen=True, slots=True)
class AllowedRows:
    """The live rows a filter allows, three ways: a mask over the rows, the rows in
    ascending order, and their count."""

    mask: npt.NDArray[np.bool_]
    rows: npt.NDArray[np.int64]
    count: int


class FilterPlan(NamedTuple):
    """How a filtered search runs: ``kind`` (``EXACT``, ``OVER_FETCH`` or ``WALK``), why, the
    index kind (None without one), the matching rows, their share of the live records and
    the candidates the index is asked for (None for an exact scan). A tuple: one is made per
    filtered query, and a frozen dataclass takes 0.6 us to make, a tuple 0.25."""

    kind: str
    reason: str
    index_kind: str | None
    matches: int
    selectivity: float
    candidates: int | None

    def as_dict(self) -> dict[str, Any]:
        """What ``Collection.explain()`` returns."""
        return {"plan": self.kind, "reason": self.reason, "index": self.index_kind,
                "matches": self.matches, "selectivity": self.selectivity,
                "candidates": self.candidates}  # fmt: skip


def matching_mask(state: CollectionState, expression: Expression) -> npt.NDArray[np.bool_]:
    """Live rows ``0 .. n_rows - 1`` whose metadata match (caller holds the shared latch)."""
    store = state.store
    n = store.n_rows
    mask: npt.NDArray[np.bool_] = evaluate(expression, state.columns, store, n) & store.live[:n]
    return mask


def allowed_rows(state: CollectionState, expression: Expression) -> AllowedRows:
    """Live rows matching ``expression`` (caller holds the shared latch), from the cache of
    the last few filters until the next write."""
    key = filter_key(expression)
    cached = state.filter_masks.get(key)
    if cached is not None and cached[0] == state.generation:
        found: AllowedRows = cached[1]
        return found
    mask = matching_mask(state, expression)
    rows = np.flatnonzero(mask)
    found = AllowedRows(mask, rows, len(rows))
    if len(state.filter_masks) >= CACHED_FILTERS:
        state.filter_masks.clear()
    state.filter_masks[key] = (state.generation, found)
    return found


def plan_filtered(
    state: CollectionState,
    matches: int,
    k: int,
    exact: bool,
    mode: SearchMode,
    ef: int | None = None,
) -> FilterPlan:
    """How a filtered search with ``matches`` allowed rows runs, and why."""
    store = state.store
    live = max(store.count, 1)
    selectivity = matches / live
    kind = store.config.index
    index = state.index
    has_index = index is not None
    wanted = min(live, math.ceil(4 * k / max(selectivity, 1e-12)) + 16)
    use_index = False
    walk = False
    if index is None or exact or mode == "scalar":
        reason = "exact=True or mode='scalar'" if has_index else "the collection has no index"
    elif matches <= 4 * k:
        reason = f"only {matches} rows match"
    elif kind == "ivf":
        # an IVF probes a few cells: the allowed records near the query may all lie in
        # other cells, so it takes over only for broad filters, probing 1/selectivity more
        use_index = selectivity >= BROAD_FILTER_IVF
        reason = f"selectivity {selectivity:.3g} {'>=' if use_index else '<'} {BROAD_FILTER_IVF}"
    else:
        # a graph search costs about its candidate count, an exact scan its matching rows
        # (several times cheaper each): the graph only when the matches far outnumber
        # the candidates it would need
        use_index = matches > GRAPH_OVER_SCAN * wanted
        reason = (
            f"{matches} matching rows {'>' if use_index else '<='} {GRAPH_OVER_SCAN} x "
            f"{wanted} candidates"
        )
        if use_index and index.supports_filtered_walk:
            # queries whose candidates hold too few allowed rows (the filter excludes the
            # query's neighbourhood) walk the graph checking the filter at every node, which
            # scores about ef / selectivity nodes' neighbours, when that beats the exact scan
            breadth = max(k, index.walk_breadth(ef))
            visits = math.ceil(breadth / max(selectivity, 1e-12)) * WALK_SCORES_PER_NODE
            walk = matches > visits and (
                mode == "numba" or (mode == "auto" and filtered_kernels_ready())
            )
    plan = EXACT
    if use_index:
        plan = WALK if walk else OVER_FETCH
    return FilterPlan(plan, reason, kind if has_index else None, matches, selectivity,
                      None if plan == EXACT else wanted)  # fmt: skip
