"""What the derived files hold since the size work: the HNSW graph file without the vectors
(graph format 2, ``index/graph_file.py``) and with only the link slots in use, INDEX's per-row
flags as bitmaps (INDEX version 2), ``columns.bin`` keeping a text column once (columns
version 2). Searches after a reopen answer exactly as before the close, and the files earlier
versions wrote still load."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import xxhash
from internals import columns_of, index_of

import vectordb
from tests.index.data import clustered
from vectordb.config import HnswConfig, Metric
from vectordb.errors import CorruptionError
from vectordb.files.checksummed import read_checksummed_map, write_checksummed_map
from vectordb.files.headers import COLUMNS_MAGIC
from vectordb.filters.columns import COLUMNS_VERSION, MetadataColumns
from vectordb.index.graph_file import GRAPH_HEADER, GRAPH_MAGIC, normalized, read_graph
from vectordb.index.hnsw import HnswGraph, check_graph_file
from vectordb.index.saved import INDEX_MAGIC, INDEX_VERSION, SavedFlags, saved_flags

_SPACES = {"cosine": Metric.COSINE, "euclidean": Metric.EUCLIDEAN, "dot": Metric.DOT}


def _index_dir(root: Path, name: str = "c") -> Path:
    return root / "collections" / name / "index"


def _index_body(root: Path, name: str = "c") -> dict[str, Any]:
    return read_checksummed_map(_index_dir(root, name) / "INDEX", INDEX_MAGIC, "INDEX")


def _answers(collection: vectordb.Collection, queries: np.ndarray, **options: Any) -> list[Any]:
    return [[(hit.id, hit.score) for hit in collection.search(query, k=10, **options)]
            for query in queries]  # fmt: skip


# ------------------------------------------------------------------------------------ reopen
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_search_answers_the_same_after_reopen(
    tmp_path: Path, rng: np.random.Generator, index: str, metric: str
) -> None:
    """The same ids and scores, to the bit, for many queries (filtered ones too): the graph
    loaded from a file without vectors is the graph that was saved."""
    data = clustered(rng, 3000, 24)
    queries = clustered(rng, 120, 24)
    ids = [f"v{i}" for i in range(len(data))]
    options: dict[str, Any] = {"hnsw": {"M": 8, "ef_construction": 64}} if index == "hnsw" else {}
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=24, metric=metric, index=index, **options)
        collection.add(data, ids=ids, metadata=[{"g": i % 5} for i in range(len(data))])
        collection.delete(ids[::9])
        collection.upsert(data[1:200:7] * 0.5 + 0.1, ids=ids[1:200:7])  # rows rewritten
        assert collection.wait_indexed(timeout=120)
        before = _answers(collection, queries)
        filtered = _answers(collection, queries[:30], where={"g": 1})
    with vectordb.open(tmp_path / "db") as db:
        collection = db.get_collection("c")
        if index == "hnsw":
            info = collection.stats().index_info
            assert info is not None and info["fallback"] is None and info["pending"] == 0
            body = _index_body(tmp_path / "db")
            assert body["version"] == INDEX_VERSION
            assert (_index_dir(tmp_path / "db") / body["file"]).read_bytes()[:8] == GRAPH_MAGIC
        assert _answers(collection, queries) == before
        assert _answers(collection, queries[:30], where={"g": 1}) == filtered


def test_rows_rewritten_after_indexing_are_pending_after_reopen(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """An element whose row was rewritten after it was indexed is present but not valid:
    its element gets the row's new vector at load (routing only) and the row is answered by
    the exact scan until the indexer takes it in again."""
    data = rng.standard_normal((1500, 16)).astype(np.float32)
    ids = [f"v{i}" for i in range(len(data))]
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=16, index="hnsw", hnsw={"M": 8})
        collection.add(data, ids=ids)
        assert collection.wait_indexed(timeout=60)
        index_of(collection).stop()  # the rewrites stay out of the graph
        fresh = rng.standard_normal((20, 16)).astype(np.float32)
        collection.upsert(fresh, ids=ids[:20])
    with vectordb.open(tmp_path / "db") as db:
        collection = db.get_collection("c")
        info = collection.stats().index_info
        assert info is not None and info["fallback"] is None
        for i, vector in enumerate(fresh):
            hit = collection.search(vector, k=1)[0]
            assert hit.id == ids[i] and hit.score == pytest.approx(1.0, abs=1e-5)
        assert collection.wait_indexed(timeout=60)


# ------------------------------------------------------------------------------------ graph file
def _graph(space: Metric, vectors: np.ndarray, rows: np.ndarray, m: int = 6) -> HnswGraph:
    graph = HnswGraph.empty(vectors.shape[1], space, HnswConfig(M=m, ef_construction=40), 16, 1)
    graph.add(rows, vectors[rows], 1)
    return graph


def _level0(state: dict[str, Any]) -> np.ndarray:
    """hnswlib's level-0 block with the unused link slots zeroed (hnswlib leaves old links
    there when a list shrinks; they are never read)."""
    count, per = int(state["cur_element_count"]), int(state["size_data_per_element"])
    block = state["data_level0"][: count * per].view(np.uint8).reshape(count, per).copy()
    words = block[:, : 4 + 4 * int(state["max_M0"])].copy().view("<u4")
    words[:, 1:][np.arange(words.shape[1] - 1) >= (words[:, 0] & 0xFFFF)[:, None]] = 0
    block[:, : words.shape[1] * 4] = words.view(np.uint8)
    return block


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_loaded_graph_is_hnswlib_s_own(
    tmp_path: Path, rng: np.random.Generator, metric: str
) -> None:
    """Saved without vectors and loaded with the rows spliced back in, the graph is the same
    bytes hnswlib held: links, levels, labels, deleted marks and (normalized) vectors, and
    it answers the same."""
    space = _SPACES[metric]
    vectors = (rng.standard_normal((900, 10)) * rng.uniform(0.01, 50, (900, 1))).astype(np.float32)
    rows = np.flatnonzero(rng.random(900) < 0.8)
    graph = _graph(space, vectors, rows)
    graph.remove(rows[:40])
    vectors[rows[50:60]] = rng.standard_normal((10, 10))  # rewritten, then indexed again
    graph.add(rows[50:60], vectors[rows[50:60]], 1)
    valid = np.zeros(900, np.bool_)
    valid[rows[40:]] = True
    path = tmp_path / "graph.bin"
    graph.save(path, valid, vectors)
    flags = SavedFlags(900, np.isin(np.arange(900), rows), valid)
    loaded = HnswGraph.load(path, 10, space, HnswConfig(M=6), 1, flags, vectors)
    original, state = graph.graph.__getstate__()[0], loaded.graph.__getstate__()[0]
    assert np.array_equal(_level0(original), _level0(state))
    for key in ("element_levels", "label_lookup_external", "label_lookup_internal"):
        assert np.array_equal(np.sort(original[key]), np.sort(state[key])), key
    lists = [np.asarray(s["link_lists"]).view("<u4").reshape(-1, 7) for s in (original, state)]
    for upper in lists:
        upper[:, 1:][np.arange(6) >= (upper[:, 0] & 0xFFFF)[:, None]] = 0
    assert np.array_equal(*lists)
    for key in ("max_level", "enterpoint_node", "mult", "ef_construction", "has_deletions"):
        assert original[key] == state[key], key
    queries = rng.standard_normal((50, 10)).astype(np.float32)
    from vectordb.index.base import SearchKnobs

    for a, b in zip(graph.search(queries, 10, SearchKnobs()),  # type: ignore[arg-type]
                    loaded.search(queries, 10, SearchKnobs()), strict=True):  # type: ignore[arg-type]  # fmt: skip
        assert np.array_equal(a, b)
    assert check_graph_file(path, 10, 900) == len(rows)


def test_graph_refused_when_its_vectors_are_not_the_rows(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The file's checksum over the vectors of its valid elements: a valid row that changed
    since the save refuses the file (the index is rebuilt); a row that is not valid may have
    changed (its element is not trusted anyway)."""
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    rows = np.arange(300)
    graph = _graph(Metric.COSINE, vectors, rows)
    valid = np.ones(300, np.bool_)
    valid[7] = False
    path = tmp_path / "graph.bin"
    graph.save(path, valid, vectors)
    flags = SavedFlags(300, np.ones(300, np.bool_), valid)
    changed = vectors.copy()
    changed[7] += 1
    HnswGraph.load(path, 8, Metric.COSINE, HnswConfig(M=6), 1, flags, changed)
    changed[8] = np.nextafter(changed[8], np.float32(np.inf))
    with pytest.raises(CorruptionError, match="graph file"):
        HnswGraph.load(path, 8, Metric.COSINE, HnswConfig(M=6), 1, flags, changed)
    with pytest.raises(CorruptionError, match="graph file"):  # other flags than at the save
        HnswGraph.load(path, 8, Metric.COSINE, HnswConfig(M=6), 1,
                       SavedFlags(300, flags.present, np.ones(300, np.bool_)), vectors)  # fmt: skip
    with pytest.raises(CorruptionError, match="graph file"):  # fewer rows than labels
        HnswGraph.load(path, 8, Metric.COSINE, HnswConfig(M=6), 1, flags, vectors[:100])


