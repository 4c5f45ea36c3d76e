"""Hybrid search's fusion: the retrieval kinds of a ``str`` query, and how a hybrid search
fuses its vector and keyword lists (``vectordb.search.by_text`` runs them).

``query_type``:

- ``"vector"``: the query is embedded by the collection's embedding function and searched
  like any vector (every index, filter and mode applies);
- ``"keyword"``: BM25 over the documents (``vectordb.index.keywords``), ``where=`` applied
  inside: the best ``k`` among the matching records;
- ``"hybrid"``: both, each asked for ``HYBRID_DEPTH`` candidates (at least ``k``), fused.

Fusion (``fusion=``):

- ``"convex"`` (the default): each list's scores are min-max normalised to 0..1 over its
  candidates (best 1; a list of one hit gives it 1), a hit missing from a list scores 0
  there, and the fused score is ``vector_weight * vector + (1 - vector_weight) * keyword``.
  Bruch et al. (2023, "An Analysis of Fusion Functions for Hybrid Retrieval") found it
  better than rank fusion; on our labelled man-page set it is too (benchmarks/README.md),
  which also chose ``DEFAULT_VECTOR_WEIGHT`` on a development split.
- ``"rrf"``: reciprocal rank fusion, ``sum(weight / (60 + rank))`` over the lists (rank from
  1), LanceDB's default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

from vectordb.config import Metric
from vectordb.errors import InvalidArgumentError
from vectordb.results import Hit, SearchResults, make_hit

__all__ = [
    "DEFAULT_VECTOR_WEIGHT", "FUSIONS", "HYBRID_DEPTH", "QUERY_TYPES", "RRF_K", "Fused",
    "checked_fusion", "fuse",
]  # fmt: skip

QueryType = Literal["vector", "keyword", "hybrid"]
QUERY_TYPES = ("vector", "keyword", "hybrid")
FUSIONS = ("convex", "rrf")
#: the convex combination's weight of the vector side, chosen on the labelled set's dev split
DEFAULT_VECTOR_WEIGHT = 0.6
#: candidates each side of a hybrid search contributes (at least ``k``)
HYBRID_DEPTH = 50
#: reciprocal rank fusion's constant
RRF_K = 60


class Fused(NamedTuple):
    """One hit of a hybrid search, with where it came from: ranks from 1 (None: not in
    that list) and raw scores (cosine similarity, dot product or distance; BM25)."""

    hit: Hit
    score: float
    vector_rank: int | None
    vector_score: float | None
    keyword_rank: int | None
    keyword_score: float | None

    def explained(self) -> dict[str, object]:
        return {
            "id": self.hit.id,
            "score": self.score,
            "vector_rank": self.vector_rank,
            "vector_score": self.vector_score,
            "keyword_rank": self.keyword_rank,
            "keyword_score": self.keyword_score,
        }


def checked_fusion(fusion: object, vector_weight: object) -> tuple[str, float]:
    """``(fusion, vector_weight)`` checked, the weight defaulted."""
    if fusion not in FUSIONS:
        raise InvalidArgumentError(f"fusion must be one of {list(FUSIONS)}; got {fusion!r}")
    if vector_weight is None:
        return str(fusion), DEFAULT_VECTOR_WEIGHT
    if (
        isinstance(vector_weight, bool)
        or not isinstance(vector_weight, (int, float))
        or not 0.0 <= float(vector_weight) <= 1.0
    ):
        raise InvalidArgumentError(
            f"vector_weight must be a number from 0 to 1; got {vector_weight!r}"
        )
    return str(fusion), float(vector_weight)


def _normalised(scores: Sequence[float], higher_is_better: bool) -> list[float]:
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if not math.isfinite(high - low) or high == low:
        return [1.0] * len(scores)
    if higher_is_better:
        return [(score - low) / (high - low) for score in scores]
    return [(high - score) / (high - low) for score in scores]


def fuse(
    vector_hits: Sequence[Hit],
    keyword_hits: Sequence[Hit],
    k: int,
    *,
    metric: Metric,
    fusion: str,
    vector_weight: float,
) -> list[Fused]:
    """The best ``k`` of two ranked lists fused (see the module docstring); a hit's
    metadata, vector and document are taken from whichever list has it."""
    by_id: dict[str, dict[str, object]] = {}
    higher = metric is not Metric.EUCLIDEAN
    sides = (
        ("vector", vector_hits, vector_weight, _normalised([h.score for h in vector_hits], higher)),
        ("keyword", keyword_hits, 1.0 - vector_weight,
         _normalised([h.score for h in keyword_hits], True)),
    )  # fmt: skip
    for side, hits, weight, normalised in sides:
        for rank, (hit, norm) in enumerate(zip(hits, normalised), start=1):
            entry = by_id.setdefault(hit.id, {"hit": hit, "score": 0.0})
            entry[f"{side}_rank"] = rank
            entry[f"{side}_score"] = hit.score
            share = weight * norm if fusion == "convex" else weight / (RRF_K + rank)
            entry["score"] = float(entry["score"]) + share  # type: ignore[arg-type]
    fused = [
        Fused(
            hit=entry["hit"],  # type: ignore[arg-type]
            score=float(entry["score"]),  # type: ignore[arg-type]
            vector_rank=entry.get("vector_rank"),  # type: ignore[arg-type]
            vector_score=entry.get("vector_score"),  # type: ignore[arg-type]
            keyword_rank=entry.get("keyword_rank"),  # type: ignore[arg-type]
            keyword_score=entry.get("keyword_score"),  # type: ignore[arg-type]
        )
        for entry in by_id.values()
    ]
    # ties: the better vector rank first, then the better keyword rank (stable, deterministic)
    fused.sort(key=lambda f: (-f.score, f.vector_rank or 1 << 30, f.keyword_rank or 1 << 30))
    return fused[:k]


def results(fused: Sequence[Fused]) -> SearchResults:
    """The fused hits, each with its fused score."""
    return SearchResults(
        [make_hit(f.hit.id, f.score, f.hit.metadata, f.hit.vector, f.hit.document) for f in fused]
    )
