"""``OpenAIEmbeddings``: OpenAI's embeddings API, and any server that speaks it (vLLM,
LM Studio, llama.cpp's server, LiteLLM, Azure-style gateways under an OpenAI-style URL).

Wire format: ``POST {base_url}/embeddings`` with
``{"model", "input": [texts], "encoding_format": "float", "dimensions"?}``; the answer is
``{"data": [{"index", "embedding"}], "usage": {"prompt_tokens", "total_tokens"}}``, its
``data`` put back in ``index`` order. At most 2048 inputs go in one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from typing_extensions import Unpack

from vectordb.embeddings.http import HttpEmbeddings, HttpOptions, check_int, check_text
from vectordb.errors import InvalidConfigError

__all__ = ["OpenAIEmbeddings"]

OPENAI_BASE_URL = "https://api.openai.com/v1"

#: the dim of OpenAI's models at their full size, so ``dim`` needs no request for them
KNOWN_DIMS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbeddings(HttpEmbeddings):
    """Embeddings from OpenAI, or from any server speaking its embeddings API.

    Parameters
    ----------
    model
        The model's name, ``"text-embedding-3-small"`` by default.
    base_url
        The API's URL up to ``/embeddings``; another server's for OpenAI-compatible ones.
    api_key
        The key itself; prefer ``api_key_env``. Never stored in ``spec()``.
    api_key_env
        The environment variable holding the key, read at every request; a server that
        needs no key is sent none when it is unset.
    dimensions
        Ask the model for shorter vectors (``text-embedding-3-*`` only); also the ``dim``.
    **options
        The knobs of ``HttpEmbeddings``: ``dim``, ``timeout``, ``max_batch_size`` (2048),
        ``max_concurrency``, ``max_retries``, ``retry_base_delay``, ``retry_max_delay``,
        ``breaker_threshold``, ``breaker_cooldown``, ``price_per_million_tokens``.

    Raises
    ------
    MissingDependencyError
        httpx is not installed.
    InvalidConfigError
        A parameter is out of range, or ``dim`` disagrees with ``dimensions``.

    Examples
    --------
    >>> embedder = OpenAIEmbeddings("text-embedding-3-small")  # doctest: +SKIP
    >>> embedder.embed(["hello", "world"]).shape  # doctest: +SKIP
    (2, 1536)
    """

    provider: ClassVar[str] = "openai"
    default_max_batch_size: ClassVar[int] = 2048

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        dimensions: int | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        check_text("OpenAIEmbeddings", "model", model, what="a model's name")
        check_int("OpenAIEmbeddings", "dimensions", dimensions, minimum=1, optional=True)
        if dimensions is not None:
            given = options.get("dim")
            if given is not None and given != dimensions:
                raise InvalidConfigError(
                    f"OpenAIEmbeddings: dim={given} disagrees with dimensions={dimensions}"
                )
            options["dim"] = dimensions
        elif options.get("dim") is None and model in KNOWN_DIMS:
            options["dim"] = KNOWN_DIMS[model]
        super().__init__(base_url=base_url, api_key=api_key, api_key_env=api_key_env, **options)
        self.model = model
        self.dimensions = dimensions

    @property
    def model_label(self) -> str:
        return self.model

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/embeddings"

    def _body(self, texts: list[str]) -> Any:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    def _parse(self, answer: Any, headers: Mapping[str, str]) -> tuple[Any, int | None]:
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            raise ValueError('expected an object with a "data" list')
        items = answer["data"]
        try:
            ordered = sorted(items, key=lambda item: item["index"])
            indexes = [item["index"] for item in ordered]
            vectors = [item["embedding"] for item in ordered]
        except (TypeError, KeyError):
            raise ValueError('every item of "data" needs an "index" and an "embedding"') from None
        if indexes != list(range(len(items))):
            raise ValueError(f'"data" indexes are not 0..{len(items) - 1}')
        usage = answer.get("usage")
        tokens = None
        if isinstance(usage, dict):
            count = usage.get("total_tokens", usage.get("prompt_tokens"))
            if isinstance(count, int) and not isinstance(count, bool):
                tokens = count
        return vectors, tokens

    def _provider_parameters(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, "dimensions": self.dimensions}