@pytest.mark.parametrize("dim", [1, 3, 7, 100, 129])
def test_cosine_graph_holds_vectordb_s_normalization(rng: np.random.Generator, dim: int) -> None:
    """A cosine graph holds ``normalized(row)`` to the bit, whatever the chunk the row came
    in (hnswlib's own normalization depends on how it was compiled: with FMA and vectorized
    loops some sums round differently, so the loader could not reproduce it everywhere)."""
    vectors = rng.standard_normal((600, dim)) * rng.uniform(1e-3, 1e3, (600, 1))
    vectors = vectors.astype(np.float32)
    graph = HnswGraph.empty(dim, Metric.COSINE, HnswConfig(M=4, ef_construction=10), 600, 1)
    for start in (0, 7, 250):  # chunks of different sizes
        stop = {0: 7, 7: 250, 250: 600}[start]
        graph.add(np.arange(start, stop), vectors[start:stop], 1)
    state = graph.graph.__getstate__()[0]
    per, at = int(state["size_data_per_element"]), int(state["offset_data"])
    block = state["data_level0"][: 600 * per].view(np.uint8).reshape(600, per)
    held = np.ascontiguousarray(block[:, at : at + 4 * dim]).view(np.float32)
    labels = np.ascontiguousarray(block[:, -8:]).view("<u8").reshape(600).astype(np.int64)
    assert np.array_equal(held.view(np.uint32), normalized(vectors[labels]).view(np.uint32))
    unit = vectors / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    np.testing.assert_allclose(held, unit[labels], rtol=1e-6, atol=1e-7)


