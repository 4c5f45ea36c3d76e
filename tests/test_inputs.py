"""Input validation (vectordb/inputs.py): every bad input gets a specific error from
vectordb.errors on every write path and leaves the stored data untouched; what is stored can
always be filtered and searched. Also: the top-k kernels keep rows whose scores are not finite
(vectors an older version accepted).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb
from vectordb import inputs
from vectordb.config import Metric
from vectordb.index import flat, jit
from vectordb.inputs import MAX_METADATA_DEPTH, MAX_SQUARED_NORM

try:
    import pandas
except ImportError:  # pragma: no cover - pandas is optional
    pandas = None

needs_pandas = pytest.mark.skipif(pandas is None, reason="pandas is not installed")

DIM = 4
METRICS = ["cosine", "dot", "euclidean"]


@pytest.fixture
def docs(db: vectordb.Database) -> vectordb.Collection:
    """A collection with two records (one with metadata, one without)."""
    collection = db.create_collection("docs", dim=DIM, metric="euclidean")
    collection.add([[1, 0, 0, 0], [0, 1, 0, 0]], ids=["a0", "b0"], metadata=[{"y": 1}, None])
    return collection


def state(collection: vectordb.Collection) -> dict[str, tuple[list[float], Any]]:
    ids = collection.ids()
    return {
        record.id: (record.vector.tolist(), record.metadata)
        for record in collection.get_many(ids)
        if record is not None
    }


def assert_usable(collection: vectordb.Collection) -> None:
    """Filters (on any field) and searches reaching every record work, and check() is clean."""
    assert collection._database.check() == []
    assert collection.count(where={"y": 1}) in (0, 1)
    assert collection.count(where={"tags.x": "q"}) >= 0
    n = len(collection)
    for mode in ("numba", "numpy", "scalar"):
        assert len(collection.search([1, 1, 0, 0], k=n + 1, mode=mode)) == n
    present = collection.count(where={"y": {"$exists": True}})
    assert present + collection.count(where={"y": {"$exists": False}}) == n
    assert len(collection.search([1, 1, 0, 0], k=n, where={"y": {"$exists": True}})) == present


# the write paths, each given one record (id, vector, metadata); "update" changes "a0"
def write_add(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    c.add([vector], ids=["a1"], metadata=[metadata])


def write_upsert(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    c.upsert([vector], ids=["a1"], metadata=[metadata])


def write_update_metadata(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    c.update(["a0"], metadata=[metadata], merge=False)  # stores exactly this


def write_update_vectors(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    c.update(["a0"], vectors=[vector])


def write_transaction(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    with c.batch():
        c.upsert([[0, 0, 1, 0]], ids=["fine"], metadata=[{"ok": True}])
        c.add([vector], ids=["a1"], metadata=[metadata])


def write_import(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    path = tmp / "rows.jsonl"
    row = {"id": "a1", "vector": list(vector), "metadata": metadata}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    c.import_file(path)


def write_dataframe(c: vectordb.Collection, vector: Any, metadata: Any, tmp: Path) -> None:
    assert pandas is not None
    frame = pandas.DataFrame({"id": ["a1"], "vector": [np.asarray(vector)], "metadata": [metadata]})
    c.add_dataframe(frame)


WRITES: dict[str, Callable[..., None]] = {
    "add": write_add,
    "upsert": write_upsert,
    "update": write_update_metadata,
    "transaction": write_transaction,
    "import": write_import,
    "dataframe": write_dataframe,
}
VECTOR_WRITES: dict[str, Callable[..., None]] = {
    **{name: WRITES[name] for name in ("add", "upsert", "transaction", "import", "dataframe")},
    "update": write_update_vectors,
}


def write_params(writes: dict[str, Callable[..., None]], *, json_able: bool = True) -> list[Any]:
    params = []
    for name, write in writes.items():
        marks = [needs_pandas] if name == "dataframe" else []
        if name == "import" and not json_able:
            continue
        params.append(pytest.param(write, id=name, marks=marks))
    return params


def refused(
    c: vectordb.Collection,
    write: Callable[..., None],
    vector: Any,
    metadata: Any,
    tmp: Path,
    error: type[Exception],
    match: str,
) -> str:
    """``write`` raises ``error`` (matching) and changes nothing; returns the message."""
    before = state(c)
    with pytest.raises(error, match=match) as caught:
        write(c, vector, metadata, tmp)
    assert state(c) == before
    assert_usable(c)
    return str(caught.value)


# ------------------------------------------------------------------ item 1: metadata
@pytest.mark.parametrize("write", write_params(WRITES, json_able=False))
def test_a_nested_non_string_key_is_refused_and_bricks_nothing(
    docs: vectordb.Collection, write: Callable[..., None], tmp_path: Path
) -> None:
    message = refused(docs, write, [1, 1, 1, 1], {"tags": {1: "x"}}, tmp_path,
                      vectordb.InvalidMetadataError, "keys must be strings")  # fmt: skip
    assert "at tags.1" in message


def test_the_message_names_the_record_and_the_path(docs: vectordb.Collection) -> None:
    with pytest.raises(vectordb.InvalidMetadataError) as caught:
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"tags": {1: "x"}}])
    assert str(caught.value).startswith("metadata of id 'a1' at tags.1 cannot be stored")
    with pytest.raises(vectordb.InvalidMetadataError, match=r"^metadata of entry 1 at l\[2\]\.k"):
        docs.add([[1, 1, 1, 1]] * 2, metadata=[None, {"l": [0, 1, {"k": {2: 0}}]}])
    with pytest.raises(vectordb.InvalidMetadataError, match=r"at \['a b'\]\.\(1, 2\)"):
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"a b": {(1, 2): 0}}])
    dotted = r"^metadata of id 'a1' at x cannot be stored: the key 'a.b'"
    with pytest.raises(vectordb.InvalidMetadataError, match=dotted):
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"x": {"a.b": 0}}])


def test_check_reports_metadata_an_older_version_let_in(
    db: vectordb.Database, docs: vectordb.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database written before this validation may hold a nested non-string key: check()
    names the record (reads of it raise CorruptionError, as for any undecodable bytes)."""
    import msgpack

    real = inputs.MetadataEncoder.encode

    def old_encode(self: Any, entry: Any, *args: Any, **kwargs: Any) -> Any:
        return entry, msgpack.packb(entry, use_bin_type=True)

    monkeypatch.setattr(inputs.MetadataEncoder, "encode", old_encode)
    docs.add([[1, 1, 1, 1]], ids=["old"], metadata=[{"tags": {1: "x"}}])
    monkeypatch.setattr(inputs.MetadataEncoder, "encode", real)
    problems = db.check()
    assert len(problems) == 1
    assert "metadata of id 'old'" in problems[0].message
    docs.update(["old"], metadata=[{"tags": {"1": "x"}}])
    assert db.check() == []


