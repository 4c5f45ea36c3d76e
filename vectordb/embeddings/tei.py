"""``TEIEmbeddings``: a Hugging Face text-embeddings-inference (TEI) server, self-hosted or an
Inference Endpoint running it.

Wire format: ``POST {base_url}/embed`` with ``{"inputs": [texts], "normalize", "truncate"}``;
the answer is ``[[...], ...]``, one vector per input, and the ``x-compute-tokens`` header
counts the tokens. The server refuses (413) batches larger than its
``--max-client-batch-size`` (32 by default), which is why ``max_batch_size`` defaults to 32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from typing_extensions import Unpack

from vectordb.embeddings.http import HttpEmbeddings, HttpOptions, redact_url

__all__ = ["TEIEmbeddings"]


class TEIEmbeddings(HttpEmbeddings):
    """Embeddings from a text-embeddings-inference server.

    Parameters
    ----------
    base_url
        The server (``http://127.0.0.1:8080``).
    model
        The model the server runs, as a label: it names the embedder and keys its cache
        entries (so a server redeployed with another model is not served stale vectors);
        None: the URL stands for it.
    normalize
        Ask for unit-length vectors (TEI's default).
    truncate
        Ask the server to cut texts longer than the model's limit instead of refusing them.
    api_key_env
        The environment variable holding the server's ``--api-key``; None: no key.
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
    >>> embedder = TEIEmbeddings("http://127.0.0.1:8080")  # doctest: +SKIP
    >>> embedder.embed(["hello"]).shape  # doctest: +SKIP
    (1, 384)
    """

    provider: ClassVar[str] = "tei"
    default_max_batch_size: ClassVar[int] = 32

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        normalize: bool = True,
        truncate: bool = False,
        api_key: str | None = None,
        api_key_env: str | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, api_key_env=api_key_env, **options)
        self.model = model
        self.normalize = bool(normalize)
        self.truncate = bool(truncate)

    @property
    def model_label(self) -> str:
        return self.model if self.model else redact_url(self.base_url)

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/embed"

    def _body(self, texts: list[str]) -> Any:
        return {"inputs": texts, "normalize": self.normalize, "truncate": self.truncate}

    def _parse(self, answer: Any, headers: Mapping[str, str]) -> tuple[Any, int | None]:
        tokens = headers.get("x-compute-tokens")
        return answer, int(tokens) if tokens and tokens.isdigit() else None

    def _hint(self, status: int, batch_size: int) -> str:
        if status == 413:
            return (
                f" (the batch of {batch_size} texts is more than the server takes: lower "
                f"max_batch_size, now {self.max_batch_size}, or raise the server's "
                "--max-client-batch-size / --payload-limit)"
            )
        if status == 422:
            return " (a text may be longer than the model takes: pass truncate=True)"
        return super()._hint(status, batch_size)

    def _provider_parameters(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "normalize": self.normalize,
            "truncate": self.truncate,
        }