def test_graph_file_holds_no_vectors_and_only_used_links(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    n, dim = 2000, 64
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=dim, index="hnsw", hnsw={"M": 16})
        collection.add(rng.standard_normal((n, dim)), ids=[f"v{i}" for i in range(n)])
        assert collection.wait_indexed(timeout=120)
    body = _index_body(tmp_path / "db")
    path = _index_dir(tmp_path / "db") / body["file"]
    data = path.read_bytes()
    saved = read_graph(data, dim, n, lambda why, offset=0: AssertionError(why))
    assert saved.size == n and saved.covered == n
    # header, a count word + the links in use + a u32 label + a u8 level per element, and
    # the upper levels; hnswlib's own file: 4 + 4 * 32 slots + 4 * dim + 8 bytes per element
    expected = (GRAPH_HEADER.size + n * (4 + 4 + 1) + 4 * len(saved.links0)
                + 4 * (len(saved.upper_words) + len(saved.upper_links)))  # fmt: skip
    assert len(data) == expected
    assert len(saved.links0) < n * 32
    assert len(data) < n * 4 * dim / 2
    assert body["rows"] == n and len(body["present_bits"]) == len(body["valid_bits"]) == n // 8
    assert os.path.getsize(_index_dir(tmp_path / "db") / "INDEX") < n // 4 + 1024


# ------------------------------------------------------------------------------------ old files
def _as_format_1(directory: Path, dim: int, metric: Metric) -> None:
    """Rewrite the index in ``directory`` as vectordb wrote it before: hnswlib's own graph
    file (vectors inside) and an INDEX of version 1 (a byte per row)."""
    body = read_checksummed_map(directory / "INDEX", INDEX_MAGIC, "INDEX")
    flags = saved_flags(body, directory / "INDEX")
    from vectordb.storage.vector_file import VectorFile

    vectors = VectorFile(directory.parent / "vectors.bin", dim, read_only=True, use_mmap=False)
    try:
        graph = HnswGraph.load(directory / body["file"], dim, metric, HnswConfig(), 1, flags,
                               vectors.rows)  # fmt: skip
    finally:
        vectors.close()
    graph.save_hnswlib(directory / body["file"])
    data = (directory / body["file"]).read_bytes()
    old = {key: value for key, value in body.items()
           if key not in ("version", "rows", "present_bits", "valid_bits")}  # fmt: skip
    old.update(file_size=len(data), file_checksum=xxhash.xxh3_64_intdigest(data),
               present=flags.present.astype(np.uint8).tobytes(),
               valid=flags.valid.astype(np.uint8).tobytes())  # fmt: skip
    write_checksummed_map(directory / "INDEX", INDEX_MAGIC, old)