@pytest.mark.parametrize("write", write_params(WRITES))
@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 2**70, -(10**30)])
def test_an_int_outside_msgpack_range_is_out_of_range(
    docs: vectordb.Collection, write: Callable[..., None], value: int, tmp_path: Path
) -> None:
    message = refused(docs, write, [1, 1, 1, 1], {"n": {"deep": [value]}}, tmp_path,
                      vectordb.InvalidMetadataError, "out of range")  # fmt: skip
    assert "cannot store a value of type int" not in message
    assert "at n.deep[0]" in message


@pytest.mark.parametrize("write", write_params(WRITES))
def test_ints_at_the_ends_of_msgpack_range_round_trip(
    docs: vectordb.Collection, write: Callable[..., None], tmp_path: Path
) -> None:
    metadata = {"low": -(2**63), "high": 2**64 - 1, "list": [2**63, -1]}
    target = "a0" if write is write_update_metadata else "a1"
    write(docs, [1, 1, 1, 1], metadata, tmp_path)
    record = docs.get(target)
    assert record is not None
    assert record.metadata == metadata
    assert docs.count(where={"high": 2**64 - 1}) == 1
    assert_usable(docs)


@pytest.mark.parametrize("write", write_params(WRITES))
def test_nan_is_refused_everywhere_and_infinities_are_stored(
    docs: vectordb.Collection, write: Callable[..., None], tmp_path: Path
) -> None:
    refused(docs, write, [1, 1, 1, 1], {"x": [1.0, {"v": math.nan}]}, tmp_path,
            vectordb.InvalidMetadataError, r"at x\[1\]\.v cannot be stored: NaN")  # fmt: skip
    target = "a0" if write is write_update_metadata else "a1"
    write(docs, [1, 1, 1, 1], {"x": math.inf, "y": 1, "z": -0.0}, tmp_path)
    assert docs.get(target).metadata == {"x": math.inf, "y": 1, "z": -0.0}  # type: ignore[union-attr]
    assert docs.count(where={"x": {"$gt": 1e308}}) == 1


