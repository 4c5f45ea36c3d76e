"""What every embedding function is: texts in, float32 vectors out, described by a spec.

An embedding function has a ``name`` (``"openai:text-embedding-3-small"``), a ``dim`` (the
length of its vectors; a provider whose model does not say may learn it from its first
answer) and ``embed(texts) -> float32 (n, dim)``. ``spec()`` is a JSON-able description
without secrets (the class and its non-secret parameters: an API key is named by the
environment variable that holds it, never stored), from which ``embeddings_from_spec``
builds the same function again: a collection stores its embedder's spec, so reopening it
gives the same embedder.

Nothing here imports an optional package; each provider module imports its own (httpx,
tokenizers, safetensors) when it is built, and a missing one raises
``MissingDependencyError`` with the exact ``pip install`` command.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.errors import InvalidArgumentError, InvalidConfigError

__all__ = ["PROVIDERS", "Embeddings", "checked_texts", "embeddings_from_spec"]

#: class name -> "module:attribute", imported on demand by ``embeddings_from_spec``
PROVIDERS: dict[str, str] = {
    "LocalEmbeddings": "vectordb.embeddings.local:LocalEmbeddings",
    "OpenAIEmbeddings": "vectordb.embeddings.openai:OpenAIEmbeddings",
    "OllamaEmbeddings": "vectordb.embeddings.ollama:OllamaEmbeddings",
    "TEIEmbeddings": "vectordb.embeddings.tei:TEIEmbeddings",
    "HuggingFaceEmbeddings": "vectordb.embeddings.huggingface:HuggingFaceEmbeddings",
    "SentenceTransformerEmbeddings": (
        "vectordb.embeddings.sentence_transformers:SentenceTransformerEmbeddings"
    ),
}


class Embeddings(abc.ABC):
    """The base of every embedding function (see the module docstring)."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """``"<provider>:<model>"``, for messages and metrics."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The length of the vectors ``embed`` returns."""

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``texts`` as a C-contiguous float32 ``(len(texts), dim)`` array, row i for text i."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """A JSON-able description without secrets: ``{"class": ..., <parameters>}``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def embeddings_from_spec(spec: object) -> Embeddings:
    """The embedding function ``spec`` describes (as ``Embeddings.spec()`` wrote it)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("class"), str):
        raise InvalidConfigError(f"an embedding spec is a mapping with a 'class'; got {spec!r}")
    target = PROVIDERS.get(spec["class"])
    if target is None:
        raise InvalidConfigError(
            f"unknown embedding class {spec['class']!r}; known: {sorted(PROVIDERS)}"
        )
    module_name, _, attribute = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attribute)
    parameters = {key: value for key, value in spec.items() if key != "class"}
    try:
        built: Embeddings = cls(**parameters)
    except TypeError as error:
        raise InvalidConfigError(f"embedding spec {dict(spec)!r}: {error}") from None
    return built


def checked_texts(texts: Any) -> list[str]:
    """``texts`` (one string or a sequence of them) as a list of str;
    ``InvalidArgumentError`` naming the first that is not a string."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, Mapping)) or not isinstance(texts, (Sequence, np.ndarray)):
        raise InvalidArgumentError(
            f"texts must be a string or a sequence of strings; got {type(texts).__name__}"
        )
    listed = list(texts.tolist() if isinstance(texts, np.ndarray) else texts)
    for position, text in enumerate(listed):
        if not isinstance(text, str):
            raise InvalidArgumentError(
                f"text at position {position} is a {type(text).__name__}; texts must be strings"
            )
    return [str(text) for text in listed]
