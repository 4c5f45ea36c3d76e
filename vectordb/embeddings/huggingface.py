"""``HuggingFaceEmbeddings``: a sentence-embedding model on Hugging Face's hosted inference
(the ``hf-inference`` provider behind ``router.huggingface.co``).

Wire format: ``POST {base_url}/models/{model}/pipeline/feature-extraction`` with
``{"inputs": [texts], "normalize"?, "truncate"?}`` and ``Authorization: Bearer $HF_TOKEN``;
the answer is ``[[...], ...]``. A model still loading answers 503 with ``estimated_time``,
which is honoured as a ``Retry-After``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from typing_extensions import Unpack

from vectordb.embeddings.http import HttpEmbeddings, HttpOptions, check_text

__all__ = ["HuggingFaceEmbeddings"]

HF_INFERENCE_URL = "https://router.huggingface.co/hf-inference"


class HuggingFaceEmbeddings(HttpEmbeddings):
    """Embeddings from Hugging Face's hosted inference.

    Parameters
    ----------
    model
        The model's repository id (``"sentence-transformers/all-MiniLM-L6-v2"``); it must be
        a sentence-embedding model (one vector per text, not per token).
    base_url
        The inference provider's URL, up to ``/models``.
    api_key
        The token itself; prefer ``api_key_env``. Never stored in ``spec()``.
    api_key_env
        The environment variable holding the token, read at every request (``HF_TOKEN``).
    normalize, truncate
        Ask for unit-length vectors / for long texts to be cut; None: the provider's default.
    **options
        The knobs of ``HttpEmbeddings`` (``dim``, ``timeout``, ``max_batch_size`` (32),
        ``max_concurrency``, ``max_retries``, ...).

    Raises
    ------
    MissingDependencyError
        httpx is not installed.
    InvalidConfigError
        A parameter is out of range.

    Examples
    --------
    >>> embedder = HuggingFaceEmbeddings("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> embedder.embed(["hello"]).shape  # doctest: +SKIP
    (1, 384)
    """

    provider: ClassVar[str] = "huggingface"
    default_max_batch_size: ClassVar[int] = 32

    def __init__(
        self,
        model: str,
        *,
        base_url: str = HF_INFERENCE_URL,
        api_key: str | None = None,
        api_key_env: str | None = "HF_TOKEN",
        normalize: bool | None = None,
        truncate: bool | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        check_text("HuggingFaceEmbeddings", "model", model, what="a repository id")
        super().__init__(base_url=base_url, api_key=api_key, api_key_env=api_key_env, **options)
        self.model = model
        self.normalize = normalize
        self.truncate = truncate

    @property
    def model_label(self) -> str:
        return self.model

    @property
    def endpoint(self) -> str:
        model = urllib.parse.quote(self.model.strip("/"), safe="/")
        return f"{self.base_url}/models/{model}/pipeline/feature-extraction"

    def _body(self, texts: list[str]) -> Any:
        body: dict[str, Any] = {"inputs": texts}
        if self.normalize is not None:
            body["normalize"] = self.normalize
        if self.truncate is not None:
            body["truncate"] = self.truncate
        return body

    def _parse(self, answer: Any, headers: Mapping[str, str]) -> tuple[Any, int | None]:
        if (
            isinstance(answer, list)
            and answer
            and isinstance(answer[0], list)
            and answer[0]
            and isinstance(answer[0][0], list)
        ):
            raise ValueError(
                f"{self.model} answers one vector per token, not per text: "
                "choose a sentence-embedding model"
            )
        return answer, None

    def _retry_after_from_body(self, status: int, answer: Any) -> float | None:
        if isinstance(answer, dict):
            estimate = answer.get("estimated_time")
            if isinstance(estimate, (int, float)) and not isinstance(estimate, bool):
                return max(0.0, float(estimate))
        return None

    def _provider_parameters(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "normalize": self.normalize,
            "truncate": self.truncate,
        }