@pytest.mark.parametrize("write", write_params(WRITES, json_able=False))
@pytest.mark.parametrize(
    ("metadata", "path"),
    [({"s": "ok \ud800"}, "at s "), ({"k": {"\udc00": 1}}, r"at k\['\\udc00'\]")],
)
def test_a_lone_surrogate_is_refused(
    docs: vectordb.Collection,
    write: Callable[..., None],
    metadata: dict[str, Any],
    path: str,
    tmp_path: Path,
) -> None:
    refused(docs, write, [1, 1, 1, 1], metadata, tmp_path, vectordb.InvalidMetadataError,
            f"{path}.*not valid UTF-8")  # fmt: skip


def test_a_lone_surrogate_in_a_json_file_is_refused(
    docs: vectordb.Collection, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a1", "vector": [1, 1, 1, 1], "metadata": {"s": "\\ud800"}}\n')
    with pytest.raises(vectordb.InvalidMetadataError, match=r"line 1: metadata at s .*UTF-8"):
        docs.import_file(path)
    assert len(docs) == 2


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value whose containers nest ``depth`` levels (maps and lists alternating)."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("write", write_params(WRITES))
def test_nesting_is_capped(
    docs: vectordb.Collection, write: Callable[..., None], tmp_path: Path
) -> None:
    # the record's mapping is level 1: MAX_METADATA_DEPTH - 1 more levels fit
    deepest = {"d": nested(MAX_METADATA_DEPTH - 1)}
    target = "a0" if write is write_update_metadata else "a1"
    write(docs, [1, 1, 1, 1], deepest, tmp_path)
    assert docs.get(target).metadata == deepest  # type: ignore[union-attr]
    assert_usable(docs)
    docs.delete(["a1"], missing_ok=True)
    refused(docs, write, [1, 1, 1, 1], {"d": nested(MAX_METADATA_DEPTH)}, tmp_path,
            vectordb.InvalidMetadataError, f"more than {MAX_METADATA_DEPTH} levels")  # fmt: skip


def test_very_deep_nesting_is_an_error_not_a_recursion_error(docs: vectordb.Collection) -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(vectordb.InvalidMetadataError, match="levels"):
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"d": deep}])
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(vectordb.InvalidMetadataError, match="levels"):
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"loop": loop}])
    assert_usable(docs)


@pytest.mark.parametrize("write", write_params(WRITES, json_able=False))
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({1, 2}, "sets are not storable; use a list"),
        (np.datetime64("NaT"), "NaT is not storable"),
        (np.timedelta64(5, "s"), "durations are not storable"),
        ({"a.b": 1}, "the key 'a.b' holds a '.': filters read a dot as a path"),
        (1j, "cannot store a value of type complex"),
        (object(), "cannot store a value of type object"),
    ],
)
def test_unstorable_values_keep_their_messages(
    docs: vectordb.Collection, write: Callable[..., None], value: Any, words: str, tmp_path: Path
) -> None:
    refused(docs, write, [1, 1, 1, 1], {"v": [value]}, tmp_path, vectordb.InvalidMetadataError,
            rf"at v\[0\] cannot be stored: {words}")  # fmt: skip


@pytest.mark.parametrize("write", write_params(WRITES, json_able=False))
def test_numpy_values_become_python_values(
    docs: vectordb.Collection, write: Callable[..., None], tmp_path: Path
) -> None:
    metadata = {
        "i": np.int64(-5),
        "u": np.uint64(2**64 - 1),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "s": np.str_("text"),
        "array": np.arange(3, dtype=np.int16),
        "matrix": np.eye(2, dtype=np.float32),
        "tuple": (1, ("two", 3.0)),
        "nested": {"x": [np.float64(1.5), np.int8(2)]},
    }
    target = "a0" if write is write_update_metadata else "a1"
    write(docs, [1, 1, 1, 1], metadata, tmp_path)
    stored = docs.get(target).metadata  # type: ignore[union-attr]
    assert stored == {
        "i": -5,
        "u": 2**64 - 1,
        "f": 0.5,
        "b": True,
        "s": "text",
        "array": [0, 1, 2],
        "matrix": [[1.0, 0.0], [0.0, 1.0]],
        "tuple": [1, ["two", 3.0]],
        "nested": {"x": [1.5, 2]},
    }
    assert type(stored["b"]) is bool and type(stored["i"]) is int
    assert docs.count(where={"u": 2**64 - 1}) == 1
    assert docs.count(where={"b": True}) == 1


