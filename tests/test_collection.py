"""Every Collection operation, and every bad input leaving stored data exactly as it was."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb
from vectordb import Collection, Database


def snapshot_of(collection: Collection) -> dict[str, tuple[bytes, Any]]:
    """Everything stored: id -> (vector bytes, metadata)."""
    ids = collection.ids()
    records = collection.get_many(ids)
    state = {}
    for record in records:
        assert record is not None
        state[record.id] = (record.vector.tobytes(), record.metadata)
    assert len(state) == len(collection)
    return state


@pytest.fixture
def docs(db: Database, rng: np.random.Generator) -> Collection:
    collection = db.create_collection("docs", dim=4, metric="euclidean")
    collection.add(
        rng.standard_normal((5, 4)),
        ids=[f"id{i}" for i in range(5)],
        metadata=[{"n": i, "tags": ["a", "b"], "nested": {"x": 1.5}} for i in range(5)],
    )
    return collection


# ------------------------------------------------------------------------- happy paths
def test_add_returns_ids_and_generates_uuid4(db: Database, rng: np.random.Generator) -> None:
    collection = db.create_collection("c", dim=3)
    ids = collection.add(rng.standard_normal((100, 3)))
    assert len(set(ids)) == 100
    import uuid

    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert len(collection) == 100
    assert collection.count() == 100


def test_add_accepts_lists_ints_float64_and_single_vector(db: Database) -> None:
    collection = db.create_collection("c", dim=3, metric="dot")
    collection.add([[1, 2, 3]], ids=["ints"])
    collection.add(np.array([0.5, 0.25, 1.0], dtype=np.float64), ids="single", metadata={"a": 1})
    record = collection.get("single")
    assert record is not None
    assert record.vector.dtype == np.float32
    np.testing.assert_array_equal(record.vector, [0.5, 0.25, 1.0])
    assert record.metadata == {"a": 1}
    np.testing.assert_array_equal(collection.get("ints").vector, [1, 2, 3])  # type: ignore[union-attr]


def test_get_missing_returns_none_and_get_many_keeps_order(docs: Collection) -> None:
    assert docs.get("nope") is None
    records = docs.get_many(["id3", "nope", "id1"])
    assert [r.id if r else None for r in records] == ["id3", None, "id1"]


def test_contains_len_ids_paging(docs: Collection) -> None:
    assert "id0" in docs
    assert "zzz" not in docs
    assert 5 not in docs
    assert docs.ids() == [f"id{i}" for i in range(5)]
    assert docs.ids(offset=1, limit=2) == ["id1", "id2"]
    assert docs.ids(offset=10) == []
    pages = [docs.ids(offset=o, limit=2) for o in range(0, 5, 2)]
    assert [i for page in pages for i in page] == docs.ids()


def test_upsert_inserts_and_replaces_whole_record(docs: Collection) -> None:
    docs.upsert([[1, 1, 1, 1], [2, 2, 2, 2]], ids=["id0", "new"], metadata=[None, {"k": "v"}])
    assert len(docs) == 6
    record = docs.get("id0")
    assert record is not None
    np.testing.assert_array_equal(record.vector, [1, 1, 1, 1])
    assert record.metadata is None  # upsert replaces the whole record
    assert docs.get("new").metadata == {"k": "v"}  # type: ignore[union-attr]


def test_update_vectors_only_keeps_metadata(docs: Collection) -> None:
    docs.update(["id2"], vectors=[[9, 9, 9, 9]])
    record = docs.get("id2")
    assert record is not None
    np.testing.assert_array_equal(record.vector, [9, 9, 9, 9])
    assert record.metadata == {"n": 2, "tags": ["a", "b"], "nested": {"x": 1.5}}


def test_update_metadata_only_keeps_vector(docs: Collection) -> None:
    before = docs.get("id2")
    assert docs.update("id2", metadata={"fresh": True}, merge=False) == 1
    after = docs.get("id2")
    assert before is not None and after is not None
    np.testing.assert_array_equal(after.vector, before.vector)
    assert after.metadata == {"fresh": True}
    docs.update(["id2"], metadata=[None])  # a None entry leaves the record's metadata
    assert docs.get("id2").metadata == {"fresh": True}  # type: ignore[union-attr]


def test_update_metadata_merges_into_what_is_stored(docs: Collection) -> None:
    stored = {"n": 2, "tags": ["a", "b"], "nested": {"x": 1.5}}
    assert docs.update("id2", metadata={"n": 20, "new": None}) == 1
    assert docs.get("id2").metadata == {**stored, "n": 20, "new": None}  # type: ignore[union-attr]
    docs.update("id2", unset=["nested.x", "tags", "absent"])
    assert docs.get("id2").metadata == {"n": 20, "new": None, "nested": {}}  # type: ignore[union-attr]
    # one mapping for several ids applies to each; a list gives each its own
    assert docs.update(["id1", "id2"], metadata={"seen": True}) == 2
    assert docs.get("id1").metadata["seen"] is True  # type: ignore[index, union-attr]
    assert docs.get("id1").metadata["n"] == 1  # type: ignore[index, union-attr]
    docs.update(["id1", "id2"], metadata=[{"k": 1}, None])
    assert docs.get("id2").metadata == {"n": 20, "new": None, "nested": {}, "seen": True}  # type: ignore[union-attr]


def test_update_where_changes_every_match_in_one_write(db: Database, docs: Collection) -> None:
    lsn_before = db.health()["last_lsn"]
    assert docs.update(where={"n": {"$gte": 1}}, metadata={"checked": True}) == 4
    assert db.health()["last_lsn"] == lsn_before + 1  # one record for every match
    checked = docs.find(where={"checked": True})
    assert {record.id for record in checked} == {
        record.id for record in docs.find(where={"n": {"$gte": 1}})
    }
    assert docs.update(where={"n": 999}, metadata={"x": 1}) == 0
    with pytest.raises(vectordb.InvalidArgumentError, match="changes metadata only"):
        docs.update(where={"n": 1}, vectors=np.ones((1, 4)))
    with pytest.raises(vectordb.InvalidArgumentError, match="exactly one of them"):
        docs.update(["id1"], where={"n": 1}, metadata={"x": 1})
    with pytest.raises(vectordb.InvalidArgumentError, match="list of metadata keys"):
        docs.update("id1", unset="n")


def test_update_merge_reads_what_another_process_wrote(tmp_path: Path) -> None:
    """The merge runs under the writer lock after catching up: a key another process set
    between this handle's last read and its update is kept."""
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2]], ids=["a"], metadata=[{"text": "kept"}])
        assert docs.get("a").metadata == {"text": "kept"}  # type: ignore[union-attr]
        script = (
            "import vectordb\n"
            f"with vectordb.open({str(path)!r}) as db:\n"
            "    db.get_collection('docs').update('a', metadata={'other': 1})\n"
        )
        subprocess.run([sys.executable, "-c", script], check=True)
        docs.update("a", metadata={"mine": 2})
        assert docs.get("a").metadata == {"text": "kept", "other": 1, "mine": 2}  # type: ignore[union-attr]


