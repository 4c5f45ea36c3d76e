"""Embedding functions: texts to vectors, from a hosted API, a local server, or fully
offline on the CPU (``LocalEmbeddings``, no torch).

``from vectordb.embeddings import OpenAIEmbeddings`` imports only that provider's module;
none of them imports its optional packages before it is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from vectordb.embeddings.base import PROVIDERS, Embeddings, embeddings_from_spec

__all__ = [
    "CachedEmbeddings",
    "EmbeddingCache",
    "Embeddings",
    "HuggingFaceEmbeddings",
    "LocalEmbeddings",
    "OllamaEmbeddings",
    "OpenAIEmbeddings",
    "SentenceTransformerEmbeddings",
    "TEIEmbeddings",
    "embeddings_from_spec",
]


_HELPERS = {
    "CachedEmbeddings": "vectordb.embeddings.cache:CachedEmbeddings",
    "EmbeddingCache": "vectordb.embeddings.cache:EmbeddingCache",
}


def __getattr__(name: str) -> Any:
    target = PROVIDERS.get(name) or _HELPERS.get(name)
    if target is None:
        raise AttributeError(f"module 'vectordb.embeddings' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