def test_a_bad_value_is_quoted_briefly(docs: vectordb.Collection) -> None:
    with pytest.raises(vectordb.InvalidMetadataError) as caught:
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"s": "x" * 10_000 + "\ud800"}])
    assert len(str(caught.value)) < 300
    with pytest.raises(vectordb.InvalidMetadataError) as caught:
        docs.add([[1, 1, 1, 1]], ids=["a1"], metadata=[{"n": 10**5000}])  # beyond int -> str
    assert "out of range" in str(caught.value)
    assert len(str(caught.value)) < 300


def test_schema_checks_see_converted_numpy_values(db: vectordb.Database) -> None:
    c = db.create_collection("s", dim=DIM, metadata_schema={"year": "int", "ok": "bool"})
    c.add([[1, 1, 1, 1]], ids=["a"], metadata=[{"year": np.int32(2024), "ok": np.bool_(False)}])
    assert c.get("a").metadata == {"year": 2024, "ok": False}  # type: ignore[union-attr]
    with pytest.raises(vectordb.InvalidMetadataError, match="must be int"):
        c.add([[1, 1, 1, 1]], ids=["b"], metadata=[{"year": "2024"}])


def test_max_id_bytes_lives_in_inputs_and_transfer_does_not_import_collection() -> None:
    from vectordb import collection
    from vectordb.transfer import validation

    assert inputs.MAX_ID_BYTES == collection.MAX_ID_BYTES == validation.MAX_ID_BYTES == 512
    for module in (inputs, validation):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[arg-type]
        runtime_imports = [
            node.module
            for node in tree.body  # module level only: TYPE_CHECKING blocks are ast.If
            if isinstance(node, ast.ImportFrom)
        ]
        assert "vectordb.collection" not in runtime_imports, module.__name__


# ------------------------------------------------------------------ item 2: vectors
LIMIT_ROOT = 2.0**62  # [2**62, 2**62] has squared norm 2**125, the limit itself


@pytest.mark.parametrize("write", write_params(VECTOR_WRITES))
@pytest.mark.parametrize("value", [1e19, 2.0**62 * 1.0001, 3e38])
def test_a_vector_beyond_the_norm_limit_is_refused(
    docs: vectordb.Collection, write: Callable[..., None], value: float, tmp_path: Path
) -> None:
    message = refused(docs, write, [value, value, 0, 0], None, tmp_path,
                      vectordb.InvalidVectorError, r"squared L2 norm .*2\*\*125")  # fmt: skip
    assert "finite" in message


@pytest.mark.parametrize("write", write_params(VECTOR_WRITES))
def test_a_vector_at_the_norm_limit_is_stored(
    docs: vectordb.Collection, write: Callable[..., None], tmp_path: Path
) -> None:
    write(docs, [LIMIT_ROOT, LIMIT_ROOT, 0, 0], None, tmp_path)
    assert_usable(docs)


def test_the_refused_row_is_named(docs: vectordb.Collection, tmp_path: Path) -> None:
    with pytest.raises(vectordb.InvalidVectorError, match=r"^vector 2 has squared L2 norm"):
        docs.add([[1, 1, 1, 1], [2, 2, 2, 2], [1e19] * 4], ids=["x", "y", "z"])
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(
        json.dumps({"id": f"r{i}", "vector": [1e19 if i == 2 else 1] * 4}) + "\n" for i in range(4)
    ))  # fmt: skip
    with pytest.raises(vectordb.InvalidVectorError, match="line 3: vector has squared L2 norm"):
        docs.import_file(path)
    assert len(docs) == 2