def test_format_1_index_still_loads_and_is_rewritten(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = clustered(rng, 2000, 16)
    queries = clustered(rng, 60, 16)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=16, metric="euclidean", index="hnsw")
        collection.add(data, ids=[f"v{i}" for i in range(len(data))])
        collection.delete(["v3", "v4"])
        assert collection.wait_indexed(timeout=60)
        before = _answers(collection, queries)
    directory = _index_dir(tmp_path / "db")
    _as_format_1(directory, 16, Metric.EUCLIDEAN)
    body = _index_body(tmp_path / "db")
    assert "version" not in body and (directory / body["file"]).read_bytes()[:8] != GRAPH_MAGIC
    assert check_graph_file(directory / body["file"], 16, len(body["present"])) == 2000
    with vectordb.open(tmp_path / "db") as db:
        collection = db.get_collection("c")
        info = collection.stats().index_info
        assert info is not None and info["fallback"] is None and info["pending"] == 0
        assert _answers(collection, queries) == before
        collection.add(data[:1] + 1, ids=["new"])  # the next checkpoint saves the index again
        assert collection.wait_indexed(timeout=60)
    body = _index_body(tmp_path / "db")
    assert body["version"] == INDEX_VERSION and "present" not in body
    assert (directory / body["file"]).read_bytes()[:8] == GRAPH_MAGIC
    with vectordb.open(tmp_path / "db") as db:
        assert _answers(db.get_collection("c"), queries)[0] == before[0]


# ------------------------------------------------------------------------------------ INDEX flags
def test_index_flags_of_both_versions() -> None:
    present = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1], np.bool_)
    valid = present & np.array([1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1], np.bool_)
    v1 = {"present": present.astype(np.uint8).tobytes(),
          "valid": valid.astype(np.uint8).tobytes()[:-2]}  # fmt: skip
    v2 = {"version": 2, "rows": 11, "present_bits": np.packbits(present, bitorder="little"),
          "valid_bits": np.packbits(valid | ~present, bitorder="little")}  # fmt: skip
    v2 = {key: value.tobytes() if isinstance(value, np.ndarray) else value
          for key, value in v2.items()}  # fmt: skip
    for body, valid_expected in ((v1, np.concatenate([valid[:-2], [False, False]])), (v2, valid)):
        flags = saved_flags(body, Path("INDEX"))
        assert flags.rows == 11
        assert np.array_equal(flags.present, present)
        assert np.array_equal(flags.valid, valid_expected)  # never valid where not present


@pytest.mark.parametrize(
    "changes",
    [{"version": 3}, {"version": "2"}, {"rows": -1}, {"rows": 17}, {"rows": 1.5},
     {"present_bits": b"\x00"}, {"valid_bits": None}, {"version": 1}],
    ids=["version-newer", "version-str", "rows-negative", "rows-past-bits", "rows-float",
         "bits-short", "valid-missing", "v1-without-bytes"],
)  # fmt: skip
def test_index_flags_malformed(changes: dict[str, Any]) -> None:
    body = {"version": 2, "rows": 11, "present_bits": b"\xff\x07", "valid_bits": b"\xff\x07"}
    with pytest.raises(CorruptionError):
        saved_flags({**body, **changes}, Path("INDEX"))


# ------------------------------------------------------------------------------------ columns.bin
def _columns_body(root: Path) -> dict[str, Any]:
    path = root / "collections" / "docs" / "columns.bin"
    return read_checksummed_map(path, COLUMNS_MAGIC, "columns")


_FILTERS: list[dict[str, Any]] = [
    {"lang": "en"}, {"lang": {"$in": ["de", "fr"]}}, {"lang": {"$ne": "en"}},
    {"text": {"$gte": "m"}}, {"text": {"$regex": "^a.*z"}}, {"text": {"$exists": False}},
    {"n": {"$gt": 3}}, {"n": "x"}, {"n": None}, {"mixed": 2}, {"mixed": "two"},
    {"mixed": {"$exists": True}},
]  # fmt: skip


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz "))
    return ["".join(rng.choice(letters, 200)) for _ in range(n)]


