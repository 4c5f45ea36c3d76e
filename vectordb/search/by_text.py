"""Searches of a text on a ``Collection``: which retrieval kind runs (``query_type``), the
query's embedding, the keyword search, and the hybrid of both (``vectordb.search.fusion`` fuses
them). ``Collection.search``, ``search_batch`` and ``explain`` call here for ``str`` queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from vectordb.config import Metric
from vectordb.errors import InvalidArgumentError
from vectordb.inputs import positive_int
from vectordb.results import SearchResults
from vectordb.search import fusion as fusion_functions
from vectordb.search.fusion import QUERY_TYPES, Fused, QueryType

if TYPE_CHECKING:
    from vectordb.embeddings.attached import AttachedEmbedder

__all__ = ["explain_text", "search_text", "search_texts"]


class TextSearchable(Protocol):
    """The part of a ``Collection`` a text search is built on."""

    _metric: Metric

    @property
    def name(self) -> str: ...

    @property
    def has_documents(self) -> bool: ...

    def _attached_embedder(self) -> AttachedEmbedder | None: ...

    def search(self, query: Any, *args: Any, **kwargs: Any) -> SearchResults: ...

    def explain(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...

    def _text_sides(
        self,
        text: str,
        k: int,
        where: Mapping[str, Any] | None,
        include: Iterable[str] | None,
        vector: Any = None,
        **vector_options: Any,
    ) -> tuple[SearchResults | None, SearchResults]: ...


def required_embedder(collection: TextSearchable, what: str) -> AttachedEmbedder:
    """The collection's embedding function; ``InvalidArgumentError`` without one."""
    embedder = collection._attached_embedder()
    if embedder is None:
        raise InvalidArgumentError(
            f"collection {collection.name!r} has no embedding function, so {what} needs "
            "vectors; create the collection with embedding= (vectordb.embeddings) to embed text"
        )
    return embedder


def query_type_for(collection: TextSearchable, query_type: object) -> QueryType:
    """``query_type`` checked, or the default for this collection's text queries."""
    if query_type is not None and query_type not in QUERY_TYPES:
        raise InvalidArgumentError(
            f"query_type must be one of {list(QUERY_TYPES)}; got {query_type!r}"
        )
    has_embedder = collection._attached_embedder() is not None
    if query_type is None:
        if not has_embedder:
            return "keyword"
        return "hybrid" if collection.has_documents else "vector"
    if query_type != "keyword" and not has_embedder:
        raise InvalidArgumentError(
            f"collection {collection.name!r} has no embedding function, so a text query can "
            f"only be searched with query_type='keyword', not {query_type!r}; create the "
            "collection with embedding= (vectordb.embeddings) to search by meaning"
        )
    return cast("QueryType", query_type)


def search_text(
    collection: TextSearchable,
    text: str,
    k: int,
    query_type: QueryType | None,
    fusion: str,
    vector_weight: float | None,
    *,
    where: Mapping[str, Any] | None,
    include: Iterable[str] | None,
    radius: float | None,
    **vector_options: Any,
) -> SearchResults:
    """``Collection.search`` of a text: vector, keyword or hybrid."""
    kind = query_type_for(collection, query_type)
    fusion_functions.checked_fusion(fusion, vector_weight)  # refused whichever kind runs
    if kind == "vector":
        vector = required_embedder(collection, "search(query_type='vector')").embed(
            [text], "query"
        )
        return collection.search(vector[0], k, where=where, include=include, radius=radius,
                                 **vector_options)  # fmt: skip
    if radius is not None:
        raise InvalidArgumentError(f"radius= is for vector searches, not {kind!r} ones")
    if kind == "keyword":
        return collection._text_sides(text, k, where, include)[1]
    fused = hybrid(collection, text, k, fusion, vector_weight, where, include, vector_options)
    return fusion_functions.results(fused)


def hybrid(
    collection: TextSearchable,
    text: str,
    k: int,
    fusion: str,
    vector_weight: float | None,
    where: Mapping[str, Any] | None,
    include: Iterable[str] | None,
    vector_options: Mapping[str, Any],
) -> list[Fused]:
    """The fused hits of a hybrid search (with each side's rank and score): each side asked
    for ``HYBRID_DEPTH`` candidates (at least ``k``), both read in one snapshot."""
    fusion, weight = fusion_functions.checked_fusion(fusion, vector_weight)
    positive_int("k", k)
    depth = max(int(k), fusion_functions.HYBRID_DEPTH)
    embedder = required_embedder(collection, "search(query_type='hybrid')")
    vector = embedder.embed([text], "query")[0]
    by_vector, by_keyword = collection._text_sides(
        text, depth, where, include, vector, **vector_options
    )
    assert by_vector is not None
    return fusion_functions.fuse(by_vector, by_keyword, int(k), metric=collection._metric,
                                 fusion=fusion, vector_weight=weight)  # fmt: skip


def search_texts(
    collection: TextSearchable,
    texts: Sequence[str],
    k: int,
    query_type: QueryType | None,
    fusion: str,
    vector_weight: float | None,
    **options: Any,
) -> list[SearchResults]:
    """``search_batch`` of texts: one embedding call for all of them (so the cache answers
    each search's), then each search."""
    kind = query_type_for(collection, query_type)
    if kind != "keyword":
        required_embedder(collection, f"search_batch(query_type={kind!r})").embed(
            list(texts), "queries"
        )
    return [
        collection.search(
            text, k, query_type=kind, fusion=fusion, vector_weight=vector_weight, **options
        )
        for text in texts
    ]


def explain_text(
    collection: TextSearchable,
    query: str,
    k: int,
    where: Mapping[str, Any] | None,
    query_type: QueryType | None,
    fusion: str,
    vector_weight: float | None,
) -> dict[str, Any]:
    """``explain(query=...)``: the text search's hits, each with its ranks and scores."""
    if not isinstance(query, str):
        raise InvalidArgumentError(f"explain(query=) takes a text; got {type(query).__name__}")
    explained: dict[str, Any] = {} if where is None else collection.explain(where, k)
    kind = query_type_for(collection, query_type)
    explained["query_type"] = kind
    if kind == "hybrid":
        fusion, weight = fusion_functions.checked_fusion(fusion, vector_weight)
        fused = hybrid(collection, query, k, fusion, weight, where, (), {})
        explained.update(fusion=fusion, vector_weight=weight,
                         hits=[item.explained() for item in fused])  # fmt: skip
        return explained
    hits = collection.search(query, k, where=where, include=(), query_type=kind)
    side, other = ("vector", "keyword") if kind == "vector" else ("keyword", "vector")
    explained["hits"] = [
        {"id": hit.id, "score": hit.score, f"{side}_rank": rank, f"{side}_score": hit.score,
         f"{other}_rank": None, f"{other}_score": None}
        for rank, hit in enumerate(hits, start=1)
    ]  # fmt: skip
    return explained