@pytest.mark.parametrize("metric", METRICS)
def test_queries_beyond_the_norm_limit_are_refused(db: vectordb.Database, metric: str) -> None:
    c = db.create_collection("q", dim=2, metric=metric)
    v = np.array([2.0**61, 2.0**61])  # squared norm 2**123
    c.add([v, -v, [1, 0]], ids=["v", "minus", "x"])
    big = [1e19, 1e19]
    with pytest.raises(vectordb.InvalidVectorError, match=r"^query 0 has squared L2 norm"):
        c.search(big)
    with pytest.raises(vectordb.InvalidVectorError, match=r"^query 1 has squared L2 norm"):
        c.search_batch([[1, 1], big])
    with pytest.raises(vectordb.InvalidVectorError, match="squared L2 norm"):
        c.search_groups(big, group_by="g")
    # 2 mean(positive) - mean(negative) = 3 v: beyond the limit
    with pytest.raises(vectordb.InvalidVectorError, match="squared L2 norm"):
        c.recommend(["v"], ["minus"])
    assert c.recommend(["v"], k=2)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    "index", [pytest.param({}, id="flat"), {"index": "hnsw"},
              {"index": "ivf", "ivf": {"nlist": 2, "nprobe": 2, "train_after": 4}}],
)  # fmt: skip
def test_vectors_at_the_limit_give_finite_scores_everywhere(
    db: vectordb.Database, metric: str, index: dict[str, Any]
) -> None:
    c = db.create_collection("limit", dim=2, metric=metric, **index)
    x = np.array([LIMIT_ROOT, LIMIT_ROOT], np.float32)
    vectors = [x, -x, [LIMIT_ROOT, -LIMIT_ROOT], [1, 2], [-3, 1], [0.5, 0.5]]
    c.add(vectors, ids=[f"r{i}" for i in range(len(vectors))])
    c.wait_indexed()
    for query in (x, -x, np.array([1, 0], np.float32)):
        expected = c.search(query, k=6, mode="scalar")
        assert len(expected) == 6
        for mode in ("numba", "numpy", "auto"):
            for exact in (False, True):
                hits = c.search(query, k=6, mode=mode, exact=exact)
                assert [h.id for h in hits] == [h.id for h in expected] or index, (mode, exact)
                assert sorted(h.id for h in hits) == sorted(h.id for h in expected)
                assert all(math.isfinite(h.score) for h in hits), (mode, exact, hits)
        for k in (1, 2, 3):
            assert len(c.search(query, k=k)) == k