def test_text_column_saved_once(tmp_path: Path, rng: np.random.Generator) -> None:
    """A column of distinct texts is saved as codes + sorted categories only (no values):
    each text once; a column with no number keeps no NaN array; and the restored columns
    answer every filter as the built ones did."""
    n = 600
    texts = _texts(rng, n)
    metadata = [
        {"lang": ["en", "de", "fr"][i % 3], "n": [i, "x", None, 2**60][i % 4],
         **({"text": texts[i]} if i % 10 else {}),
         **({"mixed": [2, "two"][i % 2]} if i % 3 else {})}
        for i in range(n)
    ]  # fmt: skip
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=4, metadata_schema={"lang": "str"})
        docs.add(vectors, ids=[f"d{i}" for i in range(n)], metadata=metadata)
        before = [[h.id for h in docs.search(vectors[0], k=n, where=where)] for where in _FILTERS]
    body = _columns_body(tmp_path / "db")
    assert body["version"] == COLUMNS_VERSION
    assert set(body["strings"]) == {"lang", "text"} and set(body["fields"]) == {"n", "mixed"}
    for field in ("n", "mixed"):
        assert set(body["arrays"][field]) == {"present", "numbers", "codes", "categories"}
    text_bytes = sum(len(text) for i, text in enumerate(texts) if i % 10)
    size = os.path.getsize(tmp_path / "db" / "collections" / "docs" / "columns.bin")
    assert text_bytes < size < 1.4 * text_bytes  # version 1 held the texts twice
    with vectordb.open(tmp_path / "db") as db:
        docs = db.get_collection("docs")
        assert ("text",) in columns_of(docs).paths()  # restored, not decoded again
        after = [[h.id for h in docs.search(vectors[0], k=n, where=where)] for where in _FILTERS]
        assert after == before
        docs.update(["d1"], metadata=[{"text": 7, "lang": "xx"}])  # restored columns change
        assert [h.id for h in docs.search(vectors[0], k=n, where={"text": 7})] == ["d1"]
        assert [h.id for h in docs.search(vectors[0], k=n, where={"lang": "xx"})] == ["d1"]
        assert "d1" not in {h.id for h in docs.search(vectors[0], k=n, where=_FILTERS[4])}


def test_number_column_keeps_no_codes() -> None:
    columns, store = MetadataColumns(), _Store([{"v": i} for i in range(5)] + [None])
    columns.column(store, ("v",))
    state = columns.saved_state(store, 7)
    assert state is not None
    assert set(state["arrays"]["v"]) == {"present", "numbers"} and state["strings"] == {}
    restored = MetadataColumns()
    restored.restore(state, 7, 6)
    column = restored.column(store, ("v",))
    codes, categories = column.strings()
    assert codes.tolist() == [-1] * 6 and categories == []
    assert column.numbers()[:5].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@dataclasses.dataclass
class _Store:
    """What ``MetadataColumns`` reads of a collection: rows and their metadata."""

    records: list[Any]

    @property
    def n_rows(self) -> int:
        return len(self.records)

    def metadata_bytes(self, row: int) -> bytes:
        record = self.records[row]
        return b"" if record is None else msgpack.packb(record)


def _saved_strings(codes: list[int], categories: list[Any]) -> dict[str, Any]:
    return {"codes": np.array(codes, "<i4").tobytes(), "categories": categories}


def _strings_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": 2, "lsn": 3, "n_rows": 3, "declared": [], "fields": {}, "arrays": {},
        "strings": {"tag": _saved_strings([1, -1, 0], ["a", "b"])},
    }  # fmt: skip
    body.update(changes)
    return body


def test_strings_column_restores() -> None:
    columns = MetadataColumns()
    columns.restore(_strings_body(), 3, 3)
    column = columns.column(_Store([{"tag": "b"}, {}, {"tag": "a"}]), ("tag",))
    assert column.values[0] == "b" and column.values[2] == "a"
    assert column.present().tolist() == [True, False, True]
    assert np.isnan(column.numbers()).all()


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 3},
        {"version": "2"},
        {"strings": []},
        {"strings": {"tag": 5}},
        {"strings": {"tag": _saved_strings([1, 0], ["a", "b"])}},
        {"strings": {"tag": _saved_strings([2, 0, 0], ["a"])}},
        {"strings": {"tag": _saved_strings([0, 0, 1], ["b", "a"])}},
        {"strings": {"tag": _saved_strings([0, 0, 0], [1])}},
        {"fields": {"tag": msgpack.packb(["a", "b", "c"])}},
        {"strings": {"": _saved_strings([0, 0, 0], ["a"])}},
    ],
    ids=["version-newer", "version-str", "strings-list", "column-int", "codes-short",
         "codes-past-categories", "categories-unsorted", "categories-int", "saved-twice",
         "path-empty"],
)  # fmt: skip
def test_strings_column_malformed(changes: dict[str, Any]) -> None:
    with pytest.raises(CorruptionError, match="columns"):
        MetadataColumns().restore(_strings_body(**changes), 3, 3)