def test_update_both(docs: Collection) -> None:
    docs.update(["id1", "id3"], vectors=np.ones((2, 4)), metadata=[{"a": 1}, {"b": 2}])
    assert docs.get("id1").metadata == {  # type: ignore[union-attr]
        "n": 1, "tags": ["a", "b"], "nested": {"x": 1.5}, "a": 1,
    }  # fmt: skip
    np.testing.assert_array_equal(docs.get("id3").vector, np.ones(4))  # type: ignore[union-attr]
    docs.update(["id1"], vectors=np.zeros((1, 4)), metadata={"only": True}, merge=False)
    assert docs.get("id1").metadata == {"only": True}  # type: ignore[union-attr]


def test_delete_in_bulk(docs: Collection) -> None:
    assert docs.delete(["id0", "id4"]) == 2
    assert len(docs) == 3
    assert docs.get("id0") is None
    assert docs.delete("nope", missing_ok=True) == 0
    assert docs.delete(["id1", "nope"], missing_ok=True) == 1
    assert docs.ids() == ["id2", "id3"]


def test_deleted_rows_are_reused_after_checkpoint(db: Database, rng: np.random.Generator) -> None:
    collection = db.create_collection("c", dim=4, initial_capacity=8)
    collection.add(rng.standard_normal((8, 4)), ids=[str(i) for i in range(8)])
    db.checkpoint()
    capacity = collection.stats().disk_bytes
    collection.delete([str(i) for i in range(8)])
    db.checkpoint()
    collection.add(rng.standard_normal((8, 4)), ids=[f"b{i}" for i in range(8)])
    assert collection.stats().disk_bytes <= capacity + 4096  # no growth: rows were reused
    assert len(collection) == 8