# ------------------------------------------------------------------ item 2: kernels
def older_database_vectors(metric: Metric) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored vectors as an older version accepted them (float32 squared norms +inf, dot
    products +-inf or NaN), a few ordinary ones, and queries."""
    vectors = np.array(
        [
            [0.5, 0.25, 0.0, 0.0],
            [3e19, -3e19, 3e19, -3e19],  # sq norm inf; q.v = inf - inf = NaN for q = 3e19s
            [1e19, 1e19, 1e19, 1e19],  # sq norm inf
            [0.0, 1.0, 0.0, 0.5],
            [-1e19, -1e19, -1e19, -1e19],
            [1.0, 1.0, 1.0, 1.0],
            [3e38, 3e38, 3e38, 3e38],  # q.v = inf for every query; cosine: inf * 0 = NaN
        ],
        np.float32,
    )
    queries = np.array(
        [[1.0, 1.0, 1.0, 1.0], [3e19, 3e19, 3e19, 3e19], [1e19, 1e19, 1e19, 1e19]], np.float32
    )
    if metric is Metric.COSINE:
        queries = queries / np.float32(3e19)
    with np.errstate(over="ignore"):
        sq_norms = np.einsum("ij,ij->i", vectors, vectors)
    return vectors, sq_norms, queries


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("mode", ["numba", "numpy", "scalar"])
@pytest.mark.parametrize("dead", [False, True])
def test_flat_search_keeps_rows_whose_scores_are_not_finite(
    metric: Metric, mode: flat.SearchMode, dead: bool
) -> None:
    vectors, sq_norms, queries = older_database_vectors(metric)
    live = np.ones(len(vectors), np.bool_)
    if dead:
        live[3] = False
    n_live = int(live.sum())
    for k in range(1, n_live + 2):
        rows, _ = flat.exact_search(vectors, live, sq_norms, queries, k, metric, mode=mode)
        assert rows.shape == (len(queries), min(k, n_live))
        for line in rows.tolist():
            assert len(set(line)) == len(line)
            assert all(0 <= row < len(vectors) and live[row] for row in line), line
        if k >= n_live:
            assert all(set(line) == set(np.flatnonzero(live).tolist()) for line in rows.tolist())
    # the true nearest (exact, float64) wins even where its float32 score is NaN or -inf:
    # every row of a small collection is a candidate, re-scored exactly
    truth, _ = flat.exact_search(vectors, live, sq_norms, queries, 1, metric, mode="scalar")
    rows, _ = flat.exact_search(vectors, live, sq_norms, queries, 1, metric, mode=mode)
    np.testing.assert_array_equal(rows, truth)


def test_the_heap_kernels_keep_infinite_scores_and_make_room_for_nan() -> None:
    """topk_block_update keeps +inf (best) and -inf (worst, ties by row) scores; a NaN one
    never enters, which leaves NO_ROW at the root for _select_numba to fill. The IVF merge
    kernels rank NaN as -inf."""
    raw = np.array([[np.nan, -np.inf, np.inf, 1.0, -np.inf]], np.float32)
    n = raw.shape[1]
    ones, zeros, live = np.ones(n, np.float32), np.zeros(n, np.float32), np.ones(n, np.bool_)
    kernels = jit.load_kernels()
    for k in range(1, n + 1):
        heap_scores = np.full((1, k), -np.inf, np.float32)
        heap_rows = np.full((1, k), flat.NO_ROW, np.int64)
        kernels.topk_block_update(raw, 0, live, ones, zeros, heap_scores, heap_rows, 0, 1)
        # best first: +inf (row 2), 1.0 (row 3), the -inf rows by smaller row (1, 4)
        expected = [2, 3, 1, 4][:k] + [flat.NO_ROW] * (k - 4)
        assert sorted(heap_rows[0].tolist()) == sorted(expected), k
        assert (heap_rows[0, 0] == flat.NO_ROW) == (k == n)
    scan = jit.load_scan_kernels()
    for k in range(1, n + 1):
        ranks = np.full((1, k), -np.inf, np.float32)
        entries = np.full((1, k), flat.NO_ROW, np.int64)
        scan.merge_cell_ranks(raw, np.zeros(1, np.int64), np.float32(1), zeros, 0, ranks, entries)
        # NaN (row 0) ranks as -inf, the smallest row among the -inf ones
        assert sorted(entries[0].tolist()) == sorted([2, 3, 0, 1, 4][:k]), k


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    "index",
    [
        pytest.param({}, id="flat"),
        pytest.param({"index": "hnsw"}, id="hnsw"),
        pytest.param({"index": "ivf", "ivf": {"nlist": 2, "nprobe": 2, "train_after": 4}},
                     id="ivf"),
        pytest.param({"quantization": {"kind": "int8", "rescore": 50}}, id="int8"),
        pytest.param({"index": "ivf", "ivf": {"nlist": 2, "nprobe": 2, "train_after": 4},
                      "quantization": {"kind": "float16", "rescore": 50}}, id="ivf-float16"),
    ],
)  # fmt: skip
def test_searches_over_vectors_an_older_version_accepted_never_fail(
    db: vectordb.Database,
    metric: str,
    index: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vectors beyond today's limit (as an older version stored them) give float32 scores
    that are +-inf or NaN: every search still returns min(k, n) distinct records."""
    monkeypatch.setattr(inputs, "MAX_SQUARED_NORM", math.inf)
    monkeypatch.setattr(inputs, "_TRUSTED_FLOAT32", math.inf)
    c = db.create_collection("old", dim=DIM, metric=metric, **index)
    vectors, _, queries = older_database_vectors(Metric(metric))
    c.add(vectors, ids=[f"r{i}" for i in range(len(vectors))])
    c.wait_indexed()
    n = len(vectors)
    for query in queries:
        for mode in ("numba", "numpy", "scalar", "auto"):
            for k in (1, 2, n - 1, n, n + 3):
                for exact in (False, True):
                    hits = c.search(query, k=k, mode=mode, exact=exact)
                    ids = [hit.id for hit in hits]
                    assert len(ids) == len(set(ids)) == min(k, n), (mode, k, exact, ids)
                    batch = c.search_batch(np.stack([query, query]), k=k, mode=mode, exact=exact)
                    assert [len(line) for line in batch] == [min(k, n)] * 2


def test_squared_norms_are_exact_where_float32_is_not() -> None:
    matrix = np.array(
        [[1e-30, 0, 0], [1e20, 0, 0], [LIMIT_ROOT, LIMIT_ROOT, 0], [np.nan, 0, 0], [0, 0, 0]],
        np.float32,
    )
    squared = inputs.squared_norms(matrix)
    assert squared[0] > 0 and squared[1] == pytest.approx(1e40, rel=1e-6)
    assert squared[2] == MAX_SQUARED_NORM
    assert math.isnan(squared[3]) and squared[4] == 0
    assert inputs.vector_problem(squared[[0, 2, 4]], None) is None
    assert inputs.vector_problem(squared[[0, 2, 4]], "cosine similarity") == (
        2,
        "is all zeros, for which cosine similarity is undefined",
    )
    problem = inputs.vector_problem(squared, None)
    assert problem is not None and problem[0] == 1
