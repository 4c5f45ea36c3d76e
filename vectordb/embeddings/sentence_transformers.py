"""``SentenceTransformerEmbeddings``: a model run in-process by an installed
sentence-transformers (and so torch). For a CPU-only model without torch, see
``LocalEmbeddings``.

The package is imported when the embedder is built (``MissingDependencyError`` saying how to
install it otherwise); the model is loaded at the first ``embed`` or ``dim``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.dependencies import require_module
from vectordb.embeddings.base import Embeddings, checked_texts
from vectordb.embeddings.http import EmbeddingMetrics, check_int, check_text
from vectordb.errors import EmbeddingError

__all__ = ["SentenceTransformerEmbeddings"]


class SentenceTransformerEmbeddings(Embeddings):
    """Embeddings from a sentence-transformers model run in this process.

    Parameters
    ----------
    model_name_or_path
        A model id on the Hugging Face Hub or a local directory, as
        ``sentence_transformers.SentenceTransformer`` takes it.
    device
        ``"cpu"``, ``"cuda"``, ...; None: sentence-transformers chooses.
    normalize_embeddings
        Scale every vector to unit length.
    batch_size
        Texts per forward pass.
    dim
        The length of the vectors if known (saves loading the model to learn it).

    Raises
    ------
    MissingDependencyError
        sentence-transformers is not installed.
    InvalidConfigError
        A parameter is out of range.

    Examples
    --------
    >>> embedder = SentenceTransformerEmbeddings("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> embedder.embed(["hello"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        device: str | None = None,
        normalize_embeddings: bool = False,
        batch_size: int = 32,
        dim: int | None = None,
    ) -> None:
        self._module = require_module(
            "sentence_transformers",
            extra="sentence-transformers",
            purpose="SentenceTransformerEmbeddings",
        )
        owner = "SentenceTransformerEmbeddings"
        check_text(owner, "model_name_or_path", model_name_or_path, what="a model id or directory")
        check_int(owner, "batch_size", batch_size, minimum=1)
        check_int(owner, "dim", dim, minimum=1, optional=True)
        self.model_name_or_path = model_name_or_path
        self.device = device
        self.normalize_embeddings = bool(normalize_embeddings)
        self.batch_size = batch_size
        self._dim = dim
        self.counters = EmbeddingMetrics()
        self._lock = threading.Lock()
        self._model: Any = None

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._module.SentenceTransformer(
                    self.model_name_or_path, device=self.device
                )
            return self._model

    @property
    def name(self) -> str:
        return f"sentence-transformers:{self.model_name_or_path}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self._loaded()
            # renamed in sentence-transformers 5
            getter = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            found = getter()
            if found is None:  # a model without a fixed size: ask it
                found = self.embed(["dimension probe"]).shape[1]
            self._dim = int(found)
        return self._dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``texts`` as a C-contiguous float32 ``(len(texts), dim)`` array, row i for text i.

        Parameters
        ----------
        texts
            One string or a sequence of them.

        Returns
        -------
        numpy.ndarray
            float32, shape ``(len(texts), dim)``.

        Raises
        ------
        InvalidArgumentError
            A text is not a string.
        EmbeddingError
            The model gave vectors of another shape than expected.
        """
        items = checked_texts(texts)
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        started = time.perf_counter()
        vectors = self._loaded().encode(
            items,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize_embeddings,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result = np.ascontiguousarray(np.asarray(vectors), dtype=np.float32)
        if result.ndim != 2 or result.shape[0] != len(items):
            raise EmbeddingError(
                f"{self.name} gave an array of shape {result.shape} for {len(items)} texts"
            )
        if self._dim is None:
            self._dim = int(result.shape[1])
        elif result.shape[1] != self._dim:
            raise EmbeddingError(
                f"{self.name} gave vectors of dim {result.shape[1]}, expected {self._dim}"
            )
        self.counters.add(
            texts=len(items),
            latency_seconds_sum=time.perf_counter() - started,
            latency_seconds_count=1,
        )
        return result

    def spec(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "model_name_or_path": self.model_name_or_path,
            "device": self.device,
            "normalize_embeddings": self.normalize_embeddings,
            "batch_size": self.batch_size,
            "dim": self._dim,
        }

    def metrics(self) -> dict[str, float]:
        """Texts embedded, forward-pass latency, cache hits and misses (``EmbeddingMetrics``)."""
        return self.counters.snapshot()
