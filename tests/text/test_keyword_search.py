"""Keyword search in one process: tokenization of code-like text, BM25 ranking, ``where=``
inside the search, and the fusion functions of hybrid search (hand-computed values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb.config import Metric
from vectordb.index.keywords import match_expression, tokens
from vectordb.results import make_hit
from vectordb.search.fusion import RRF_K, fuse


def test_code_like_words_are_kept_whole_and_split() -> None:
    assert tokens("mkfs.ext4") == ["mkfs.ext4", "mkfs", "ext4"]
    assert tokens("--dry-run") == ["dry-run", "dry", "run"]
    assert tokens("snake_case and CamelCase") == ["snake_case", "snake", "case", "and", "camelcase"]
    assert tokens("C++ and C#") == ["c++", "c", "and", "c#", "c"]
    assert tokens("\uff26\uff55\uff4c\uff4c width, ÉCOLE") == ["full", "width", "ecole"]  # NFKC
    assert tokens("İstanbul naïve_résumé") == ["istanbul", "naive_resume", "naive", "resume"]
    assert tokens("中文文本 abc日本") == ["中文", "文文", "文本", "abc", "日本"]
    assert tokens("中") == ["中"]
    assert tokens("... -- //") == []
    assert match_expression("-- ... ") is None
    assert match_expression('say "hi" hi') == '"say" OR "hi"'


@pytest.fixture
def docs(tmp_path: Path) -> vectordb.Collection:
    db = vectordb.open(tmp_path)
    collection = db.create_collection("docs", dim=2)
    texts = {
        "mkfs": "mkfs.ext4 builds an ext4 file system on a device",
        "tune": "tune2fs adjusts ext2, ext3 and ext4 file system parameters",
        "tar": "tar --dry-run shows what would be archived",
        "rsync": "rsync --dry-run (-n) performs a trial run with no changes made",
        "none": None,
    }
    collection.add(np.ones((5, 2)), ids=list(texts), documents=list(texts.values()),
                   metadata=[{"section": 8}, {"section": 8}, {"section": 1}, {"section": 1},
                             {"section": 1}])  # fmt: skip
    return collection


def test_code_like_queries_find_their_documents(docs: vectordb.Collection) -> None:
    assert [hit.id for hit in docs.search("mkfs.ext4")] == ["mkfs", "tune"]  # ext4 matches too
    assert docs.search("mkfs.ext4")[0].score > docs.search("mkfs.ext4")[1].score
    assert {hit.id for hit in docs.search("--dry-run")} == {"tar", "rsync"}
    assert [hit.id for hit in docs.search("archiving")] == ["tar"]  # stemmed
    assert docs.search("-- ...") == []
    assert docs.search("zzz") == []
    hit = docs.search("tune2fs", include=("metadata", "document"))[0]
    assert hit.metadata == {"section": 8} and hit.document.startswith("tune2fs")


def test_where_applies_inside_the_keyword_search(docs: vectordb.Collection) -> None:
    assert [hit.id for hit in docs.search("ext4 dry-run", k=1, where={"section": 1})] in (
        ["tar"], ["rsync"])  # fmt: skip
    assert {hit.id for hit in docs.search("ext4 dry-run", k=10, where={"section": 1})} == {
        "tar", "rsync"}  # fmt: skip
    assert docs.search("ext4", where={"section": 1}) == []


def test_where_finds_the_best_matches_past_many_better_ones(tmp_path: Path) -> None:
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", dim=2)
        n = 600
        texts = ["common word " * 3 if i % 100 else "common" for i in range(n)]
        docs.add(np.ones((n, 2)), ids=[str(i) for i in range(n)], documents=texts,
                 metadata=[{"rare": i % 100 == 0} for i in range(n)])  # fmt: skip
        found = docs.search("common word", k=5, where={"rare": True})
        assert sorted(hit.id for hit in found) == ["0", "100", "200", "300", "400"]


def test_writes_are_searchable_at_once(docs: vectordb.Collection) -> None:
    docs.update(["none"], documents=["now about ext4 too"])
    assert "none" in {hit.id for hit in docs.search("ext4")}
    docs.update(["mkfs"], documents=[""])  # removed
    assert "mkfs" not in {hit.id for hit in docs.search("ext4")}
    docs.delete("tune")
    assert {hit.id for hit in docs.search("ext4")} == {"none"}
    docs.upsert(np.ones((1, 2)), ids=["tune"], documents=["ext4 again"],
                metadata=[{"section": 8}])  # fmt: skip
    assert {hit.id for hit in docs.search("ext4")} == {"none", "tune"}
    docs.delete(where={"section": 8})
    assert {hit.id for hit in docs.search("ext4")} == {"none"}


def test_convex_fusion_by_hand() -> None:
    vector = [make_hit("a", 0.9), make_hit("b", 0.5), make_hit("c", 0.1)]
    keyword = [make_hit("c", 12.0), make_hit("d", 2.0)]
    fused = fuse(vector, keyword, 10, metric=Metric.COSINE, fusion="convex", vector_weight=0.6)
    scores = {item.hit.id: round(item.score, 9) for item in fused}
    # vector normalised: a 1, b 0.5, c 0; keyword: c 1, d 0
    assert scores == {"a": 0.6, "b": 0.3, "c": 0.4, "d": 0.0}
    assert [item.hit.id for item in fused] == ["a", "c", "b", "d"]
    c = next(item for item in fused if item.hit.id == "c")
    assert (c.vector_rank, c.vector_score, c.keyword_rank, c.keyword_score) == (3, 0.1, 1, 12.0)
    # euclidean: smaller distances are better
    near = [make_hit("a", 0.1), make_hit("b", 0.3)]
    fused = fuse(near, [], 2, metric=Metric.EUCLIDEAN, fusion="convex", vector_weight=1.0)
    assert [(item.hit.id, item.score) for item in fused] == [("a", 1.0), ("b", 0.0)]
    assert len(fuse(vector, keyword, 2, metric=Metric.COSINE, fusion="convex",
                    vector_weight=0.5)) == 2  # fmt: skip


def test_rrf_by_hand() -> None:
    vector = [make_hit("a", 0.9), make_hit("b", 0.5)]
    keyword = [make_hit("b", 3.0), make_hit("c", 1.0)]
    fused = fuse(vector, keyword, 10, metric=Metric.COSINE, fusion="rrf", vector_weight=0.5)
    expected = {
        "a": 0.5 / (RRF_K + 1),
        "b": 0.5 / (RRF_K + 2) + 0.5 / (RRF_K + 1),
        "c": 0.5 / (RRF_K + 2),
    }
    assert {item.hit.id: item.score for item in fused} == pytest.approx(expected)
    assert [item.hit.id for item in fused] == ["b", "a", "c"]


def test_search_batch_of_texts(docs: vectordb.Collection) -> None:
    expected = [[hit.id for hit in docs.search(text)] for text in ("ext4", "dry-run")]
    for texts in (["ext4", "dry-run"], ("ext4", "dry-run"), np.array(["ext4", "dry-run"])):
        found = docs.search_batch(texts)
        assert [[hit.id for hit in hits] for hits in found] == expected


def test_accents_and_scripts_without_spaces(tmp_path: Path) -> None:
    with vectordb.open(tmp_path) as db:
        docs = db.create_collection("docs", dim=2)
        texts = ["Café crème à İstanbul", "中文文本没有空格", "日本語のテキストです",
                 "한국어 텍스트"]  # fmt: skip
        docs.add(np.ones((4, 2)), ids=["fr", "zh", "ja", "ko"], documents=texts)
        assert [hit.id for hit in docs.search("cafe istanbul")] == ["fr"]
        assert [hit.id for hit in docs.search("CAFÉ")] == ["fr"]
        assert [hit.id for hit in docs.search("中文")] == ["zh"]
        assert [hit.id for hit in docs.search("没有空格")] == ["zh"]
        assert [hit.id for hit in docs.search("テキスト")] == ["ja"]
        assert [hit.id for hit in docs.search("텍스트")] == ["ko"]
        assert docs.search("英语") == []