def test_metadata_roundtrip_types(db: Database) -> None:
    collection = db.create_collection("c", dim=2)
    meta = {
        "s": "text",
        "i": -5,
        "f": 1.25,
        "b": True,
        "n": None,
        "l": [1, "x", [2]],
        "d": {"deep": {"deeper": [1.5]}},
        "bytes": b"\x00\x01",
        "big": 2**62,
        "np": np.int64(7),
        "unicode": "żółw 🐢",
    }
    collection.add([[1, 0]], ids=["a"], metadata=[meta])
    stored = collection.get("a").metadata  # type: ignore[union-attr]
    assert stored == {**meta, "np": 7}


def test_normalize_collection_stores_unit_vectors(db: Database) -> None:
    collection = db.create_collection("c", dim=2, metric="cosine", normalize=True)
    collection.add([[3, 4]], ids=["a"])
    np.testing.assert_allclose(collection.get("a").vector, [0.6, 0.8], rtol=1e-6)  # type: ignore[union-attr]


# ------------------------------------------------------------------------- search
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_search_matches_brute_force(db: Database, rng: np.random.Generator, metric: str) -> None:
    collection = db.create_collection("c", dim=16, metric=metric)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    collection.add(vectors, ids=[str(i) for i in range(500)])
    query = rng.standard_normal(16).astype(np.float32)
    v64, q64 = vectors.astype(np.float64), query.astype(np.float64)
    if metric == "cosine":
        expected = v64 @ q64 / (np.linalg.norm(v64, axis=1) * np.linalg.norm(q64))
        order = np.argsort(-expected)
    elif metric == "dot":
        expected = v64 @ q64
        order = np.argsort(-expected)
    else:
        expected = np.linalg.norm(v64 - q64, axis=1)
        order = np.argsort(expected)
    for mode in ("numpy", "numba", "scalar"):
        hits = collection.search(query, k=10, mode=mode)  # type: ignore[arg-type]
        assert [h.id for h in hits] == [str(i) for i in order[:10]], mode
        np.testing.assert_allclose([h.score for h in hits], expected[order[:10]], rtol=1e-5)


def test_search_skips_deleted_and_returns_fewer_when_k_exceeds_count(docs: Collection) -> None:
    docs.delete(["id0", "id1"])
    hits = docs.search([0, 0, 0, 0], k=50)
    assert sorted(h.id for h in hits) == ["id2", "id3", "id4"]
    assert [h.score for h in hits] == sorted(h.score for h in hits)  # euclidean: ascending


def test_search_include(docs: Collection) -> None:
    hit = docs.search([0, 0, 0, 0], k=1, include=("vector",))[0]
    assert hit.metadata is None
    assert hit.vector is not None and hit.vector.shape == (4,)
    hit = docs.search([0, 0, 0, 0], k=1)[0]
    assert hit.metadata is not None and hit.vector is None


def test_search_batch_one_list_per_query(docs: Collection, rng: np.random.Generator) -> None:
    queries = rng.standard_normal((7, 4))
    results = docs.search_batch(queries, k=2)
    assert len(results) == 7
    for query, hits in zip(queries, results):
        assert [h.id for h in hits] == [h.id for h in docs.search(query, k=2)]


def test_search_empty_collection(db: Database) -> None:
    collection = db.create_collection("c", dim=3)
    assert collection.search([1, 2, 3], k=5) == []


def test_search_sees_upserted_vector(docs: Collection) -> None:
    docs.upsert([[100, 100, 100, 100]], ids=["id2"])
    assert docs.search([100, 100, 100, 100], k=1)[0].id == "id2"
    assert docs.search([100, 100, 100, 100], k=1)[0].score == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------------- bad inputs
