"""EmbeddingCache and CachedEmbeddings: hits cost no request, also after a restart; the memory
LRU and TTL; the file's size bound and LRU eviction; read-only files stay untouched; a
corrupt or foreign file is treated as empty; metrics count hits and misses."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vectordb.embeddings.base import embeddings_from_spec
from vectordb.embeddings.cache import (
    ENTRY_OVERHEAD,
    CachedEmbeddings,
    EmbeddingCache,
    model_key,
)
from vectordb.embeddings.ollama import OllamaEmbeddings
from vectordb.embeddings.openai import OpenAIEmbeddings
from vectordb.errors import InvalidArgumentError, InvalidConfigError

from .wire_servers import WireServer, vector_for

FAST: dict[str, Any] = {"retry_base_delay": 0.01, "retry_max_delay": 1.0, "timeout": 2.0}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer("ollama") as running:
        yield running


@pytest.fixture
def embedder(server: WireServer) -> Iterator[OllamaEmbeddings]:
    with OllamaEmbeddings("test-model", base_url=server.base_url, **FAST) as built:
        yield built


def expected(texts: list[str], dim: int = 8) -> np.ndarray:
    return np.array([vector_for(text, dim) for text in texts], dtype=np.float32)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------- CachedEmbeddings


def test_hits_cost_no_request(server: WireServer, embedder: OllamaEmbeddings) -> None:
    cached = CachedEmbeddings(embedder, EmbeddingCache())
    texts = ["alpha", "beta", "alpha", "gamma"]
    first = cached.embed(texts)
    np.testing.assert_array_equal(first, expected(texts))
    assert first.dtype == np.float32
    assert first.flags.c_contiguous
    assert server.batch_sizes() == [3]  # "alpha" twice in one call: embedded once
    again = cached.embed(["gamma", "alpha", "delta"])
    np.testing.assert_array_equal(again, expected(["gamma", "alpha", "delta"]))
    assert server.batch_sizes() == [3, 1]  # only "delta" asked for
    cached.embed(["beta"])
    assert len(server.requests) == 2
    metrics = cached.metrics()
    assert metrics["cache_hits"] == 2 + 1  # gamma and alpha, then beta
    assert metrics["cache_misses"] == 4 + 1  # lookups: the repeated "alpha" missed twice
    assert metrics["requests"] == 2  # the embedder's own counters, shared
    assert cached.name == embedder.name
    assert cached.dim == 8
    assert cached.spec() == embedder.spec()
    assert cached.embed([]).shape == (0, 8)


def test_returned_arrays_are_the_callers(embedder: OllamaEmbeddings) -> None:
    cached = CachedEmbeddings(embedder, EmbeddingCache())
    first = cached.embed(["x"])
    first[:] = 0  # the caller's to change; the cache keeps its own copy
    np.testing.assert_array_equal(cached.embed(["x"]), expected(["x"]))


def test_model_key_ignores_operational_knobs(server: WireServer) -> None:
    cache = EmbeddingCache()
    with (
        OllamaEmbeddings("test-model", base_url=server.base_url, **FAST) as one,
        OllamaEmbeddings("test-model", base_url=server.base_url, max_retries=1, timeout=9) as two,
        OllamaEmbeddings("other-model", base_url=server.base_url, **FAST) as other,
    ):
        assert model_key(one) == model_key(two)
        assert model_key(one) != model_key(other)
        CachedEmbeddings(one, cache).embed(["shared"])
        CachedEmbeddings(two, cache).embed(["shared"])
        assert len(server.requests) == 1
        CachedEmbeddings(other, cache).embed(["shared"])
        assert len(server.requests) == 2
    assert "timeout" not in model_key(one)
    learned = OpenAIEmbeddings("m", base_url="http://127.0.0.1:1/v1")
    before = model_key(learned)
    learned._dim = 8  # learning dim does not move the key
    assert model_key(learned) == before
    assert model_key(OpenAIEmbeddings("m", dimensions=8)) != model_key(OpenAIEmbeddings("m"))


def test_wrapper_checks_its_arguments(embedder: OllamaEmbeddings) -> None:
    with pytest.raises(InvalidArgumentError, match="EmbeddingCache"):
        CachedEmbeddings(embedder, "cache.sqlite")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="Embeddings"):
        CachedEmbeddings("model", EmbeddingCache())  # type: ignore[arg-type]


# ------------------------------------------------------------------------ the memory layer


def test_memory_lru_bound() -> None:
    cache = EmbeddingCache(max_entries=2)
    vectors = np.eye(3, dtype=np.float32)
    cache.put_many("m", ["a", "b"], vectors[:2])
    assert cache.get_many("m", ["a"])[0] is not None  # "a" is now the most recent
    cache.put_many("m", ["c"], vectors[2:])
    found = cache.get_many("m", ["a", "b", "c"])
    assert found[1] is None  # "b", least recently used, went
    np.testing.assert_array_equal(found[0], vectors[0])
    np.testing.assert_array_equal(found[2], vectors[2])
    assert cache.stats()["memory_entries"] == 2
    assert cache.get_many("other model", ["a"]) == [None]


def test_memory_ttl() -> None:
    clock = Clock()
    cache = EmbeddingCache(ttl=10, clock=clock)
    cache.put_many("m", ["a"], np.ones((1, 2), dtype=np.float32))
    clock.now = 9.9
    assert cache.get_many("m", ["a"])[0] is not None
    clock.now = 10.0
    assert cache.get_many("m", ["a"]) == [None]
    assert cache.stats()["memory_entries"] == 0


def test_put_many_checks_shapes() -> None:
    with pytest.raises(InvalidArgumentError, match="one vector per text"):
        EmbeddingCache().put_many("m", ["a", "b"], np.ones((1, 3), dtype=np.float32))


@pytest.mark.parametrize(
    "options", [{"max_entries": -1}, {"ttl": 0}, {"max_bytes": 1.5}, {"ttl": float("inf")}]
)
def test_invalid_parameters(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfigError):
        EmbeddingCache(**options)


# ---------------------------------------------------------------------------- the file


def test_persistent_across_cache_objects(
    tmp_path: Path, server: WireServer, embedder: OllamaEmbeddings
) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        CachedEmbeddings(embedder, cache).embed(["one", "two"])
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(server.requests) == 1
    with EmbeddingCache(path) as reopened:
        assert reopened.stats()["stored_entries"] == 2
        cached = CachedEmbeddings(embedder, reopened)
        np.testing.assert_array_equal(cached.embed(["two", "one"]), expected(["two", "one"]))
    assert len(server.requests) == 1


def test_persistent_across_processes(tmp_path: Path, server: WireServer) -> None:
    path = tmp_path / "cache.sqlite"
    script = textwrap.dedent(
        """
        import sys
        from vectordb.embeddings import OllamaEmbeddings
        from vectordb.embeddings.cache import CachedEmbeddings, EmbeddingCache

        url, path = sys.argv[1:]
        embedder = OllamaEmbeddings("test-model", base_url=url)
        with EmbeddingCache(path) as cache, CachedEmbeddings(embedder, cache) as cached:
            cached.embed(["from another process", "and its friend"])
        """
    )
    subprocess.run(
        [sys.executable, "-c", script, server.base_url, str(path)], check=True, timeout=60
    )
    assert len(server.requests) == 1
    # the same embedder as the other process's, rebuilt from its spec
    with (
        EmbeddingCache(path) as cache,
        CachedEmbeddings(
            embeddings_from_spec(OllamaEmbeddings("test-model", base_url=server.base_url).spec()),
            cache,
        ) as cached,
    ):
        texts = ["and its friend", "from another process"]
        np.testing.assert_array_equal(cached.embed(texts), expected(texts))
        assert cached.metrics()["cache_hits"] == 2
    assert len(server.requests) == 1


def test_file_size_bound_evicts_least_recently_used(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    entry = 64 * 4 + ENTRY_OVERHEAD
    cache = EmbeddingCache(path, max_bytes=10 * entry, max_entries=0)  # file only
    rng = np.random.default_rng(0)
    cache.put_many("m", ["keep"], rng.standard_normal((1, 64)))
    for batch in range(10):
        cache.get_many("m", ["keep"])  # used again and again: stays
        texts = [f"text {batch} {i}" for i in range(3)]
        cache.put_many("m", texts, rng.standard_normal((3, 64)))
        assert cache.stats()["stored_bytes"] <= 10 * entry
    assert cache.get_many("m", ["keep"])[0] is not None
    assert cache.get_many("m", ["text 0 0"]) == [None]  # the oldest went
    assert cache.get_many("m", ["text 9 2"])[0] is not None
    assert 5 <= cache.stats()["stored_entries"] <= 10
    cache.close()


def test_read_only_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_many("m", ["stored"], np.ones((1, 4), dtype=np.float32))
    before = file_digest(path)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    with EmbeddingCache(path, read_only=True) as reader:
        np.testing.assert_array_equal(reader.get_many("m", ["stored"])[0], np.ones(4))
        reader.put_many("m", ["new"], np.zeros((1, 4), dtype=np.float32))
        assert reader.get_many("m", ["new"])[0] is not None  # kept in memory only
        assert reader.stats()["stored_entries"] == 1
    assert file_digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before
    with EmbeddingCache(path) as writer:
        assert writer.get_many("m", ["new"]) == [None]
    missing = tmp_path / "absent.sqlite"
    with EmbeddingCache(missing, read_only=True) as reader:
        reader.put_many("m", ["x"], np.ones((1, 2), dtype=np.float32))
    assert not missing.exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"this is not a database at all " * 100),
        lambda path: path.write_bytes(path.read_bytes()[:5000] + b"\xff" * 20000),
    ],
    ids=["garbage", "damaged pages"],
)
def test_corrupt_file_is_treated_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Any
) -> None:
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        texts = [f"t{i}" for i in range(200)]
        cache.put_many("m", texts, np.ones((200, 32), dtype=np.float32))
    damage(path)
    damaged = file_digest(path)
    caplog.set_level(logging.WARNING, logger="vectordb")
    with EmbeddingCache(path) as cache:
        found = cache.get_many("m", texts)  # a miss (or, at worst, an intact vector)
        for vector in found:
            assert vector is None or np.array_equal(vector, np.ones(32))
        cache.put_many("m", ["new"], np.ones((1, 3), dtype=np.float32))
        assert cache.get_many("m", ["new"])[0] is not None
    assert "embedding cache" in caplog.text
    assert file_digest(path) == damaged  # derived data, but never destroyed


def test_foreign_database_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "app.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.commit()
    before = file_digest(path)
    caplog.set_level(logging.WARNING, logger="vectordb")
    with EmbeddingCache(path) as cache:
        cache.put_many("m", ["a"], np.ones((1, 2), dtype=np.float32))
    assert "not an embedding cache" in caplog.text
    assert file_digest(path) == before


def test_thread_safe(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite", max_entries=50)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for round_ in range(20):
                texts = [f"{(worker + round_ + i) % 40}" for i in range(5)]
                vectors = np.array([[float(t)] * 4 for t in texts], dtype=np.float32)
                cache.put_many("m", texts, vectors)
                for text, vector in zip(texts, cache.get_many("m", texts)):
                    assert vector is not None
                    assert vector[0] == float(text)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache.close()
    assert failures == []


def test_file_failing_later_falls_back_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.sqlite"
    cache = EmbeddingCache(path)
    cache.put_many("m", ["a"], np.ones((1, 2), dtype=np.float32))
    cache.clear_memory()
    with contextlib.closing(sqlite3.connect(path)) as other:  # someone breaks the file
        other.execute("DROP TABLE embeddings")
        other.commit()
    caplog.set_level(logging.WARNING, logger="vectordb")
    assert cache.get_many("m", ["a"]) == [None]
    assert "failed while reading" in caplog.text
    cache.put_many("m", ["b"], np.ones((1, 2), dtype=np.float32))
    assert cache.get_many("m", ["b"])[0] is not None
    assert cache.stats()["stored_entries"] == 0
    cache.close()
