"""``AttachedEmbedder``: a collection's embedding function as the collection uses it.

A collection created with ``embedding=`` stores the function's spec in its configuration.
Opening the database builds nothing: the function is built from the spec (or taken as the
caller gave it) on the first text the collection embeds, so an open imports no optional
package and contacts no provider. Its calls go through the database's embedding cache
(``cache/embeddings.sqlite``, derived data) when there is one, and every answer is checked
against the collection's ``dim``: a model whose vectors have another length is refused with
``DimensionMismatchError`` at its first call, before anything is written.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from vectordb.embeddings.base import Embeddings, embeddings_from_spec
from vectordb.errors import DimensionMismatchError, EmbeddingError, InvalidConfigError

if TYPE_CHECKING:  # the cache (and the HTTP helpers it uses) load on first use, not at import
    from vectordb.embeddings.cache import EmbeddingCache

__all__ = ["AttachedEmbedder", "Embedders", "same_spec", "spec_of"]


def spec_of(embedding: object) -> dict[str, Any]:
    """The spec a collection stores for ``embedding`` (an ``Embeddings`` or a spec)."""
    if isinstance(embedding, Embeddings):
        spec = embedding.spec()
    elif isinstance(embedding, Mapping):
        spec = dict(embedding)
    else:
        raise InvalidConfigError(
            "embedding must be an Embeddings (e.g. vectordb.embeddings.LocalEmbeddings()) or "
            f"its spec; got {type(embedding).__name__}"
        )
    if not isinstance(spec.get("class"), str):
        raise InvalidConfigError(f"an embedding spec is a mapping with a 'class'; got {spec!r}")
    return spec


def same_spec(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two specs describe the same vectors: equal but for the knobs that do not
    change them (timeouts, retries, batch sizes, prices: ``OPERATIONAL_KEYS``), so a
    collection can be reopened with another timeout or batch size."""

    from vectordb.embeddings.cache import OPERATIONAL_KEYS

    def meaning(spec: Mapping[str, Any]) -> str:
        kept = {key: value for key, value in spec.items() if key not in OPERATIONAL_KEYS}
        return json.dumps(kept, sort_keys=True)

    return meaning(a) == meaning(b)


class AttachedEmbedder:
    """The embedding function of one collection (see the module docstring).

    ``spec``: the stored spec; ``dim``: the collection's; ``collection``: its name, for
    messages; ``cache``: returns the database's ``EmbeddingCache`` (or None), called once
    when the function is first built; ``given``: the function the caller passed, used as it
    is instead of one built from the spec. Thread-safe.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        dim: int,
        collection: str,
        cache: Callable[[], EmbeddingCache | None],
        given: Embeddings | None = None,
    ) -> None:
        self.spec = dict(spec)
        self.dim = dim
        self.collection = collection
        self._cache = cache
        self._given = given
        self._built: Embeddings | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self._given is not None:
            return self._given.name
        model = self.spec.get("model") or self.spec.get("model_path") or self.spec.get("base_url")
        return f"{self.spec['class']}:{model}" if model else str(self.spec["class"])

    def function(self) -> Embeddings:
        """The embedding function, built (and wrapped in the cache) on first use."""
        with self._lock:
            if self._built is None:
                inner = self._given if self._given is not None else embeddings_from_spec(self.spec)
                cache = self._cache()
                if cache is None:
                    self._built = inner
                else:
                    from vectordb.embeddings.cache import CachedEmbeddings

                    self._built = CachedEmbeddings(inner, cache)
            return self._built

    def embed(self, texts: Sequence[str], what: str = "documents") -> npt.NDArray[np.float32]:
        """``texts`` embedded: float32 ``(len(texts), dim)``. ``DimensionMismatchError`` if
        the model's vectors are not ``dim`` long; ``EmbeddingError`` if it answered with
        something that is not one finite vector per text."""
        function = self.function()
        vectors = np.asarray(function.embed(list(texts)))
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise EmbeddingError(
                f"embedding model {function.name!r} returned shape {vectors.shape} for "
                f"{len(texts)} {what}"
            )
        if vectors.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"embedding model {function.name!r} returns vectors of length "
                f"{vectors.shape[1]}, but collection {self.collection!r} has dim {self.dim}; "
                "nothing was written. Use the model the collection was created with"
            )
        if not np.isfinite(vectors).all():
            raise EmbeddingError(
                f"embedding model {function.name!r} returned NaN or infinity for {what}"
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def metrics(self) -> dict[str, float]:
        """The function's counters (requests, texts, tokens, latency, errors, cache hits,
        estimated cost), empty before its first use or when it keeps none."""
        built = self._built
        reader = getattr(built, "metrics", None)
        if not callable(reader):
            return {}
        values: dict[str, float] = reader()
        return values

    def close(self) -> None:
        """Release the function's connections (when the database handle closes). An HTTP
        provider's client is created again on its next use, so closing one the caller gave
        does not stop the caller from using it elsewhere."""
        built, self._built = self._built, None
        if built is None:
            return
        inner = getattr(built, "embedder", built)  # the function inside CachedEmbeddings
        closer = getattr(inner, "close", None)
        if callable(closer):
            closer()


class Embedders:
    """The embedding functions of one database handle's collections, by collection uid,
    and the embedding cache they share (``cache_path``: opened on first use, read-only for
    a read-only handle, which then reads it and never writes it)."""

    def __init__(self, cache_path: Path, *, read_only: bool) -> None:
        self._cache_path = cache_path
        self._read_only = read_only
        self._attached: dict[str, AttachedEmbedder] = {}
        self._cache: EmbeddingCache | None = None
        self._lock = threading.Lock()

    def cache(self) -> EmbeddingCache:
        """The database's embedding cache (``EmbeddingCache`` in ``cache_path``)."""
        with self._lock:
            if self._cache is None:
                from vectordb.embeddings.cache import EmbeddingCache

                self._cache = EmbeddingCache(self._cache_path, read_only=self._read_only)
            return self._cache

    def attach(
        self, uid: str, name: str, spec: Mapping[str, Any], dim: int, given: Embeddings | None
    ) -> AttachedEmbedder:
        """The collection's embedder: ``given`` (the caller's function, which must have the
        stored ``spec``) or the one attached before, else one built from ``spec`` on use."""
        with self._lock:
            found = self._attached.get(uid)
            if given is None and found is not None:
                return found
            if found is not None:
                found.close()
            attached = AttachedEmbedder(spec, dim, name, self.cache, given)
            self._attached[uid] = attached
            return attached

    def metrics(self, names: Mapping[str, str]) -> list[dict[str, Any]]:
        """One entry per collection (``names``: uid -> name) whose embedder ran here:
        ``collection``, ``model`` and its counters."""
        with self._lock:
            attached = list(self._attached.items())
        entries = []
        for uid, embedder in attached:
            counters = embedder.metrics()
            if counters and uid in names:
                entries.append({"collection": names[uid], "model": embedder.name, **counters})
        return sorted(entries, key=lambda entry: str(entry["collection"]))

    def close(self) -> None:
        with self._lock:
            attached, self._attached = list(self._attached.values()), {}
            cache, self._cache = self._cache, None
        for embedder in attached:
            embedder.close()
        if cache is not None:
            cache.close()