BAD_CALLS: list[tuple[str, Callable[[Collection], Any], type[Exception]]] = [
    (
        "wrong dim",
        lambda c: c.add(np.ones((2, 5)), ids=["x", "y"]),
        vectordb.DimensionMismatchError,
    ),
    ("NaN", lambda c: c.add([[1, 2, np.nan, 4]], ids=["x"]), vectordb.InvalidVectorError),
    ("inf", lambda c: c.add([[1, 2, np.inf, 4]], ids=["x"]), vectordb.InvalidVectorError),
    (
        "beyond float32",
        lambda c: c.add(np.full((1, 4), 1e300), ids=["x"]),
        vectordb.InvalidVectorError,
    ),
    ("strings", lambda c: c.add([["a", "b", "c", "d"]], ids=["x"]), vectordb.InvalidVectorError),
    (
        "ragged",
        lambda c: c.add([[1, 2, 3, 4], [1, 2]], ids=["x", "y"]),
        vectordb.InvalidVectorError,
    ),
    ("complex", lambda c: c.add(np.ones((1, 4), complex), ids=["x"]), vectordb.InvalidVectorError),
    ("3-D", lambda c: c.add(np.ones((1, 1, 4)), ids=["x"]), vectordb.InvalidArgumentError),
    ("empty batch", lambda c: c.add(np.ones((0, 4)), ids=[]), vectordb.InvalidArgumentError),
    (
        "ids/vectors mismatch",
        lambda c: c.add(np.ones((2, 4)), ids=["x"]),
        vectordb.InvalidArgumentError,
    ),
    (
        "metadata mismatch",
        lambda c: c.add(np.ones((2, 4)), ids=["x", "y"], metadata=[{}]),
        vectordb.InvalidArgumentError,
    ),
    (
        "stored duplicate",
        lambda c: c.add(np.ones((2, 4)), ids=["x", "id0"]),
        vectordb.DuplicateIdError,
    ),
    (
        "batch duplicate",
        lambda c: c.add(np.ones((2, 4)), ids=["x", "x"]),
        vectordb.DuplicateIdError,
    ),
    (
        "upsert batch duplicate",
        lambda c: c.upsert(np.ones((2, 4)), ids=["id0", "id0"]),
        vectordb.DuplicateIdError,
    ),
    ("non-string id", lambda c: c.add(np.ones((1, 4)), ids=[5]), vectordb.InvalidArgumentError),
    ("empty id", lambda c: c.add(np.ones((1, 4)), ids=[""]), vectordb.InvalidArgumentError),
    ("NUL in id", lambda c: c.add(np.ones((1, 4)), ids=["a\x00b"]), vectordb.InvalidArgumentError),
    ("huge id", lambda c: c.add(np.ones((1, 4)), ids=["x" * 600]), vectordb.InvalidArgumentError),
    (
        "surrogate id",
        lambda c: c.add(np.ones((1, 4)), ids=["\ud800"]),
        vectordb.InvalidArgumentError,
    ),
    (
        "unpackable metadata",
        lambda c: c.add(np.ones((1, 4)), ids=["x"], metadata=[{"o": object()}]),
        vectordb.InvalidMetadataError,
    ),
    (
        "set metadata",
        lambda c: c.add(np.ones((1, 4)), ids=["x"], metadata=[{"s": {1}}]),
        vectordb.InvalidMetadataError,
    ),
    (
        "non-str key",
        lambda c: c.add(np.ones((1, 4)), ids=["x"], metadata=[{1: "a"}]),
        vectordb.InvalidMetadataError,
    ),
    (
        "metadata not mapping",
        lambda c: c.add(np.ones((1, 4)), ids=["x"], metadata=["a"]),
        vectordb.InvalidMetadataError,
    ),
    (
        "update unknown",
        lambda c: c.update(["id0", "nope"], metadata=[{}, {}]),
        vectordb.IdNotFoundError,
    ),
    (
        "update unknown vectors",
        lambda c: c.update(["nope"], vectors=np.ones((1, 4))),
        vectordb.IdNotFoundError,
    ),
    ("update nothing", lambda c: c.update(["id0"]), vectordb.InvalidArgumentError),
    (
        "update count mismatch",
        lambda c: c.update(["id0", "id1"], vectors=np.ones((1, 4))),
        vectordb.InvalidArgumentError,
    ),
    (
        "update NaN",
        lambda c: c.update(["id0"], vectors=[[np.nan] * 4]),
        vectordb.InvalidVectorError,
    ),
    ("delete unknown", lambda c: c.delete(["id0", "nope"]), vectordb.IdNotFoundError),
    ("delete empty", lambda c: c.delete([]), vectordb.InvalidArgumentError),
    ("delete bad type", lambda c: c.delete(5), vectordb.InvalidArgumentError),  # type: ignore[arg-type]
    ("k zero", lambda c: c.search([1, 2, 3, 4], k=0), vectordb.InvalidArgumentError),
    ("k negative", lambda c: c.search([1, 2, 3, 4], k=-1), vectordb.InvalidArgumentError),
    ("k bool", lambda c: c.search([1, 2, 3, 4], k=True), vectordb.InvalidArgumentError),
    ("k float", lambda c: c.search([1, 2, 3, 4], k=2.5), vectordb.InvalidArgumentError),
    ("query dim", lambda c: c.search([1, 2, 3], k=1), vectordb.DimensionMismatchError),
    ("query NaN", lambda c: c.search([1, 2, np.nan, 4], k=1), vectordb.InvalidVectorError),
    ("query 2-D", lambda c: c.search([[1, 2, 3, 4]], k=1), vectordb.InvalidArgumentError),
    (
        "bad include",
        lambda c: c.search([1, 2, 3, 4], include=("everything",)),
        vectordb.InvalidArgumentError,
    ),
    ("bad mode", lambda c: c.search([1, 2, 3, 4], mode="gpu"), vectordb.InvalidArgumentError),
    ("ids negative offset", lambda c: c.ids(offset=-1), vectordb.InvalidArgumentError),
    ("get_many bad ids", lambda c: c.get_many([1]), vectordb.InvalidArgumentError),
]


