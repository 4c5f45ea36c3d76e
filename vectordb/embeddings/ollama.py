"""``OllamaEmbeddings``: a model served by a local Ollama (``ollama pull <model>`` first).

Wire format: ``POST {base_url}/api/embed`` with ``{"model", "input": [texts], "truncate",
"keep_alive"?}``; the answer is ``{"embeddings": [[...], ...], "prompt_eval_count"?}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from typing_extensions import Unpack

from vectordb.embeddings.http import HttpEmbeddings, HttpOptions, check_text

__all__ = ["OllamaEmbeddings"]

OLLAMA_BASE_URL = "http://127.0.0.1:11434"


class OllamaEmbeddings(HttpEmbeddings):
    """Embeddings from a model an Ollama server runs.

    Parameters
    ----------
    model
        The model's name as Ollama knows it (``"nomic-embed-text"``).
    base_url
        The server, ``http://127.0.0.1:11434`` by default.
    truncate
        Cut texts longer than the model's context (Ollama's default); False: such a text is
        an error.
    keep_alive
        How long Ollama keeps the model loaded after the request (``"5m"``); None: its default.
    api_key_env
        For an Ollama behind a proxy that wants a bearer token; None by default.
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
    >>> embedder = OllamaEmbeddings("nomic-embed-text")  # doctest: +SKIP
    >>> embedder.embed(["hello"]).shape  # doctest: +SKIP
    (1, 768)
    """

    provider: ClassVar[str] = "ollama"
    default_max_batch_size: ClassVar[int] = 32

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OLLAMA_BASE_URL,
        truncate: bool = True,
        keep_alive: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        check_text("OllamaEmbeddings", "model", model, what="a model's name")
        super().__init__(base_url=base_url, api_key=api_key, api_key_env=api_key_env, **options)
        self.model = model
        self.truncate = bool(truncate)
        self.keep_alive = keep_alive

    @property
    def model_label(self) -> str:
        return self.model

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/api/embed"

    def _body(self, texts: list[str]) -> Any:
        body: dict[str, Any] = {"model": self.model, "input": texts, "truncate": self.truncate}
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        return body

    def _parse(self, answer: Any, headers: Mapping[str, str]) -> tuple[Any, int | None]:
        if not isinstance(answer, dict) or "embeddings" not in answer:
            raise ValueError('expected an object with "embeddings"')
        count = answer.get("prompt_eval_count")
        tokens = count if isinstance(count, int) and not isinstance(count, bool) else None
        return answer["embeddings"], tokens

    def _hint(self, status: int, batch_size: int) -> str:
        if status == 404:
            return f" (is the model pulled? ollama pull {self.model})"
        return super()._hint(status, batch_size)

    def _provider_parameters(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "truncate": self.truncate,
            "keep_alive": self.keep_alive,
        }
