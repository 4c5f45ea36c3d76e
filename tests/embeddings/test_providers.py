"""The HTTP embedding providers against real local servers speaking their wire formats
(``wire_servers.py``): happy paths, batching and concurrency, retries and Retry-After,
timeouts, the circuit breaker, error classes and messages, secrets, specs, metrics."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import numpy as np
import pytest

import vectordb.embeddings
from vectordb.embeddings.base import embeddings_from_spec
from vectordb.embeddings.http import HttpEmbeddings, parse_retry_after, redact_url
from vectordb.embeddings.huggingface import HuggingFaceEmbeddings
from vectordb.embeddings.ollama import OllamaEmbeddings
from vectordb.embeddings.openai import OpenAIEmbeddings
from vectordb.embeddings.tei import TEIEmbeddings
from vectordb.errors import (
    CircuitOpenError,
    EmbeddingError,
    InvalidConfigError,
    MissingDependencyError,
    ProviderResponseError,
    ProviderUnavailableError,
    RateLimitedError,
)

from .wire_servers import Fault, WireServer, vector_for

#: small delays, so retries take milliseconds
FAST: dict[str, Any] = {"retry_base_delay": 0.01, "retry_max_delay": 2.0, "timeout": 2.0}
SECRET = "sk-test-do-not-leak-0123456789"
SHORT = {"object": "embedding", "index": 0, "embedding": [1.0]}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 127.0.0.1, straight: no proxy from the environment, no real keys."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def serve() -> Iterator[Callable[..., WireServer]]:
    servers: list[WireServer] = []

    def start(wire: str, **options: Any) -> WireServer:
        servers.append(WireServer(wire, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closing() -> Iterator[Callable[[HttpEmbeddings], HttpEmbeddings]]:
    """Registers embedders to close at teardown."""
    embedders: list[HttpEmbeddings] = []

    def register(embedder: HttpEmbeddings) -> HttpEmbeddings:
        embedders.append(embedder)
        return embedder

    yield register
    for embedder in embedders:
        embedder.close()


def build(wire: str, server: WireServer, **options: Any) -> HttpEmbeddings:
    options = {**FAST, **options}
    if wire == "openai":
        return OpenAIEmbeddings("test-model", base_url=server.base_url, **options)
    if wire == "ollama":
        return OllamaEmbeddings("test-model", base_url=server.base_url, **options)
    if wire == "tei":
        return TEIEmbeddings(server.base_url, **options)
    return HuggingFaceEmbeddings("org/test-model", base_url=server.base_url, **options)


def expected(texts: list[str], dim: int = 8) -> np.ndarray:
    return np.array([vector_for(text, dim) for text in texts], dtype=np.float32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("wire", ["openai", "ollama", "tei", "huggingface"])
def test_happy_path_batches_in_order(wire: str, serve: Any, closing: Any) -> None:
    server = serve(wire, shuffle=True)
    embedder = closing(build(wire, server, max_batch_size=3))
    texts = [f"text number {i}" for i in range(10)]
    vectors = embedder.embed(texts)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    assert vectors.shape == (10, 8)
    np.testing.assert_array_equal(vectors, expected(texts))
    assert sorted(server.batch_sizes()) == [1, 3, 3, 3]
    assert embedder.dim == 8
    assert len(server.requests) == 4  # dim was learned, not probed
    assert embedder.metrics()["texts"] == 10
    assert embedder.embed("one string").shape == (1, 8)


def test_openai_request_shape_and_auth(
    serve: Any, closing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve("openai", api_key=SECRET)
    embedder = closing(OpenAIEmbeddings("text-embedding-3-small", base_url=server.base_url))
    assert embedder.dim == 1536  # a known model: no request
    assert server.requests == []
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # read at call time, not at construction
    small = closing(
        OpenAIEmbeddings("text-embedding-3-small", base_url=server.base_url, dimensions=4)
    )
    vectors = small.embed(["hello world", "bye"])
    np.testing.assert_array_equal(vectors, expected(["hello world", "bye"], 4))
    request = server.requests[-1]
    assert request.path == "/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.body == {
        "model": "text-embedding-3-small",
        "input": ["hello world", "bye"],
        "encoding_format": "float",
        "dimensions": 4,
    }
    assert small.metrics()["tokens"] == 3  # from "usage"
    with pytest.raises(InvalidConfigError, match="disagrees"):
        OpenAIEmbeddings("text-embedding-3-small", dimensions=4, dim=5)


def test_ollama_tei_huggingface_requests(
    serve: Any, closing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama = serve("ollama")
    embedder = closing(build("ollama", ollama, keep_alive="1m"))
    embedder.embed(["a b c"])
    assert ollama.requests[0].body == {
        "model": "test-model",
        "input": ["a b c"],
        "truncate": True,
        "keep_alive": "1m",
    }
    assert embedder.metrics()["tokens"] == 3  # prompt_eval_count
    assert "authorization" not in ollama.requests[0].headers

    tei = serve("tei")
    embedder = closing(build("tei", tei, normalize=False, truncate=True))
    embedder.embed(["x y"])
    assert tei.requests[0].body == {"inputs": ["x y"], "normalize": False, "truncate": True}
    assert embedder.metrics()["tokens"] == 2  # x-compute-tokens header

    hf = serve("huggingface", api_key=SECRET)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    embedder = closing(build("huggingface", hf))
    np.testing.assert_array_equal(embedder.embed(["hi"]), expected(["hi"]))
    assert hf.requests[0].path == "/models/org/test-model/pipeline/feature-extraction"
    assert hf.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert hf.requests[0].body == {"inputs": ["hi"]}
    assert embedder.metrics()["tokens"] == 0  # not reported: estimated instead
    assert embedder.metrics()["estimated_tokens"] == 1


def test_default_batch_sizes(serve: Any, closing: Any) -> None:
    tei = serve("tei", max_batch=32)
    embedder = closing(build("tei", tei))
    texts = [f"t{i}" for i in range(70)]
    np.testing.assert_array_equal(embedder.embed(texts), expected(texts))
    assert sorted(tei.batch_sizes()) == [6, 32, 32]
    assert OpenAIEmbeddings(base_url=tei.url).max_batch_size == 2048


def test_concurrency_is_bounded(serve: Any, closing: Any) -> None:
    server = serve("openai", delay=0.05)
    embedder = closing(build("openai", server, max_batch_size=1, max_concurrency=3))
    texts = [f"t{i}" for i in range(12)]
    np.testing.assert_array_equal(embedder.embed(texts), expected(texts))
    assert 2 <= server.max_in_flight <= 3
    shared = serve("openai", delay=0.05)
    embedder = closing(build("openai", shared, max_batch_size=1, max_concurrency=2))
    threads = [threading.Thread(target=embedder.embed, args=(texts[:4],)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(shared.requests) == 12
    assert shared.max_in_flight == 2  # across the three calls together
    serial = serve("openai", delay=0.01)
    embedder = closing(build("openai", serial, max_batch_size=1, max_concurrency=1))
    embedder.embed(texts[:4])
    assert serial.max_in_flight == 1


def test_dim_learned_lazily(serve: Any, closing: Any) -> None:
    server = serve("ollama", dim=5)
    embedder = closing(build("ollama", server))
    assert embedder.known_dim is None
    assert embedder.spec()["dim"] is None
    assert embedder.dim == 5  # one probe request
    assert len(server.requests) == 1
    assert embedder.spec()["dim"] == 5
    assert embedder.embed([]).shape == (0, 5)
    assert len(server.requests) == 1
    given = closing(build("ollama", server, dim=6))
    with pytest.raises(ProviderResponseError, match="dim 5, expected dim 6"):
        given.embed(["x"])


# --------------------------------------------------------------------------------- retries


def test_retries_honour_retry_after(serve: Any, closing: Any) -> None:
    server = serve("openai")
    server.faults.extend([Fault.server_error(502), Fault.rate_limited("0.3"), Fault.dropped()])
    embedder = closing(build("openai", server))
    started = time.monotonic()
    np.testing.assert_array_equal(embedder.embed(["a"]), expected(["a"]))
    assert time.monotonic() - started >= 0.3
    assert len(server.requests) == 4
    metrics = embedder.metrics()
    assert metrics["requests"] == 4
    assert metrics["retries"] == 3
    assert metrics["errors"] == 0


def test_retry_after_longer_than_the_cap_gives_up_at_once(serve: Any, closing: Any) -> None:
    server = serve("openai")
    server.faults.append(Fault.rate_limited("120"))
    embedder = closing(build("openai", server))
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="asked to wait 120 s") as caught:
        embedder.embed(["a"])
    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 120
    assert caught.value.attempts == 1
    assert len(server.requests) == 1


def test_rate_limited_after_all_retries(serve: Any, closing: Any) -> None:
    server = serve("tei")
    server.faults.extend([Fault.rate_limited()] * 3)
    embedder = closing(build("tei", server, max_retries=2))
    with pytest.raises(RateLimitedError, match="429") as caught:
        embedder.embed(["a"])
    assert caught.value.attempts == 3
    assert caught.value.retry_after is None
    assert isinstance(caught.value, ProviderUnavailableError)
    assert embedder.metrics()["errors"] == 1


def test_huggingface_model_loading_is_waited_for(serve: Any, closing: Any) -> None:
    server = serve("huggingface")
    loading = b'{"error": "Model org/test-model is currently loading", "estimated_time": 0.2}'
    server.faults.append(Fault(503, loading))
    embedder = closing(build("huggingface", server))
    started = time.monotonic()
    embedder.embed(["a"])
    assert time.monotonic() - started >= 0.2
    assert len(server.requests) == 2


def test_parse_retry_after() -> None:
    now = time.time()
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": formatdate(now + 30, usegmt=True)}, now=now) == (
        pytest.approx(30, abs=1)
    )
    assert parse_retry_after({"retry-after": formatdate(now - 30, usegmt=True)}, now=now) == 0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({}) is None


def test_retry_after_as_http_date(serve: Any, closing: Any) -> None:
    server = serve("ollama")
    server.faults.append(Fault.rate_limited(formatdate(time.time() - 5, usegmt=True)))
    embedder = closing(build("ollama", server, retry_base_delay=5))  # the header decides
    started = time.monotonic()
    embedder.embed(["a"])
    assert time.monotonic() - started < 1


def test_backoff_is_exponential_with_full_jitter(serve: Any, closing: Any) -> None:
    server = serve("openai")
    server.faults.extend([Fault.server_error()] * 5)
    embedder = closing(
        build("openai", server, max_retries=5, retry_base_delay=1.0, retry_max_delay=4.0)
    )
    waits: list[float] = []
    embedder._sleep = waits.append
    embedder.embed(["a"])
    assert len(waits) == 5
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= min(4.0, 2**attempt)


# -------------------------------------------------------------------------------- timeouts


def test_timeout_is_retried(serve: Any, closing: Any) -> None:
    server = serve("tei")
    server.faults.append(Fault.slow(1.0))
    embedder = closing(build("tei", server, timeout=0.2))
    np.testing.assert_array_equal(embedder.embed(["a"]), expected(["a"]))
    assert len(server.requests) == 2


def test_timeouts_until_unavailable(serve: Any, closing: Any) -> None:
    server = serve("tei")
    server.faults.extend([Fault.slow(1.0)] * 2)
    embedder = closing(build("tei", server, timeout=0.2, max_retries=1))
    with pytest.raises(ProviderUnavailableError, match=r"no answer within timeout=0.2 s") as caught:
        embedder.embed(["a"])
    assert caught.value.attempts == 2
    assert not isinstance(caught.value, RateLimitedError)


def test_connection_refused(closing: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    embedder = closing(TEIEmbeddings(url, max_retries=2, **{**FAST, "retry_base_delay": 0.001}))
    with pytest.raises(ProviderUnavailableError, match="connection failed") as caught:
        embedder.embed(["a"])
    assert caught.value.attempts == 3
    assert url in str(caught.value)


# ------------------------------------------------------------------------- circuit breaker


def test_breaker_opens_fails_fast_and_half_opens(serve: Any, closing: Any) -> None:
    server = serve("ollama")
    server.faults.extend([Fault.server_error()] * 2)
    embedder = closing(
        build("ollama", server, max_retries=0, breaker_threshold=2, breaker_cooldown=0.3)
    )
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            embedder.embed(["a"])
    assert embedder.circuit_state == "open"
    assert embedder.metrics()["circuit_open"] == 1
    with pytest.raises(CircuitOpenError, match="circuit open after 2 failed") as caught:
        embedder.embed(["a"])
    assert 0 < caught.value.retry_in <= 0.3
    assert len(server.requests) == 2  # failed fast: no request
    assert embedder.metrics()["circuit_rejections"] == 1
    time.sleep(0.3)
    assert embedder.circuit_state == "half-open"
    np.testing.assert_array_equal(embedder.embed(["a"]), expected(["a"]))  # the trial
    assert embedder.circuit_state == "closed"


def test_failed_trial_reopens_without_retries(serve: Any, closing: Any) -> None:
    server = serve("ollama")
    server.faults.extend([Fault.server_error()] * 10)
    embedder = closing(
        build("ollama", server, max_retries=3, breaker_threshold=1, breaker_cooldown=0.2)
    )
    with pytest.raises(ProviderUnavailableError):
        embedder.embed(["a"])
    assert len(server.requests) == 4
    time.sleep(0.2)
    with pytest.raises(ProviderUnavailableError, match="trial") as caught:
        embedder.embed(["a"])
    assert caught.value.attempts == 1  # the trial is one request
    assert len(server.requests) == 5
    with pytest.raises(CircuitOpenError):
        embedder.embed(["a"])


def test_client_errors_do_not_open_the_breaker(serve: Any, closing: Any) -> None:
    server = serve("ollama")
    embedder = closing(
        OllamaEmbeddings("missing", base_url=server.base_url, breaker_threshold=1, **FAST)
    )
    for _ in range(3):
        with pytest.raises(ProviderResponseError, match="ollama pull missing"):
            embedder.embed(["a"])
    assert embedder.circuit_state == "closed"
    assert len(server.requests) == 3  # 404 is not retried


# ------------------------------------------------------------------- errors and messages


def test_unauthorized_is_not_retried_and_names_no_secret(
    serve: Any, closing: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve("openai", api_key="the-right-key")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    embedder = closing(build("openai", server))
    with pytest.raises(ProviderResponseError) as caught:
        embedder.embed(["a"])
    message = str(caught.value)
    assert len(server.requests) == 1
    assert "openai:test-model" in message
    assert f"{server.base_url}/embeddings" in message
    assert "401" in message
    assert "Incorrect API key provided: ***" in message  # the echo, masked
    assert "OPENAI_API_KEY" in message
    assert SECRET not in message
    assert SECRET not in caplog.text
    assert SECRET not in repr(embedder)
    assert SECRET not in json.dumps(embedder.spec())
    assert SECRET not in str(embedder.metrics())


def test_missing_key_is_explained(serve: Any, closing: Any) -> None:
    server = serve("huggingface", api_key=SECRET)
    embedder = closing(build("huggingface", server))
    with pytest.raises(ProviderResponseError, match="HF_TOKEN is not set"):
        embedder.embed(["a"])


def test_api_key_argument_stays_out_of_spec_and_repr(serve: Any, closing: Any) -> None:
    server = serve("openai", api_key=SECRET)
    embedder = closing(build("openai", server, api_key=SECRET, api_key_env=None))
    embedder.embed(["a"])
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(embedder.spec())
    assert SECRET not in repr(embedder)
    assert SECRET not in repr(vars(embedder))


def test_userinfo_and_query_are_redacted() -> None:
    assert redact_url("https://user:pw@host:8080/v1?key=abc") == "https://host:8080/v1"
    embedder = TEIEmbeddings("https://user:hunter2@example.invalid/tei")
    assert "hunter2" not in embedder.name
    assert "hunter2" not in repr(embedder)


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Fault.bad_json(), "not JSON"),
        (Fault(mutate=lambda answer: {**answer, "data": answer["data"][:1]}), "1 vectors for 2"),
        (
            Fault(mutate=lambda a: {**a, "data": [{**d, "index": 5} for d in a["data"]]}),
            "indexes",
        ),
        (Fault(mutate=lambda a: {**a, "data": [SHORT, a["data"][1]]}), "different lengths"),
        (Fault(mutate=lambda answer: {"nothing": True}), '"data"'),
        (Fault.server_error(400), "400"),
    ],
)
def test_bad_answers_are_response_errors(
    serve: Any, closing: Any, fault: Fault, match: str
) -> None:
    server = serve("openai")
    server.faults.append(fault)
    embedder = closing(build("openai", server))
    with pytest.raises(ProviderResponseError, match=match) as caught:
        embedder.embed(["a", "b"])
    assert isinstance(caught.value, EmbeddingError)
    assert len(server.requests) == 1  # not retried


def test_tei_batch_too_large_says_what_to_do(serve: Any, closing: Any) -> None:
    server = serve("tei", max_batch=4)
    embedder = closing(build("tei", server, max_batch_size=8))
    with pytest.raises(ProviderResponseError, match="lower max_batch_size, now 8"):
        embedder.embed([f"t{i}" for i in range(8)])


def test_token_level_model_is_refused(serve: Any, closing: Any) -> None:
    server = serve("huggingface")
    embedder = closing(HuggingFaceEmbeddings("org/token-level", base_url=server.url, **FAST))
    with pytest.raises(ProviderResponseError, match="one vector per token"):
        embedder.embed(["a"])


def test_one_failed_batch_fails_the_call(serve: Any, closing: Any) -> None:
    server = serve("openai")
    server.faults.append(Fault.server_error(400))
    embedder = closing(build("openai", server, max_batch_size=2, max_concurrency=1))
    with pytest.raises(ProviderResponseError):
        embedder.embed([f"t{i}" for i in range(6)])
    assert len(server.requests) == 1  # the later batches were not sent


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_url": "ftp://example.invalid"}, "http:// or https://"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"retry_base_delay": float("nan")}, "retry_base_delay"),
        ({"dim": True}, "dim"),
        ({"api_key_env": ""}, "api_key_env"),
    ],
)
def test_invalid_parameters(options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        TEIEmbeddings(**{"base_url": "http://127.0.0.1:1", **options})


# --------------------------------------------------------------------- specs and metrics


@pytest.mark.parametrize(
    "embedder",
    [
        lambda: OpenAIEmbeddings(),
        lambda: OpenAIEmbeddings("m", base_url="http://127.0.0.1:1/v1", dimensions=64, timeout=3),
        lambda: OllamaEmbeddings("nomic-embed-text", keep_alive="5m", max_batch_size=10),
        lambda: TEIEmbeddings("http://127.0.0.1:8080", model="bge", truncate=True, dim=384),
        lambda: HuggingFaceEmbeddings("sentence-transformers/all-MiniLM-L6-v2", normalize=True),
        lambda: OpenAIEmbeddings(price_per_million_tokens=0.02, breaker_threshold=9),
    ],
)
def test_spec_round_trip(embedder: Callable[[], HttpEmbeddings]) -> None:
    original = embedder()
    spec = original.spec()
    assert json.loads(json.dumps(spec)) == spec
    rebuilt = embeddings_from_spec(spec)
    assert type(rebuilt) is type(original)
    assert rebuilt.spec() == spec
    assert rebuilt.name == original.name
    assert getattr(vectordb.embeddings, type(original).__name__) is type(original)


def test_metrics_and_estimated_cost(serve: Any, closing: Any) -> None:
    server = serve("openai", delay=0.01)
    embedder = closing(build("openai", server, max_batch_size=2, price_per_million_tokens=0.5))
    embedder.embed(["one two", "three", "four five six"])  # 6 tokens, 2 requests
    metrics = embedder.metrics()
    assert metrics["requests"] == 2
    assert metrics["texts"] == 3
    assert metrics["tokens"] == 6
    assert metrics["estimated_cost_usd"] == pytest.approx(6 * 0.5 / 1e6)
    assert metrics["latency_seconds_count"] == 2
    assert metrics["latency_seconds_sum"] >= 0.02
    assert metrics["errors"] == metrics["retries"] == metrics["cache_hits"] == 0
    assert "estimated_cost_usd" not in closing(build("openai", server)).metrics()


# ------------------------------------------------------------------------- dependencies


def test_missing_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "vectordb\[embeddings\]"'):
        OpenAIEmbeddings()


def test_sentence_transformers_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from vectordb.embeddings.sentence_transformers import SentenceTransformerEmbeddings

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingDependencyError) as caught:
        SentenceTransformerEmbeddings("all-MiniLM-L6-v2")
    message = str(caught.value)
    assert "SentenceTransformerEmbeddings needs sentence_transformers" in message
    assert 'pip install "vectordb[sentence-transformers]"' in message


def test_sentence_transformers_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    from vectordb.embeddings.sentence_transformers import SentenceTransformerEmbeddings

    loaded: list[tuple[str, str | None]] = []

    class FakeModel:
        def __init__(self, name: str, device: str | None = None) -> None:
            loaded.append((name, device))

        def get_sentence_embedding_dimension(self) -> int:
            return 8

        def encode(self, texts: list[str], **options: Any) -> np.ndarray:
            assert options["batch_size"] == 4
            return np.array([vector_for(text, 8) for text in texts], dtype=np.float64)

    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    embedder = SentenceTransformerEmbeddings("fake-model", device="cpu", batch_size=4)
    assert loaded == []  # loaded at first use
    assert embedder.dim == 8
    vectors = embedder.embed(["a", "b"])
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_array_equal(vectors, expected(["a", "b"]))
    assert loaded == [("fake-model", "cpu")]
    assert embedder.name == "sentence-transformers:fake-model"
    rebuilt = embeddings_from_spec(embedder.spec())
    assert rebuilt.spec() == embedder.spec()
    assert embedder.metrics()["texts"] == 2
