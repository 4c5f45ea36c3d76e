"""Import and export (vectordb.transfer): round trips through every format, bit-exact; bad
rows named by line or row with nothing imported; conflicts, resuming, batching; pandas;
missing optional packages; exports that fail leave nothing behind."""

from __future__ import annotations

import doctest
import importlib
import json
import math
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb
from vectordb.errors import (
    DimensionMismatchError,
    DuplicateIdError,
    ImportInterruptedError,
    InvalidArgumentError,
    InvalidFileError,
    InvalidMetadataError,
    InvalidVectorError,
    MissingDependencyError,
    PathNotFoundError,
    StorageError,
    StorageFullError,
    VectorDBError,
)
from vectordb.transfer import dataframe, export, load
from vectordb.transfer.dataframe import add_dataframe, collection_to_dataframe
from vectordb.transfer.export import export_collection
from vectordb.transfer.load import ImportReport, import_records


def optional(name: str) -> Any:
    """The optional package ``name``, or None: tests that need it are skipped without it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


pa = optional("pyarrow")
pq = optional("pyarrow.parquet")
pd = optional("pandas")
needs_pyarrow = pytest.mark.skipif(pa is None, reason="pyarrow is not installed")
needs_pandas = pytest.mark.skipif(pd is None, reason="pandas is not installed")
needs_tqdm = pytest.mark.skipif(optional("tqdm") is None, reason="tqdm is not installed")

DIM = 4
FORMATS = ["jsonl", "csv", "npy", pytest.param("parquet", marks=needs_pyarrow)]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[vectordb.Database]:
    with vectordb.open(tmp_path / "db") as database:
        yield database


@pytest.fixture
def target(db: vectordb.Database) -> vectordb.Collection:
    """An empty collection to import into."""
    return db.create_collection("target", dim=DIM, metric="euclidean")


def tricky_records(rng: np.random.Generator, n: int = 23) -> tuple[list[str], Any, list[Any]]:
    """Unicode ids (with a comma and a quote for CSV), no-metadata rows, nested and unicode
    metadata, and float32 values that are hard to write as text."""
    ids = [f"rec-{i}" for i in range(n)]
    ids[1] = 'naïve, "quoted" 東京 🚀'
    ids[2] = " padded id "
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    # the largest magnitudes a vector may hold: squared norms up to 2**125 (vectordb.inputs)
    large = np.nextafter(np.float32(4e18), np.float32(np.inf))
    vectors[0] = [-0.0, large, np.finfo(np.float32).smallest_subnormal, 0.1]
    vectors[3] = [np.finfo(np.float32).tiny, -large, 1e-30, 3.0]
    vectors[4] = np.nextafter(np.float32(1), np.float32(2))
    metadata: list[Any] = [None if i % 3 == 0 else {"i": i, "tag": "x"} for i in range(n)]
    metadata[1] = {"text": 'é, "quoted"\nnew line\ttab 東京', "nested": {"list": [1, 2.5, None]}}
    metadata[2] = {"empty": {}, "flag": True, "big": 2**62, "neg": -1.5e-300}
    # characters str.splitlines() would split at, which a line reader must not
    metadata[5] = {"separators": "\u2028 \x85 \x0b \r \x00", "ünï": "東京"}
    ids[5] = "tab\tand\u2028separator"
    return ids, vectors, metadata


def filled(db: vectordb.Database, rng: np.random.Generator, n: int = 23) -> vectordb.Collection:
    source = db.create_collection("source", dim=DIM, metric="euclidean")
    ids, vectors, metadata = tricky_records(rng, n)
    source.add(vectors, ids=ids, metadata=metadata)
    return source


def assert_same_records(left: vectordb.Collection, right: vectordb.Collection) -> None:
    assert left.ids() == right.ids()
    ids = left.ids()
    mine, theirs = left.get_many(ids), right.get_many(ids)
    for a, b in zip(mine, theirs):
        assert a is not None and b is not None
        assert a.metadata == b.metadata
    if ids:
        np.testing.assert_array_equal(
            np.stack([r.vector for r in mine if r]).view(np.uint32),
            np.stack([r.vector for r in theirs if r]).view(np.uint32),
        )


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good_row(i: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": f"f{i}", "vector": [float(i + 1), 1.0, 2.0, 3.0], "metadata": None}
    row.update(changes)
    return row


def seed(collection: vectordb.Collection) -> None:
    """Records that must survive a failed import unchanged."""
    collection.add(np.ones((2, DIM), np.float32), ids=["old-0", "old-1"], metadata=[{"k": 1}, None])


def assert_untouched(collection: vectordb.Collection) -> None:
    assert collection.count() == 2
    assert collection.ids() == ["old-0", "old-1"]
    record = collection.get("old-0")
    assert record is not None and record.metadata == {"k": 1}


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("file_format", FORMATS)
def test_round_trip_is_exact(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    file_format: str,
) -> None:
    source = filled(db, rng)
    path = tmp_path / f"out.{file_format}"
    assert export_collection(source, path, batch_size=5) == 23
    report = import_records(target, path, batch_size=4)
    assert report == ImportReport(23, 0, 0, 23, str(path))
    assert_same_records(source, target)
    assert list(tmp_path.glob(".*")) == []  # no temp file left behind


@pytest.mark.parametrize("file_format", FORMATS)
def test_round_trip_of_an_empty_collection(
    db: vectordb.Database, target: vectordb.Collection, tmp_path: Path, file_format: str
) -> None:
    empty = db.create_collection("empty", dim=DIM)
    path = tmp_path / f"empty.{file_format}"
    assert export_collection(empty, path) == 0
    assert import_records(target, path).rows_read == 0
    assert target.count() == 0


@pytest.mark.parametrize("file_format", FORMATS)
def test_format_argument_overrides_the_suffix(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    file_format: str,
) -> None:
    source = filled(db, rng, n=6)
    path = tmp_path / "records.dat"
    assert export_collection(source, path, format=file_format) == 6
    assert import_records(target, path, format=file_format).imported == 6
    assert_same_records(source, target)


def test_text_and_npy_layouts_are_as_documented(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path
) -> None:
    source = db.create_collection("small", dim=2, metric="euclidean")
    source.add([[0.5, -0.0], [1.0, 2.0]], ids=["a", "b"], metadata=[{"k": "v"}, None])
    export_collection(source, tmp_path / "s.ndjson")
    lines = (tmp_path / "s.ndjson").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "a", "vector": [0.5, -0.0], "metadata": {"k": "v"}},
        {"id": "b", "vector": [1, 2], "metadata": None},
    ]
    assert math.copysign(1.0, json.loads(lines[0])["vector"][1]) == -1.0
    export_collection(source, tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text(encoding="utf-8").splitlines() == [
        "id,metadata,v0,v1",
        'a,"{""k"": ""v""}",0.5,-0.0',
        "b,,1,2",
    ]
    export_collection(source, tmp_path / "s.npy")
    assert np.load(tmp_path / "s.npy").dtype == np.float32
    assert (tmp_path / "s.ids.txt").read_text(encoding="utf-8") == "a\nb\n"
    assert (tmp_path / "s.metadata.jsonl").read_text(encoding="utf-8") == '{"k": "v"}\nnull\n'


@needs_pyarrow
def test_parquet_layout_is_as_documented(db: vectordb.Database, tmp_path: Path) -> None:
    source = db.create_collection("small", dim=2, metric="euclidean")
    source.add([[0.5, -0.0], [1.0, 2.0]], ids=["a", "b"], metadata=[{"k": "v"}, None])
    export_collection(source, tmp_path / "s.parquet")
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 2)
    assert table.column("metadata").to_pylist() == ['{"k": "v"}', None]


@needs_pyarrow
def test_several_batches_each_way(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = filled(db, rng, n=23)
    path = tmp_path / "out.parquet"
    export_collection(source, path, batch_size=5)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5  # 5 + 5 + 5 + 5 + 3
    calls: list[int] = []
    add = target.add

    def counting_add(vectors: Any, ids: Any = None, metadata: Any = None) -> list[str]:
        calls.append(len(ids))
        return add(vectors, ids=ids, metadata=metadata)

    monkeypatch.setattr(target, "add", counting_add)
    import_records(target, path, batch_size=7)
    assert calls == [7, 7, 7, 2]
    assert_same_records(source, target)


def test_plain_float64_npy_without_a_metadata_file(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    """A .npy file made by another tool: float64, with ids but no metadata file."""
    vectors = np.arange(12, dtype=np.float64).reshape(3, 4) + 0.25
    np.save(tmp_path / "plain.npy", vectors)
    (tmp_path / "plain.ids.txt").write_text("a\nb\nc\n", encoding="utf-8")
    assert import_records(target, tmp_path / "plain.npy").imported == 3
    record = target.get("b")
    assert record is not None and record.metadata is None
    np.testing.assert_array_equal(record.vector, vectors[1].astype(np.float32))


@needs_pyarrow
def test_parquet_with_variable_lists_and_extra_columns(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    """A Parquet file made by another tool: vectors as plain lists of doubles, no metadata
    column, and another column, which is a metadata field unless metadata_columns leaves it
    out."""
    table = pa.table(
        {
            "id": ["d", "e"],
            "vector": pa.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]),
            "extra": [1, 2],
        }
    )
    pq.write_table(table, tmp_path / "lists.parquet")
    assert import_records(target, tmp_path / "lists.parquet").imported == 2
    record = target.get("e")
    assert record is not None and record.metadata == {"extra": 2}
    np.testing.assert_array_equal(record.vector, np.array([5, 6, 7, 8], np.float32))
    report = import_records(
        target, tmp_path / "lists.parquet", metadata_columns=[], on_conflict="replace"
    )
    assert report.replaced == 2
    record = target.get("e")
    assert record is not None and record.metadata is None


# ----------------------------------------------------------------------------- bad rows
JSONL_CASES = [
    ("{not json", InvalidFileError, "not valid JSON"),
    ('["a", [1, 2, 3, 4]]', InvalidFileError, "each line must be a JSON object"),
    (good_row(9, vector=[1.0, 2.0]), DimensionMismatchError, "vector has dim 2"),
    (good_row(9, vector=[1.0, "2", 3.0, 4.0]), InvalidVectorError, "the string '2'"),
    (good_row(9, vector=[1.0, True, 3.0, 4.0]), InvalidVectorError, "the boolean True"),
    (good_row(9, vector="1,2,3,4"), InvalidVectorError, "expected an array of 4 numbers"),
    ('{"id": "n", "vector": [NaN, 1, 2, 3]}', InvalidVectorError, "NaN or infinity"),
    (good_row(9, vector=[1e39, 1.0, 2.0, 3.0]), InvalidVectorError, "float32's range"),
    (good_row(9, vector=[10**400, 1, 2, 3]), InvalidVectorError, "not a float32 number"),
    ({"vector": [1.0, 2.0, 3.0, 4.0]}, InvalidFileError, "'id' is missing"),
    (good_row(9, id=""), InvalidArgumentError, "id is empty"),
    (good_row(9, id=7), InvalidArgumentError, "id is the number 7"),
    ('{"id": "\\ud800", "vector": [1, 2, 3, 4]}', InvalidArgumentError, "not valid Unicode"),
    (good_row(9, metadata=[1, 2]), InvalidMetadataError, "metadata is an array"),
    (good_row(9, metadata={"big": 2**70}), InvalidMetadataError, "cannot be stored"),
    ({**good_row(9, metadata={"a": 1}), "a": 2}, InvalidMetadataError, "field 'a' is set twice"),
    ({**good_row(9), "a..b": 2}, InvalidMetadataError, "key 'a..b' has an empty part"),
]


@pytest.mark.parametrize(("bad", "error", "words"), JSONL_CASES)
def test_bad_jsonl_row_names_its_line_and_imports_nothing(
    target: vectordb.Collection, tmp_path: Path, bad: Any, error: type[Exception], words: str
) -> None:
    seed(target)
    # a blank line (line 3) still counts; the bad row is line 6, after the first batch of 2
    path = write_jsonl(tmp_path / "bad.jsonl", [good_row(0), good_row(1), "", good_row(2),
                                                good_row(3), bad, good_row(4)])  # fmt: skip
    with pytest.raises(error) as raised:
        import_records(target, path, batch_size=2)
    message = str(raised.value)
    assert f"{path} line 6: " in message
    assert words in message
    assert "nothing was imported" in message
    assert_untouched(target)


CSV_HEADER = "id,metadata,v0,v1,v2,v3"
CSV_CASES = [
    ("f9,,1,2,3", InvalidFileError, "the row has 5 cells, the header 6"),
    ("f9,,1,2,x,4", InvalidVectorError, "vector value 2 is the string 'x'"),
    ("f9,,1,2,,4", InvalidVectorError, "vector value 2 is the string ''"),
    ("f9,,nan,2,3,4", InvalidVectorError, "NaN or infinity"),
    ("f9,{bad,1,2,3,4", InvalidMetadataError, "metadata is not valid JSON"),
    ('f9,"[1, 2]",1,2,3,4', InvalidMetadataError, "metadata is an array"),
    (",,1,2,3,4", InvalidArgumentError, "id is empty"),
    ('"f9,,1,2,3,4', InvalidFileError, "not valid CSV"),
]


@pytest.mark.parametrize(("bad", "error", "words"), CSV_CASES)
def test_bad_csv_row_names_its_line_and_imports_nothing(
    target: vectordb.Collection, tmp_path: Path, bad: str, error: type[Exception], words: str
) -> None:
    seed(target)
    # a quoted id spans lines 3-4, so the bad row is on line 7 though it is the 5th record
    rows = [CSV_HEADER, "f0,,1,2,3,4", '"f1\nsecond line",,1,2,3,4', "f2,,1,2,3,4",
            'f3,"{""a"": 1}",1,2,3,4', bad, "f4,,1,2,3,4"]  # fmt: skip
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(error) as raised:
        import_records(target, path, batch_size=2)
    message = str(raised.value)
    assert f"{path} line 7: " in message, message
    assert words in message
    assert_untouched(target)


@pytest.mark.parametrize(
    ("header", "error", "words"),
    [
        ("id,metadata,v0,v1,v2", DimensionMismatchError, "(dim 3), collection 'target' expects 4"),
        ("id,vector", InvalidFileError, "the header has no vector columns"),
        ("v0,v1,v2,v3", InvalidFileError, "the header has no 'id' column"),
        ("id,v0,v1,v2,v3,v0", InvalidFileError, "names the column 'v0' twice"),
        ("", InvalidFileError, "is empty"),
    ],
)
def test_bad_csv_header_is_line_1(
    target: vectordb.Collection, tmp_path: Path, header: str, error: type[Exception], words: str
) -> None:
    path = tmp_path / "header.csv"
    path.write_text(header, encoding="utf-8")
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        import_records(target, path)
    assert target.count() == 0


def test_bad_npy_rows_name_the_row(target: vectordb.Collection, tmp_path: Path) -> None:
    seed(target)
    vectors = np.ones((5, DIM), np.float32)
    np.save(tmp_path / "v.npy", vectors)
    ids = tmp_path / "v.ids.txt"
    metadata = tmp_path / "v.metadata.jsonl"
    ids.write_text("a\nb\nc\nd\ne\n", encoding="utf-8")
    metadata.write_text('null\n{"k": 1}\nnull\n[1]\nnull\n', encoding="utf-8")
    with pytest.raises(
        InvalidMetadataError, match=r"v\.npy row 3 \(v\.ids\.txt line 4\): metadata"
    ):
        import_records(target, tmp_path / "v.npy", batch_size=2)
    metadata.write_text('null\n{"k": 1}\nnull\n{bad\nnull\n', encoding="utf-8")
    with pytest.raises(InvalidMetadataError, match=r"v\.metadata\.jsonl line 4: metadata is not"):
        import_records(target, tmp_path / "v.npy", batch_size=2)
    metadata.unlink()
    ids.write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(InvalidFileError, match="fewer lines than"):
        import_records(target, tmp_path / "v.npy", batch_size=2)
    ids.write_text("a\nb\nc\nd\ne\nf\n", encoding="utf-8")
    with pytest.raises(InvalidFileError, match="more lines than"):
        import_records(target, tmp_path / "v.npy", batch_size=2)
    ids.write_text("a\nb\nc\nd\ne\n", encoding="utf-8")
    vectors[4, 1] = np.inf
    np.save(tmp_path / "v.npy", vectors)
    with pytest.raises(InvalidVectorError, match=r"v\.npy row 4 .*NaN or infinity"):
        import_records(target, tmp_path / "v.npy", batch_size=2)
    np.save(tmp_path / "v.npy", np.ones((5, DIM + 1), np.float32))
    with pytest.raises(DimensionMismatchError, match="dim 5"):
        import_records(target, tmp_path / "v.npy")
    ids.unlink()
    with pytest.raises(PathNotFoundError, match=r"no ids file: expected .*v\.ids\.txt"):
        import_records(target, tmp_path / "v.npy")
    assert_untouched(target)


@needs_pyarrow
def test_bad_parquet_rows_name_the_row(target: vectordb.Collection, tmp_path: Path) -> None:
    seed(target)
    path = tmp_path / "bad.parquet"
    good = [1.0, 2.0, 3.0, 4.0]
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"vector": [good, good, good, None]}, InvalidVectorError, "row 3: vector is null"),
        ({"vector": [good, good, [1.0, 2.0], good]}, DimensionMismatchError, "row 2: vector has"),
        (
            {"vector": [good] * 3 + [[1.0, None, 3.0, 4.0]]},
            InvalidVectorError,
            "row 3: vector holds",
        ),
        (
            {"vector": [good, [math.nan] * 4, good, good]},
            InvalidVectorError,
            "row 1: vector holds NaN",
        ),
        ({"id": ["a", None, "c", "d"]}, InvalidArgumentError, "row 1: id is null"),
        ({"metadata": [None, None, None, "[]"]}, InvalidMetadataError, "row 3: metadata is an"),
    ]
    for change, error, words in cases:
        columns: dict[str, Any] = {
            "id": ["a", "b", "c", "d"],
            "vector": [good] * 4,
            "metadata": [None, '{"k": 1}', None, None],
        }
        columns.update(change)
        pq.write_table(pa.table(columns), path, row_group_size=2)
        with pytest.raises(error, match=f"bad.parquet {words}"):
            import_records(target, path, batch_size=2)
    pq.write_table(pa.table({"name": ["a"], "vector": [good]}), path)
    with pytest.raises(InvalidFileError, match="has no 'id' column"):
        import_records(target, path)
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(InvalidFileError, match="not a readable Parquet file"):
        import_records(target, path)
    assert_untouched(target)


@needs_pyarrow
def test_fixed_size_parquet_of_another_dim(db: vectordb.Database, tmp_path: Path) -> None:
    small = db.create_collection("small", dim=3)
    path = tmp_path / "four.parquet"
    vectors = pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0, 3.0, 4.0], pa.float32()), 4)
    pq.write_table(pa.table({"id": ["a"], "vector": vectors}), path)
    with pytest.raises(DimensionMismatchError, match="dim 4, collection 'small' expects 3"):
        import_records(small, path)


def test_cosine_collection_rejects_zero_vectors_before_storing(
    db: vectordb.Database, tmp_path: Path
) -> None:
    cosine = db.create_collection("cos", dim=DIM, metric="cosine")
    path = write_jsonl(tmp_path / "z.jsonl", [good_row(0), good_row(1, vector=[0, 0, 0, 0])])
    with pytest.raises(InvalidVectorError, match="line 2: vector is all zeros"):
        import_records(cosine, path, batch_size=1)
    assert cosine.count() == 0


def test_duplicate_id_in_the_file_names_both_lines(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "dup.jsonl", [good_row(0), good_row(1), good_row(2), good_row(3, id="f1")]
    )
    for on_conflict in ("error", "skip", "replace"):
        with pytest.raises(DuplicateIdError) as raised:
            import_records(target, path, batch_size=2, on_conflict=on_conflict)
        assert f"{path} line 4: id 'f1' appears a second time (first at {path} line 2)" in str(
            raised.value
        )
    assert target.count() == 0


# ----------------------------------------------------------------------------- conflicts
def test_on_conflict_modes(target: vectordb.Collection, tmp_path: Path) -> None:
    target.add([[9.0, 9.0, 9.0, 9.0]] * 2, ids=["f0", "keep"], metadata=[{"old": True}, None])
    path = write_jsonl(tmp_path / "c.jsonl", [good_row(0, metadata={"new": 1}), good_row(1)])

    with pytest.raises(DuplicateIdError, match=r"line 1: id 'f0' is already stored in 'target'"):
        import_records(target, path)
    assert target.count() == 2

    report = import_records(target, path, on_conflict="skip")
    assert (report.imported, report.skipped, report.replaced, report.rows_read) == (1, 1, 0, 2)
    kept = target.get("f0")
    assert kept is not None and kept.metadata == {"old": True}
    np.testing.assert_array_equal(kept.vector, np.full(DIM, 9.0, np.float32))

    report = import_records(target, path, on_conflict="replace")
    assert (report.imported, report.skipped, report.replaced, report.rows_read) == (0, 0, 2, 2)
    replaced = target.get("f0")
    assert replaced is not None and replaced.metadata == {"new": 1}
    np.testing.assert_array_equal(replaced.vector, np.array([1, 1, 2, 3], np.float32))
    assert target.count() == 3


def test_bad_arguments_are_refused_before_reading(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [good_row(0)])
    bad_calls: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"on_conflict": "overwrite"}, InvalidArgumentError, "on_conflict must be one of"),
        ({"batch_size": 0}, InvalidArgumentError, "batch_size must be a positive integer"),
        ({"batch_size": True}, InvalidArgumentError, "batch_size must be a positive integer"),
        ({"start_at": -1}, InvalidArgumentError, "start_at must be a non-negative integer"),
        ({"start_at": 2}, InvalidArgumentError, "start_at=2, but .* holds only 1 rows"),
        ({"format": "xml"}, InvalidArgumentError, "unknown format 'xml'; supported: 'jsonl'"),
        ({"progress": "yes"}, InvalidArgumentError, "progress must be True or False"),
    ]
    for options, error, words in bad_calls:
        with pytest.raises(error, match=words):
            import_records(target, path, **options)
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(InvalidArgumentError, match=r"suffix '\.txt'.*\.jsonl, \.ndjson"):
        import_records(target, tmp_path / "data.txt")
    with pytest.raises(PathNotFoundError, match="no such file") as raised:
        import_records(target, tmp_path / "missing.jsonl")
    assert isinstance(raised.value, FileNotFoundError)
    with pytest.raises(InvalidArgumentError, match="is a directory"):
        import_records(target, tmp_path, format="jsonl")
    assert target.count() == 0


def test_export_refuses_bad_arguments(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path
) -> None:
    source = filled(db, rng, n=6)
    with pytest.raises(InvalidArgumentError, match="cannot tell the format"):
        export_collection(source, tmp_path / "out")
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        export_collection(source, tmp_path / "out.csv", batch_size=-5)
    with pytest.raises(PathNotFoundError, match="does not exist"):
        export_collection(source, tmp_path / "no" / "such" / "out.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InvalidArgumentError, match="is a directory"):
        export_collection(source, tmp_path / "dir.csv")


# ----------------------------------------------------------------------------- resuming
def test_interrupted_import_says_how_to_resume_and_start_at_resumes(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = filled(db, rng, n=23)
    path = tmp_path / "all.csv"
    export_collection(source, path)
    add = target.add
    calls = 0

    def failing_add(vectors: Any, ids: Any = None, metadata: Any = None) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StorageFullError("disk full while trying to append to the log")
        return add(vectors, ids=ids, metadata=metadata)

    monkeypatch.setattr(target, "add", failing_add)
    with pytest.raises(ImportInterruptedError) as raised:
        import_records(target, path, batch_size=5)
    error = raised.value
    assert error.rows_applied == 10
    assert "stopped after storing 10 of the 23 rows" in str(error)
    assert "the first 10 rows of the source are done" in str(error)
    assert "pass start_at=10 to the same import to resume" in str(error)
    assert isinstance(error.__cause__, StorageFullError)
    assert target.count() == 10
    assert pickle.loads(pickle.dumps(error)).rows_applied == 10

    monkeypatch.setattr(target, "add", add)
    report = import_records(target, path, batch_size=5, start_at=error.rows_applied)
    assert (report.imported, report.rows_read) == (13, 13)
    assert_same_records(source, target)


def test_failure_in_the_first_batch_raises_the_cause(
    target: vectordb.Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "one.jsonl", [good_row(0), good_row(1)])

    def broken_add(vectors: Any, ids: Any = None, metadata: Any = None) -> list[str]:
        raise StorageError("could not append to the log: I/O error")

    monkeypatch.setattr(target, "add", broken_add)
    with pytest.raises(StorageError, match="I/O error"):
        import_records(target, path)
    assert target.count() == 0


@pytest.mark.parametrize("file_format", FORMATS)
def test_start_at_skips_rows(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    file_format: str,
) -> None:
    source = filled(db, rng, n=23)
    path = tmp_path / f"all.{file_format}"
    export_collection(source, path, batch_size=4)  # Parquet: row groups of 4, 7 skipped whole
    report = import_records(target, path, start_at=9, batch_size=3)
    assert (report.imported, report.rows_read) == (14, 14)
    assert target.ids() == source.ids()[9:]
    assert import_records(target, path, start_at=23).rows_read == 0


# ----------------------------------------------------------------------------- failed exports
def test_failed_export_leaves_no_file(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path
) -> None:
    source = filled(db, rng, n=12)
    source.add(np.ones((1, DIM), np.float32), ids=["bytes"], metadata=[{"blob": b"\x00\x01"}])
    out = tmp_path / "out"
    out.mkdir()
    names = ["new.jsonl", "new.csv", "new.npy"] + (["new.parquet"] if pa is not None else [])
    for name in names:
        with pytest.raises(InvalidMetadataError, match="'bytes' cannot be written as JSON"):
            export_collection(source, out / name, batch_size=5)
    assert list(out.iterdir()) == []
    # an existing file is left as it was
    (out / "old.jsonl").write_text("previous export\n")
    with pytest.raises(InvalidMetadataError):
        export_collection(source, out / "old.jsonl", batch_size=5, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["old.jsonl"]
    assert (out / "old.jsonl").read_text() == "previous export\n"


def test_npy_export_refuses_ids_with_line_breaks(db: vectordb.Database, tmp_path: Path) -> None:
    source = db.create_collection("breaks", dim=2)
    source.add([[1, 0], [0, 1]], ids=["fine", "two\nlines"])
    with pytest.raises(InvalidArgumentError, match=r"holds a line break.*export to \.jsonl"):
        export_collection(source, tmp_path / "b.npy")
    assert list(tmp_path.glob("b*")) == []
    assert list(tmp_path.glob(".b*")) == []


def test_export_fails_cleanly_when_the_disk_is_full(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from vectordb.transfer import writers

    source = filled(db, rng, n=12)

    def full(self: Any, ids: Any, vectors: Any, metadata: Any, documents: Any = None) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers.CsvWriter, "write", full)
    with pytest.raises(StorageFullError, match="disk full"):
        export_collection(source, tmp_path / "full.csv")
    assert list(tmp_path.glob("*full*")) == []


# ----------------------------------------------------------------------------- pandas
@needs_pandas
def test_dataframe_round_trip(
    db: vectordb.Database, target: vectordb.Collection, rng: np.random.Generator
) -> None:
    source = filled(db, rng)
    frame = collection_to_dataframe(source)
    assert list(frame.columns)[:2] == ["id", "vector"]
    assert {"i", "tag", "text", "nested.list", "empty"} <= set(frame.columns)
    assert "metadata" not in frame.columns
    assert frame["id"].tolist() == source.ids()
    assert frame["vector"].iloc[0].dtype == np.float32
    report = add_dataframe(target, frame)
    assert report == ImportReport(23, 0, 0, 23, "DataFrame")
    assert_same_records(source, target)
    # flatten=False: the old shape, which add_dataframe reads too
    whole = collection_to_dataframe(source, flatten=False)
    assert list(whole.columns) == ["id", "vector", "metadata"]
    again = db.create_collection("again", dim=DIM, metric="euclidean")
    assert add_dataframe(again, whole).imported == 23
    assert_same_records(source, again)
    with pytest.warns(DeprecationWarning, match="include_vectors= is deprecated"):
        slim = collection_to_dataframe(source, include_vectors=False, flatten=False)
    assert list(slim.columns) == ["id", "metadata"]


@needs_pandas
def test_add_dataframe_checks_every_row_first(target: vectordb.Collection) -> None:
    seed(target)
    good = [1.0, 2.0, 3.0, 4.0]
    frame = pd.DataFrame(
        {
            "key": ["a", "b", "c"],
            "embedding": [np.array(good), good, (1, 2, 3, 4)],
            "meta": [{"k": np.int64(3)}, np.nan, None],
        },
        index=["x", "y", "z"],
    )
    report = add_dataframe(
        target, frame, id_column="key", vector_column="embedding", metadata_column="meta"
    )
    assert report.imported == 3
    record = target.get("a")
    assert record is not None and record.metadata == {"k": 3}
    b = target.get("b")
    assert b is not None and b.metadata is None

    bad_frames: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"vector": [good, [1.0, 2.0], good]}, DimensionMismatchError, "row 1 \\(index 'y'\\)"),
        ({"vector": [good, good, "1,2,3,4"]}, InvalidVectorError, "row 2 .*the string"),
        ({"vector": [good, good, [1, math.inf, 0, 0]]}, InvalidVectorError, "row 2 .*infinity"),
        ({"id": ["d", "e", "d"]}, DuplicateIdError, "row 2 .*first at DataFrame row 0"),
        ({"id": ["d", "old-1", "f"]}, DuplicateIdError, "row 1 .*already stored"),
        ({"metadata": [None, "text", None]}, InvalidMetadataError, "row 1 .*the string"),
    ]
    for change, error, words in bad_frames:
        columns: dict[str, Any] = {"id": ["d", "e", "f"], "vector": [good] * 3, "metadata": None}
        columns.update(change)
        with pytest.raises(error, match=words):
            add_dataframe(target, pd.DataFrame(columns, index=["x", "y", "z"]))
    with pytest.raises(InvalidArgumentError, match="no column 'meta' \\(pass metadata_column"):
        add_dataframe(target, pd.DataFrame({"id": ["d"], "vector": [good]}), metadata_column="meta")
    with pytest.raises(InvalidArgumentError, match=r"must be a pandas\.DataFrame"):
        add_dataframe(target, {"id": ["d"]})
    assert target.count() == 5
    report = add_dataframe(
        target, pd.DataFrame({"id": ["a"], "vector": [good]}), metadata_column=None,
        on_conflict="skip",
    )  # fmt: skip
    assert (report.imported, report.skipped) == (0, 1)


# ----------------------------------------------------------------------------- optional packages
def test_missing_pyarrow_names_the_extra(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = filled(db, rng, n=6)
    (tmp_path / "ok.parquet").write_bytes(b"PAR1")  # pyarrow is needed before it is read
    for module in ("pyarrow", "pyarrow.parquet", "pyarrow.compute"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(
        MissingDependencyError, match=r'pip install "vectordb\[parquet\]"'
    ) as raised:
        export_collection(source, tmp_path / "new.parquet")
    assert isinstance(raised.value, ImportError) and isinstance(raised.value, VectorDBError)
    assert not (tmp_path / "new.parquet").exists()
    with pytest.raises(MissingDependencyError, match=r'pip install "vectordb\[parquet\]"'):
        import_records(target, tmp_path / "ok.parquet")
    assert import_records(target, write_jsonl(tmp_path / "a.jsonl", [good_row(0)])).imported == 1


def test_missing_pandas_names_the_extra(
    target: vectordb.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "vectordb\[pandas\]"'):
        collection_to_dataframe(target)
    with pytest.raises(MissingDependencyError, match=r'pip install "vectordb\[pandas\]"'):
        add_dataframe(target, object())


@needs_tqdm
def test_progress_bar_draws_with_tqdm_and_is_silent_without(
    db: vectordb.Database,
    target: vectordb.Collection,
    rng: np.random.Generator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = filled(db, rng, n=6)
    export_collection(source, tmp_path / "p.jsonl", progress=True)
    import_records(target, tmp_path / "p.jsonl", progress=True)
    assert "rows" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm", None)
    export_collection(source, tmp_path / "q.jsonl", progress=True)
    assert (
        import_records(target, tmp_path / "q.jsonl", progress=True, on_conflict="skip").skipped == 6
    )
    assert capsys.readouterr().err == ""


def test_docstring_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples call mkdtemp()
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    functions: list[tuple[Any, str]] = [
        (export.export_collection, "export_collection"),
        (load.import_records, "import_records"),
    ]
    if pd is not None:
        functions += [
            (dataframe.collection_to_dataframe, "collection_to_dataframe"),
            (dataframe.add_dataframe, "add_dataframe"),
        ]
    for function, name in functions:
        tests = finder.find(function, name, globs={})
        assert tests and tests[0].examples, f"{name} lost its docstring example"
        for test in tests:
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
