"""Searches built on ``Collection.search``: a record's similarity to another,
recommendations from liked and disliked records, near-duplicate pairs, and hits grouped by
a metadata field. Each is a public ``Collection`` method that calls here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from vectordb.config import Metric
from vectordb.errors import IdNotFoundError, InvalidArgumentError
from vectordb.filters.columns import MISSING, value_at
from vectordb.inputs import checked_id, checked_ids, positive_int, quoted_ids
from vectordb.results import Hit, Record, Records, SearchResults, make_hit, stacked_vectors
from vectordb.search.options import check_radius, include_set

__all__ = ["find_duplicates", "recommend", "search_groups", "similarity"]


class Searchable(Protocol):
    """The part of a ``Collection`` the searches here are built on."""

    _metric: Metric

    @property
    def name(self) -> str: ...

    def __len__(self) -> int: ...

    def _get_many(
        self, ids: Sequence[str], included: frozenset[str] = ...
    ) -> list[Record | None]: ...

    def search(self, query: Any, *args: Any, **kwargs: Any) -> SearchResults: ...

    def search_batch(self, queries: Any, *args: Any, **kwargs: Any) -> list[SearchResults]: ...

    def scroll(
        self,
        where: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        *,
        include: Iterable[str] = ...,
    ) -> Iterator[Records]: ...


def similarity(collection: Searchable, id_a: str, id_b: str) -> float:
    """``Collection.similarity`` (its docstring says what it returns)."""
    id_a, id_b = checked_id(id_a), checked_id(id_b)
    records = collection._get_many([id_a, id_b])
    missing = [i for i, r in zip((id_a, id_b), records) if r is None]
    if missing:
        raise IdNotFoundError(f"no record {quoted_ids(missing)[1:-1]} in {collection.name!r}")
    a, b = (np.asarray(r.vector, np.float64) for r in records if r is not None)
    if collection._metric is Metric.EUCLIDEAN:
        return float(np.sqrt(((a - b) ** 2).sum()))
    dot = float(a @ b)
    if collection._metric is Metric.COSINE:
        norms = float(np.sqrt(a @ a) * np.sqrt(b @ b))
        return dot / norms if norms > 0 else 0.0
    return dot


def recommend(
    collection: Searchable,
    positive: Sequence[str],
    negative: Sequence[str] = (),
    k: int = 10,
    *,
    where: Mapping[str, Any] | None = None,
    include: Iterable[str] | None = None,
) -> SearchResults:
    """``Collection.recommend`` (its docstring says what it returns)."""
    if isinstance(positive, str):
        positive = [positive]
    if not positive:
        raise InvalidArgumentError("recommend() needs at least one positive id")
    positive_ids = checked_ids(positive, None, allow_repeats=True)
    negative_ids = checked_ids(negative, None, allow_repeats=True) if negative else []
    positive_int("k", k)
    records = collection._get_many([*positive_ids, *negative_ids])
    missing = [i for i, r in zip([*positive_ids, *negative_ids], records) if r is None]
    if missing:
        raise IdNotFoundError(f"{len(missing)} id(s) not stored, e.g. {quoted_ids(missing)}")
    vectors = np.array([r.vector for r in records if r is not None], np.float64)
    mean_positive = vectors[: len(positive_ids)].mean(axis=0)
    query = mean_positive
    if negative_ids:
        query = 2 * mean_positive - vectors[len(positive_ids) :].mean(axis=0)
    given = set(positive_ids) | set(negative_ids)
    hits = collection.search(query.astype(np.float32), k=k + len(given), where=where,
                       include=include)  # fmt: skip
    return SearchResults([hit for hit in hits if hit.id not in given][:k])


def find_duplicates(
    collection: Searchable,
    threshold: float,
    *,
    k: int = 10,
    where: Mapping[str, Any] | None = None,
    batch_size: int = 1024,
) -> list[tuple[str, str, float]]:
    """``Collection.find_duplicates`` (its docstring says what it returns)."""
    check_radius(threshold)
    positive_int("k", k)
    positive_int("batch_size", batch_size)
    euclidean = collection._metric is Metric.EUCLIDEAN
    pairs: dict[tuple[str, str], float] = {}
    for records in collection.scroll(where=where, batch_size=batch_size):
        queries = stacked_vectors(records)
        found = collection.search_batch(
            queries, k=k + 1, where=where, radius=float(threshold), include=()
        )
        for record, hits in zip(records, found):
            for hit in hits:
                if hit.id == record.id:
                    continue
                pair = (record.id, hit.id) if record.id < hit.id else (hit.id, record.id)
                best = pairs.get(pair)
                if best is None or (hit.score < best if euclidean else hit.score > best):
                    pairs[pair] = hit.score
    ordered = sorted(pairs.items(), key=lambda item: item[1], reverse=not euclidean)
    return [(a, b, score) for (a, b), score in ordered]


def search_groups(
    collection: Searchable,
    query: Any,
    group_by: str,
    k: int = 10,
    *,
    group_size: int = 1,
    where: Mapping[str, Any] | None = None,
    include: Iterable[str] | None = None,
) -> list[tuple[Any, SearchResults]]:
    """``Collection.search_groups`` (its docstring says what it returns)."""
    positive_int("k", k)
    positive_int("group_size", group_size)
    field: object = group_by
    if not isinstance(field, str) or not field:
        raise InvalidArgumentError(f"group_by must be a field name; got {group_by!r}")
    path = tuple(group_by.split("."))
    fetch = k * group_size * 4
    # the metadata is needed to group; the document when asked for (or by default, if any)
    asked = include_set(include)
    needed = None if include is None else tuple(asked | {"metadata"})
    while True:
        hits = collection.search(query, k=fetch, where=where, include=needed)
        groups: dict[Any, list[Hit]] = {}
        for hit in hits:
            value = value_at(hit.metadata, path)
            if value is MISSING:
                continue
            key = repr(value) if isinstance(value, (list, dict)) else value
            members = groups.setdefault(key, [])
            if len(members) < group_size:
                members.append(hit)
        full = sum(1 for members in groups.values() if len(members) == group_size)
        if full >= k or len(hits) < fetch or fetch >= len(collection):
            break
        fetch *= 4
    keep_metadata = "metadata" in asked
    result = []
    for key, members in list(groups.items())[:k]:
        if not keep_metadata:
            members = [make_hit(h.id, h.score, None, h.vector, h.document) for h in members]
        result.append((key, SearchResults(members)))
    return result