@pytest.mark.parametrize(("case", "call", "error"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_and_changes_nothing(
    docs: Collection, case: str, call: Callable[[Collection], Any], error: type[Exception]
) -> None:
    before = snapshot_of(docs)
    with pytest.raises(error) as raised:
        call(docs)
    assert isinstance(raised.value, vectordb.VectorDBError)
    assert str(raised.value)  # a message that says something
    assert snapshot_of(docs) == before


def test_bad_input_changes_nothing_on_disk(db_path: Path, rng: np.random.Generator) -> None:
    with vectordb.open(db_path) as db:
        collection = db.create_collection("c", dim=4)
        collection.add(rng.standard_normal((3, 4)), ids=["id0", "id1", "id2"])
        before = snapshot_of(collection)
        for _case, call, error in BAD_CALLS:
            with pytest.raises(error):
                call(collection)
    with vectordb.open(db_path) as db:
        assert snapshot_of(db.get_collection("c")) == before


def test_cosine_rejects_zero_vectors(db: Database) -> None:
    collection = db.create_collection("c", dim=2, metric="cosine")
    with pytest.raises(vectordb.InvalidVectorError, match="zeros"):
        collection.add([[0, 0]], ids=["z"])
    collection.add([[1, 0]], ids=["a"])
    with pytest.raises(vectordb.InvalidVectorError):
        collection.search([0, 0], k=1)
    assert len(collection) == 1


def test_errors_subclass_builtins() -> None:
    assert issubclass(vectordb.DimensionMismatchError, ValueError)
    assert issubclass(vectordb.CollectionNotFoundError, LookupError)
    assert issubclass(vectordb.IdNotFoundError, KeyError)
    assert issubclass(vectordb.LockTimeoutError, TimeoutError)
    assert issubclass(vectordb.ReadOnlyError, PermissionError)
    assert issubclass(vectordb.DatabaseClosedError, RuntimeError)
    assert issubclass(vectordb.StorageFullError, OSError)
    assert issubclass(vectordb.UnsupportedFormatError, vectordb.CorruptionError)


def test_caller_buffer_is_copied(db: Database) -> None:
    collection = db.create_collection("c", dim=2, metric="dot")
    vectors = np.array([[1.0, 2.0]], dtype=np.float32)
    collection.add(vectors, ids=["a"])
    vectors[0, 0] = 99.0
    np.testing.assert_array_equal(collection.get("a").vector, [1.0, 2.0])  # type: ignore[union-attr]
    returned = collection.get("a").vector  # type: ignore[union-attr]
    returned[0] = 42.0
    np.testing.assert_array_equal(collection.get("a").vector, [1.0, 2.0])  # type: ignore[union-attr]


def test_hit_is_an_immutable_value() -> None:
    vector = np.ones(3, np.float32)
    hit = vectordb.Hit("a", 0.5, {"k": 1}, vector)
    assert (hit.id, hit.score, hit.metadata) == ("a", 0.5, {"k": 1})
    assert hit.vector is vector
    vector_id, score, metadata, stored, document = hit  # format 3: the document is the fifth
    assert (vector_id, score, metadata, stored is vector, document) == (
        "a", 0.5, {"k": 1}, True, None
    )  # fmt: skip
    assert hit == vectordb.Hit("a", 0.5, {"k": 1})  # vectors do not take part in equality
    assert hit != vectordb.Hit("a", 0.5, {"k": 1}, None, "text")  # documents do
    assert len(repr(vectordb.Hit("a", 0.5, None, None, "t" * 1000))) < 120  # short
    assert hit != vectordb.Hit("a", 0.25, {"k": 1})
    assert hash(hit) == hash(vectordb.Hit("a", 0.5))
    with pytest.raises(AttributeError):
        hit.score = 1.0  # type: ignore[misc]
    assert repr(vectordb.Hit("b", 1.0)) == "Hit(id='b', score=1.0, metadata=None)"


def test_extreme_but_finite_vectors_are_accepted(tmp_path: Path) -> None:
    """Values whose float32 squares underflow (1e-30) are still non-zero vectors, and large
    ones up to the squared-norm limit (2**125) are fine: the fast float32 checks must hand
    them to the exact float64 ones. Values whose float32 squares overflow (1e20) are refused
    (tests/test_inputs.py has the details)."""
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=3, metric="cosine")
        collection.add([[6e18, 0, 0], [0, 1e-30, 0]], ids=["huge", "tiny"])
        assert collection.search([6e18, 0, 0], k=1)[0].id == "huge"
        assert collection.search(np.array([0, 1e-30, 0], np.float32), k=1)[0].id == "tiny"
        with pytest.raises(vectordb.InvalidVectorError, match="squared L2 norm"):
            collection.add([[1e20, 0, 0]], ids=["too-big"])
        with pytest.raises(vectordb.InvalidVectorError, match="zeros"):
            collection.add([[0, 0, 0]], ids=["zero"])
        with pytest.raises(vectordb.InvalidVectorError, match="NaN"):
            collection.search([np.nan, 0, 0])
        assert len(collection) == 2


def test_warmup_touches_every_vector_and_warmup_on_open_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.standard_normal((5000, 16)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=16, metric="euclidean")
        collection.add(data, ids=[str(i) for i in range(5000)])
        assert collection.warmup() == 5000 * 16 * 4
        empty = db.create_collection("empty", dim=4)
        assert empty.warmup() == 0
    import threading

    with vectordb.open(tmp_path / "db", config={"warmup_on_open": True}) as db:
        collection = db.get_collection("c")
        assert collection.search(data[42], k=1)[0].id == "42"
        warmers = [t for t in threading.enumerate() if t.name == "vectordb-warmup"]
        for thread in warmers:
            thread.join(timeout=60)
        assert collection.search(data[7], k=1, mode="numba")[0].id == "7"
    with pytest.raises(vectordb.InvalidConfigError, match="warmup_on_open"):
        vectordb.open(tmp_path / "db", config={"warmup_on_open": "yes"})


def test_find_returns_an_empty_list_when_nothing_matches(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=2)
    assert docs.find({"lang": "en"}) == []  # empty collection
    docs.add([[1, 2], [3, 4]], ids=["a", "b"], metadata=[{"lang": "de"}, None])
    assert docs.find({"lang": "en"}) == []
    assert docs.find({"lang": "de"}, limit=0) == []
    assert [r.id for r in docs.find({"lang": "de"}, limit=5)] == ["a"]
