"""Tabular data in and out without loss: flat metadata columns (CSV, Parquet, DataFrames,
extra JSON Lines keys) become metadata fields, dotted names nest, missing cells are absent
fields, a field set twice is an error; ``to_dataframe`` flattens and ``add_dataframe`` of
its frame stores the same records; ``export`` filters with ``where=`` and refuses to
replace a file unless ``overwrite=True``."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb
from vectordb.cli import EXIT_ERROR, EXIT_OK, main
from vectordb.errors import (
    InvalidArgumentError,
    InvalidFileError,
    InvalidFilterError,
    InvalidMetadataError,
)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

DIM = 4


@pytest.fixture
def db(tmp_path: Path) -> Iterator[vectordb.Database]:
    with vectordb.open(tmp_path / "db") as database:
        yield database


@pytest.fixture
def target(db: vectordb.Database) -> vectordb.Collection:
    """An empty collection to import into."""
    return db.create_collection("target", dim=DIM, metric="euclidean")


def typed(value: Any) -> Any:
    """``value`` with each leaf's type beside it: ``==`` alone takes 1 for 1.0 and True."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def stored(collection: vectordb.Collection) -> list[tuple[str, bytes, Any]]:
    """Every record as (id, vector bytes, typed metadata), in storage order."""
    return [
        (record.id, np.asarray(record.vector, np.float32).tobytes(), typed(record.metadata))
        for records in collection.scroll()
        for record in records
    ]


def rich_records(rng: np.random.Generator) -> tuple[list[str], Any, list[Any]]:
    """Metadata that flat columns find hard: nesting, lists, null values, ``{}``, fields of
    one name but different types, names of the id / vector / metadata columns, unicode."""
    metadata: list[Any] = [
        None,
        {},
        {"text": "plain", "page": 3, "score": 0.5, "flag": True},
        {
            "text": 'é, "quoted"\nnew line\ttab 東京',
            "page": 4,
            "tags": ["a", "b"],
            "nested": {"lang": "en", "deep": {"x": 1, "list": [1, 2.5, None, {"k": "v"}]}},
        },
        {"page": 2.0, "flag": False, "empty": {}, "tags": [], "text": ""},
        {"null": None, "nested": {"lang": None, "deep": {"x": 2}}},
        {"id": "shadow", "vector": [1, 2], "metadata": {"m": 1}, "text": "t"},
        {"nested": 5, "big": 2**64 - 1, "negative": -(2**63), "tiny": 5e-324},
        {"ünï": "東京", "infinite": -math.inf, "score": 1},
    ]
    ids = [f"rec-{i}" for i in range(len(metadata))]
    ids[1] = 'naïve, "quoted" 東京'
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    vectors[0] = [-0.0, 1e-30, np.float32(3e18), 0.1]
    return ids, vectors, metadata


def filled(db: vectordb.Database, rng: np.random.Generator) -> vectordb.Collection:
    source = db.create_collection("source", dim=DIM, metric="euclidean")
    ids, vectors, metadata = rich_records(rng)
    source.add(vectors, ids=ids, metadata=metadata)
    return source


def seed(collection: vectordb.Collection) -> list[tuple[str, bytes, Any]]:
    """Records that a failed import must leave as they are; returns them."""
    collection.add(np.ones((2, DIM), np.float32), ids=["old-0", "old-1"], metadata=[{"k": 1}, None])
    return stored(collection)


def lance_vectors(rows: list[list[float]]) -> Any:
    flat = pa.array(np.asarray(rows, np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, DIM)


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


# ----------------------------------------------------------------------------- import
def test_lancedb_shaped_parquet_keeps_every_column(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    """Columns id, vector (fixed_size_list<float32>), text, source, page: as LanceDB exports
    a table. Every column is kept; a null cell is a field left out."""
    vectors = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.5, 0.0]]
    table = pa.table(
        {
            "id": pa.array(["doc-1", "doc-2", "doc-3"], pa.string()),
            "vector": lance_vectors(vectors),
            "text": ["first chunk", "second chunk", None],
            "source": ["a.pdf", "a.pdf", "b.pdf"],
            "page": pa.array([1, 2, None], pa.int32()),
        }
    )
    assert table.schema.field("vector").type == pa.list_(pa.float32(), DIM)
    path = tmp_path / "lance.parquet"
    pq.write_table(table, path)
    report = target.import_file(path)
    assert (report.imported, report.rows_read) == (3, 3)
    records = target.get_many(["doc-1", "doc-2", "doc-3"])
    assert [typed(record.metadata) for record in records if record] == [
        typed({"text": "first chunk", "source": "a.pdf", "page": 1}),
        typed({"text": "second chunk", "source": "a.pdf", "page": 2}),
        typed({"source": "b.pdf"}),
    ]
    np.testing.assert_array_equal(
        np.stack([record.vector for record in records if record]),
        np.asarray(vectors, np.float32),
    )
    assert target.count(where={"source": "a.pdf"}) == 2
    assert target.count(where={"page": {"$exists": False}}) == 1


def test_parquet_struct_columns_nest(target: vectordb.Collection, tmp_path: Path) -> None:
    """A struct ``metadata`` column is the metadata object (its null children left out);
    struct and map field columns are objects; a dotted column nests and merges with them."""
    author = pa.struct([("name", pa.string()), ("age", pa.int64())])
    metadata_type = pa.struct([("lang", pa.string()), ("author", author)])
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "vector": lance_vectors([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]),
            "metadata": pa.array(
                [
                    {"lang": "en", "author": {"name": "Ann", "age": None}},
                    None,
                    {"lang": None, "author": None},
                ],
                metadata_type,
            ),
            "author.email": ["ann@example.org", "bob@example.org", None],
            "counts": pa.array(
                [[("x", 1)], None, [("y", 2), ("z", 3)]], pa.map_(pa.string(), pa.int64())
            ),
            "spans": pa.array(
                [[{"start": 0, "end": None}], [], None],
                pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64())])),
            ),
        }
    )
    pq.write_table(table, tmp_path / "struct.parquet")
    assert target.import_file(tmp_path / "struct.parquet").imported == 3
    a, b, c = target.get_many(["a", "b", "c"])
    assert a is not None and b is not None and c is not None
    assert typed(a.metadata) == typed(
        {
            "lang": "en",
            "author": {"name": "Ann", "email": "ann@example.org"},
            "counts": {"x": 1},
            "spans": [{"start": 0}],
        }
    )
    assert typed(b.metadata) == typed({"author": {"email": "bob@example.org"}, "spans": []})
    assert typed(c.metadata) == typed({"counts": {"y": 2, "z": 3}})


@pytest.mark.parametrize("source", ["csv", "parquet", "jsonl", "dataframe"])
def test_every_tabular_source_reads_flat_columns_alike(
    target: vectordb.Collection, tmp_path: Path, source: str
) -> None:
    """Columns other than id / vector become fields, dotted names nest, a missing cell is a
    field left out, and the metadata object merges with the columns."""
    ids = ["a", "b"]
    vectors = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    objects: list[Any] = [{"kept": True}, None]
    text = ["hello", None]
    lang = ["en", "fr"]
    year = [2020, None]
    expected = [
        {"kept": True, "text": "hello", "meta": {"lang": "en", "year": 2020}},
        {"meta": {"lang": "fr"}},
    ]
    if source == "csv":
        header = ["id", "text", "metadata", "meta.lang", "meta.year", "v0", "v1", "v2", "v3"]
        rows: list[list[Any]] = [
            [
                ids[i],
                "" if text[i] is None else text[i],
                "" if objects[i] is None else json.dumps(objects[i]),
                lang[i],
                "" if year[i] is None else year[i],
                *vectors[i],
            ]
            for i in range(2)
        ]
        report = target.import_file(write_csv(tmp_path / "flat.csv", [header, *rows]))
    elif source == "parquet":
        table = pa.table(
            {
                "id": ids,
                "vector": vectors,
                "text": text,
                "metadata": [None if o is None else json.dumps(o) for o in objects],
                "meta.lang": lang,
                "meta.year": pa.array(year, pa.int64()),
            }
        )
        pq.write_table(table, tmp_path / "flat.parquet")
        report = target.import_file(tmp_path / "flat.parquet")
    elif source == "jsonl":
        lines = [
            {
                "id": ids[i],
                "vector": vectors[i],
                "metadata": objects[i],
                "text": text[i],
                "meta.lang": lang[i],
                **({} if year[i] is None else {"meta.year": year[i]}),
            }
            for i in range(2)
        ]
        path = tmp_path / "flat.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        report = target.import_file(path)
    else:
        frame = pd.DataFrame(
            {
                "id": ids,
                "vector": vectors,
                "text": text,
                "metadata": objects,
                "meta.lang": lang,
                "meta.year": pd.array(year, dtype="Int64"),  # pandas.NA for the missing one
            }
        )
        report = target.add_dataframe(frame)
    assert report.imported == 2
    assert [typed(r.metadata) for r in target.get_many(ids) if r] == [typed(e) for e in expected]


def test_missing_cells_of_every_kind_leave_the_field_out(target: vectordb.Collection) -> None:
    good = [1.0, 2.0, 3.0, 4.0]
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "vector": [good] * 3,
            "score": [0.5, math.nan, np.float32(1.5)],  # a float64 column: NaN
            "count": pd.array([1, None, 3], dtype="Int64"),  # pandas.NA
            "when": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),  # NaT
            "note": [None, "only b", None],
        }
    )
    assert target.add_dataframe(frame).imported == 3
    a, b, c = target.get_many(["a", "b", "c"])
    assert a is not None and b is not None and c is not None
    assert typed(a.metadata) == typed({"score": 0.5, "count": 1, "when": "2024-01-02T00:00:00"})
    assert typed(b.metadata) == typed({"note": "only b"})
    assert typed(c.metadata) == typed({"score": 1.5, "count": 3, "when": "2024-03-04T00:00:00"})


@pytest.mark.parametrize("source", ["csv", "parquet", "jsonl", "dataframe"])
def test_a_field_set_twice_is_an_error_and_nothing_is_stored(
    target: vectordb.Collection, tmp_path: Path, source: str
) -> None:
    """Row 0 is fine (``a`` is null where ``a.b`` is set); row 1 sets ``text`` in both its
    metadata object and the ``text`` column; with ``a`` and ``a.b`` both set, row 2 would
    clash too."""
    before = seed(target)
    ids = ["x", "y", "z"]
    vectors = [[1.0, 2.0, 3.0, 4.0]] * 3
    objects: list[Any] = [None, {"text": "from the object"}, None]
    text: list[Any] = ["t0", "from the column", "t2"]
    a: list[Any] = [None, None, 1]
    a_b: list[Any] = [2, None, 3]
    if source == "csv":
        header = ["id", "metadata", "text", "a", "a.b", "v0", "v1", "v2", "v3"]

        def cell(value: Any) -> Any:
            return "" if value is None else value

        rows = [
            [
                ids[i],
                cell(objects[i] and json.dumps(objects[i])),
                text[i],
                cell(a[i]),
                cell(a_b[i]),
                *vectors[i],
            ]
            for i in range(3)
        ]
        path = write_csv(tmp_path / "twice.csv", [header, *rows])
        where = f"{path} line 3"
        run = lambda: target.import_file(path, batch_size=1)  # noqa: E731
    elif source == "parquet":
        columns = {
            "id": ids,
            "vector": vectors,
            "metadata": [None if o is None else json.dumps(o) for o in objects],
            "text": text,
            "a": pa.array(a, pa.int64()),
            "a.b": a_b,
        }
        path = tmp_path / "twice.parquet"
        pq.write_table(pa.table(columns), path)
        where = f"{path} row 1"
        run = lambda: target.import_file(path, batch_size=1)  # noqa: E731
    elif source == "jsonl":
        path = tmp_path / "twice.jsonl"
        lines = [
            {"id": ids[i], "vector": vectors[i], "metadata": objects[i], "text": text[i],
             "a": a[i], "a.b": a_b[i]}
            for i in range(3)
        ]  # fmt: skip
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        where = f"{path} line 2"
        run = lambda: target.import_file(path, batch_size=1)  # noqa: E731
    else:
        frame = pd.DataFrame(
            {"id": ids, "vector": vectors, "metadata": objects, "text": text, "a": a, "a.b": a_b}
        )
        where = "DataFrame row 1 (index 1)"
        run = lambda: target.add_dataframe(frame)  # noqa: E731
    with pytest.raises(InvalidMetadataError) as raised:
        run()
    message = str(raised.value)
    assert message.startswith(f"{where}: metadata field 'text' is set twice")
    assert "'text'" in message and "'metadata'" in message and "nothing was imported" in message
    assert stored(target) == before

    # without the clash of row 1, row 2's a = 1 and a.b = 3 clash, naming both columns
    objects[1] = None
    if source == "dataframe":
        frame["metadata"] = objects
    elif source == "jsonl":
        lines[1]["metadata"] = None
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    elif source == "csv":
        rows[1][1] = ""
        write_csv(path, [header, *rows])
    else:
        columns["metadata"] = [None, None, None]
        pq.write_table(pa.table(columns), path)
    with pytest.raises(InvalidMetadataError, match=r"field 'a' is set twice, by \w+ 'a.b' and"):
        run()
    assert stored(target) == before


def test_a_metadata_object_that_is_not_one_is_reported_as_before(
    target: vectordb.Collection,
) -> None:
    frame = pd.DataFrame(
        {"id": ["a"], "vector": [[1.0, 2.0, 3.0, 4.0]], "metadata": ["text"], "x": [1]}
    )
    with pytest.raises(InvalidMetadataError, match=r"row 0 .*metadata is the string 'text'"):
        target.add_dataframe(frame)
    assert target.count() == 0


def test_objects_merge_without_changing_the_frame(target: vectordb.Collection) -> None:
    objects = [{"a": {"x": 1}}, {"a": {"x": 2}}]
    frame = pd.DataFrame(
        {
            "id": ["p", "q"],
            "vector": [[1.0, 2.0, 3.0, 4.0]] * 2,
            "metadata": objects,
            "a.y": [10, None],
            "a": [None, {"z": 3}],
        }
    )
    target.add_dataframe(frame)
    p, q = target.get_many(["p", "q"])
    assert p is not None and p.metadata == {"a": {"x": 1, "y": 10}}
    assert q is not None and q.metadata == {"a": {"x": 2, "z": 3}}
    assert objects == [{"a": {"x": 1}}, {"a": {"x": 2}}]
    assert frame["a"][1] == {"z": 3}


def test_the_metadata_column_is_never_a_field(target: vectordb.Collection) -> None:
    good = [1.0, 2.0, 3.0, 4.0]
    frame = pd.DataFrame({"id": ["a"], "vector": [good], "metadata": [{"k": 1}], "x": [2]})
    target.add_dataframe(frame, metadata_column=None)  # leaves the metadata out, as before
    record = target.get("a")
    assert record is not None and record.metadata == {"x": 2}
    renamed = frame.assign(id=["b"], meta=[{"m": 1}])
    with pytest.raises(InvalidArgumentError, match="a 'metadata' column besides metadata_colu"):
        target.add_dataframe(renamed, metadata_column="meta")
    target.add_dataframe(renamed.drop(columns="metadata"), metadata_column="meta")
    record = target.get("b")
    assert record is not None and record.metadata == {"m": 1, "x": 2}


def test_metadata_columns_chooses_the_fields(target: vectordb.Collection, tmp_path: Path) -> None:
    good = [1.0, 2.0, 3.0, 4.0]
    frame = pd.DataFrame(
        {"id": ["a"], "vector": [good], "text": ["t"], "source": ["s"], "page": [1]}
    )
    target.add_dataframe(frame, metadata_columns=["text", "page"])
    record = target.get("a")
    assert record is not None and record.metadata == {"text": "t", "page": 1}
    target.add_dataframe(frame, metadata_columns=[], on_conflict="replace")
    record = target.get("a")
    assert record is not None and record.metadata is None

    path = write_csv(tmp_path / "c.csv", [["id", "text", "source", "v0", "v1", "v2", "v3"],
                                          ["b", "t", "s", *good]])  # fmt: skip
    target.import_file(path, metadata_columns=["source"])
    record = target.get("b")
    assert record is not None and record.metadata == {"source": "s"}

    pq.write_table(pa.Table.from_pandas(frame.assign(id=["c"]), preserve_index=False),
                   tmp_path / "p.parquet")  # fmt: skip
    target.import_file(tmp_path / "p.parquet", metadata_columns=("page",))
    record = target.get("c")
    assert record is not None and record.metadata == {"page": 1}

    line = {"id": "d", "vector": good, "text": "t", "source": "s", "metadata": {"k": 1}}
    (tmp_path / "j.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    target.import_file(tmp_path / "j.jsonl", metadata_columns=["text", "not-in-this-line"])
    record = target.get("d")
    assert record is not None and record.metadata == {"k": 1, "text": "t"}
    before = stored(target)

    bad: list[tuple[Any, type[Exception], str]] = [
        ("text", InvalidArgumentError, "must be a list of column names"),
        (["text", "text"], InvalidArgumentError, "names 'text' twice"),
        (["id"], InvalidArgumentError, "names 'id', which is not a field column"),
        (["metadata"], InvalidArgumentError, "names 'metadata'"),
        ([3], InvalidArgumentError, "holds the number 3"),
        (["missing"], InvalidArgumentError, "no column 'missing', which metadata_columns"),
    ]
    for value, error, words in bad:
        with pytest.raises(error, match=words):
            target.add_dataframe(frame.assign(id=["new"]), metadata_columns=value)
    with pytest.raises(InvalidFileError, match="has no column 'missing', which metadata_columns"):
        target.import_file(path, metadata_columns=["missing"], on_conflict="replace")
    with pytest.raises(InvalidFileError, match="has no column 'missing', which metadata_columns"):
        target.import_file(tmp_path / "p.parquet", metadata_columns=["missing"])
    with pytest.raises(InvalidArgumentError, match=r"names 'v2', one of .* vector columns"):
        target.import_file(path, metadata_columns=["v2"], on_conflict="replace")
    np.save(tmp_path / "v.npy", np.ones((1, DIM), np.float32))
    (tmp_path / "v.ids.txt").write_text("e\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="metadata_columns applies to jsonl, csv"):
        target.import_file(tmp_path / "v.npy", metadata_columns=["x"])
    assert stored(target) == before


def test_columns_that_name_no_field_are_refused(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    before = seed(target)
    good = [1.0, 2.0, 3.0, 4.0]
    for name, words in [("", "has no name"), ("a..b", "has an empty part"), ("a.", "has an")]:
        frame = pd.DataFrame({"id": ["x"], "vector": [good], name: [1]})
        shown = re.escape(f"column {name!r} {words}")
        with pytest.raises(InvalidMetadataError, match=f"the DataFrame: {shown}"):
            target.add_dataframe(frame)
        path = write_csv(
            tmp_path / "n.csv", [["id", name, "v0", "v1", "v2", "v3"], ["x", 1, *good]]
        )
        with pytest.raises(InvalidMetadataError, match=rf"n\.csv: {shown}"):
            target.import_file(path)
        # left out, it is no problem
        assert target.add_dataframe(frame, metadata_columns=[]).imported == 1
        target.delete(["x"])
    with pytest.raises(InvalidMetadataError, match="column 7 is named by the number 7"):
        target.add_dataframe(pd.DataFrame({"id": ["x"], "vector": [good], 7: [1]}))
    twice = pd.DataFrame([["x", good, 1, 2]], columns=["id", "vector", "n", "n"])
    with pytest.raises(InvalidArgumentError, match="2 columns named 'n'"):
        target.add_dataframe(twice)
    table = pa.Table.from_arrays(
        [pa.array(["x"]), pa.array([good]), pa.array([1]), pa.array([2])],
        names=["id", "vector", "n", "n"],
    )
    pq.write_table(table, tmp_path / "twice.parquet")
    with pytest.raises(InvalidFileError, match="two columns named 'n'"):
        target.import_file(tmp_path / "twice.parquet")
    assert stored(target) == before


def test_csv_field_cells_are_json_when_the_whole_cell_is(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    """The documented reading of a CSV field cell: JSON when all of it parses, else text;
    empty (or null) is no field."""
    cells = {
        "int": ("3", 3),
        "float": ("2.5", 2.5),
        "exponent": ("1e3", 1000.0),
        "true": ("true", True),
        "list": ("[1, 2.5, null]", [1, 2.5, None]),
        "object": ('{"b": [true]}', {"b": [True]}),
        "quoted": ('"007"', "007"),
        "leading zero": ("007", "007"),
        "words": ("hello, world", "hello, world"),
        "python bool": ("True", "True"),
        "nan word": ("NaN", "NaN"),
        "infinity word": ("-Infinity", "-Infinity"),
        "json and more": ("1 2", "1 2"),
        "space first": (" 3", " 3"),
        "empty": ("", None),
        "null": ("null", None),
    }
    names = list(cells)
    header = ["v0", "v1", "v2", "v3", "id", *names]
    path = write_csv(
        tmp_path / "cells.csv", [header, [1, 2, 3, 4, "a", *(c for c, _ in cells.values())]]
    )
    assert target.import_file(path).imported == 1
    record = target.get("a")
    assert record is not None
    expected = {name: value for name, (_, value) in cells.items() if value is not None}
    assert typed(record.metadata) == typed(expected)


def test_jsonl_keys_beside_id_and_vector_are_fields(
    target: vectordb.Collection, tmp_path: Path
) -> None:
    lines = [
        '{"id": "a", "vector": [1, 2, 3, 4], "text": "t", "page.no": 3, "x": null}',
        '{"id": "b", "vector": [1, 2, 3, 4], "metadata": {"page": {"of": 9}}, "page.no": 4}',
        '{"id": "c", "vector": [1, 2, 3, 4], "metadata": null}',
    ]
    (tmp_path / "k.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert target.import_file(tmp_path / "k.jsonl").imported == 3
    a, b, c = target.get_many(["a", "b", "c"])
    assert a is not None and a.metadata == {"text": "t", "page": {"no": 3}}
    assert b is not None and b.metadata == {"page": {"of": 9, "no": 4}}
    assert c is not None and c.metadata is None


# ----------------------------------------------------------------------------- round trips
def test_dataframe_round_trip_is_exact(db: vectordb.Database, rng: np.random.Generator) -> None:
    source = filled(db, rng)
    source.add(np.ones((1, DIM), np.float32), ids=["bytes"], metadata=[{"blob": b"\x00\xff"}])
    frame = source.to_dataframe()
    columns = list(frame.columns)
    assert columns[:2] == ["id", "vector"] and columns[-1] == "metadata"
    assert {"text", "page", "nested.lang", "nested.deep.x", "nested.deep.list", "nested"} <= set(
        columns
    )
    rows = frame.set_index("id")
    assert rows.loc["rec-3", "nested.deep.x"] == 1 and rows.loc["rec-7", "nested"] == 5
    assert rows.loc["rec-2", "page"] == 3 and type(rows.loc["rec-4", "page"]) is float
    assert rows.loc["rec-0", "metadata"] is None and rows.loc["rec-0", "text"] is None
    assert rows.loc[frame["id"][1], "metadata"] == {}
    assert rows.loc["rec-5", "metadata"] == {"null": None, "nested": {"lang": None}}
    assert rows.loc["rec-6", "metadata"] == {"id": "shadow", "vector": [1, 2], "metadata": {"m": 1}}
    assert rows.loc["rec-4", "text"] == "" and rows.loc["rec-4", "empty"] == {}

    copy = db.create_collection("copy", dim=DIM, metric="euclidean")
    report = copy.add_dataframe(frame)
    assert (report.imported, report.rows_read) == (len(frame), len(frame))
    assert stored(copy) == stored(source)

    # the old shape reads back the same
    whole = source.to_dataframe(flatten=False)
    assert list(whole.columns) == ["id", "vector", "metadata"]
    other = db.create_collection("other", dim=DIM, metric="euclidean")
    other.add_dataframe(whole)
    assert stored(other) == stored(source)


def test_to_dataframe_where_and_include(db: vectordb.Database, rng: np.random.Generator) -> None:
    source = filled(db, rng)
    frame = source.to_dataframe(where={"page": {"$gte": 3}})
    assert frame["id"].tolist() == ["rec-2", "rec-3"]
    assert "metadata" not in frame.columns and "ünï" not in frame.columns
    slim = source.to_dataframe(where={"page": 3}, include=("metadata",))
    assert list(slim.columns) == ["id", "text", "page", "score", "flag"]
    bare = source.to_dataframe(include=())
    assert list(bare.columns) == ["id"] and bare["id"].tolist() == source.ids()
    vectors = source.to_dataframe(include="vector")
    assert list(vectors.columns) == ["id", "vector"]
    assert vectors["vector"][0].dtype == np.float32
    accepted = "include accepts 'vector', 'metadata' and 'document'"
    with pytest.raises(InvalidArgumentError, match=accepted):
        source.to_dataframe(include=("vectors",))
    with pytest.raises(InvalidArgumentError, match="flatten must be True or False"):
        source.to_dataframe(flatten="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidFilterError):
        source.to_dataframe(where={"page": {"$nope": 1}})


def test_include_vectors_is_deprecated(db: vectordb.Database, rng: np.random.Generator) -> None:
    source = filled(db, rng)
    with pytest.warns(DeprecationWarning, match="include_vectors= is deprecated") as warned:
        frame = source.to_dataframe(include_vectors=False)
    assert warned[0].filename == __file__  # points at the caller
    assert "vector" not in frame.columns and "text" in frame.columns
    with pytest.warns(DeprecationWarning, match="include_vectors"):
        assert "vector" in source.to_dataframe(include_vectors=True).columns
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(InvalidArgumentError, match="True or"),
    ):
        source.to_dataframe(include_vectors="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet", "npy"])
def test_export_import_round_trip_is_exact(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path, file_format: str
) -> None:
    """Every format keeps the metadata object as JSON: every JSON type survives exactly
    (ints stay ints, nested objects, lists, null values, {}), also through CSV."""
    source = filled(db, rng)
    path = tmp_path / f"all.{file_format}"
    assert source.export(path, batch_size=4) == source.count()
    copy = db.create_collection("copy", dim=DIM, metric="euclidean")
    assert copy.import_file(path, batch_size=3).imported == source.count()
    assert stored(copy) == stored(source)


def test_pandas_written_parquet_round_trip(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path
) -> None:
    """A frame from to_dataframe(), written by pandas, imports as the same records: flat
    columns become fields again, dotted ones nested, nulls absent."""
    source = db.create_collection("source", dim=DIM, metric="euclidean")
    metadata = [
        {"text": "a", "page": 1, "tags": ["x", "y"], "author": {"name": "Ann", "age": 40}},
        {"text": "b", "page": 2, "tags": [], "author": {"name": "Bob"}},
        {"text": "c", "score": 0.25},
        None,
    ]
    vectors = rng.standard_normal((len(metadata), DIM)).astype(np.float32)
    source.add(vectors, ids=["a", "b", "c", "d"], metadata=metadata)
    frame = source.to_dataframe()
    assert list(frame.columns) == [
        "id", "vector", "text", "page", "tags", "author.name", "author.age", "score",
    ]  # fmt: skip
    frame.to_parquet(tmp_path / "pandas.parquet")
    copy = db.create_collection("copy", dim=DIM, metric="euclidean")
    assert copy.import_file(tmp_path / "pandas.parquet").imported == 4
    assert stored(copy) == stored(source)


def test_pandas_written_csv_keeps_numbers_and_text(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path
) -> None:
    """A flat CSV that pandas writes (vector spread over v0..v3): numbers, text and lists of
    numbers survive; pandas writes booleans as True / False, which read back as text."""
    source = db.create_collection("source", dim=DIM, metric="euclidean")
    metadata = [
        {"text": "hello, world", "page": 1, "score": 0.5, "flag": True, "ranks": [1, 2]},
        {"text": "second", "page": 2, "score": 1.5},
    ]
    source.add(rng.standard_normal((2, DIM)).astype(np.float32), ids=["a", "b"], metadata=metadata)
    frame = source.to_dataframe()
    vectors = pd.DataFrame(np.stack(frame.pop("vector").tolist()).astype(np.float64),
                           columns=[f"v{i}" for i in range(DIM)])  # fmt: skip
    frame.join(vectors).to_csv(tmp_path / "pandas.csv", index=False, float_format="%.9g")
    copy = db.create_collection("copy", dim=DIM, metric="euclidean")
    assert copy.import_file(tmp_path / "pandas.csv").imported == 2
    a, b = copy.get_many(["a", "b"])
    assert a is not None and b is not None
    assert typed(a.metadata) == typed({**metadata[0], "flag": "True"})
    assert typed(b.metadata) == typed(metadata[1])
    for original, imported in zip(source.get_many(["a", "b"]), (a, b)):
        assert original is not None
        np.testing.assert_array_equal(original.vector, imported.vector)


# ----------------------------------------------------------------------------- export
@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet", "npy"])
def test_export_where_writes_only_matching_records(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path, file_format: str
) -> None:
    source = filled(db, rng)
    path = tmp_path / f"some.{file_format}"
    assert source.export(path, where={"text": {"$exists": True}}, batch_size=2) == 4
    copy = db.create_collection("copy", dim=DIM, metric="euclidean")
    copy.import_file(path)
    assert copy.ids() == ["rec-2", "rec-3", "rec-4", "rec-6"]
    assert stored(copy) == [row for row in stored(source) if row[0] in copy.ids()]
    assert source.export(tmp_path / f"none.{file_format}", where={"text": "nope"}) == 0
    empty = db.create_collection("empty", dim=DIM, metric="euclidean")
    assert empty.import_file(tmp_path / f"none.{file_format}").rows_read == 0


@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet", "npy"])
def test_export_refuses_an_existing_file_unless_overwrite(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path, file_format: str
) -> None:
    source = filled(db, rng)
    path = tmp_path / f"out.{file_format}"
    path.write_bytes(b"an earlier export")
    with pytest.raises(InvalidArgumentError, match=r"exists; pass overwrite=True to replace it"):
        source.export(path)
    assert path.read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", path.name]
    assert source.export(path, overwrite=True) == source.count()
    copy = db.create_collection("copy", dim=DIM, metric="euclidean")
    copy.import_file(path)
    assert stored(copy) == stored(source)
    with pytest.raises(InvalidArgumentError, match="overwrite must be True or False"):
        source.export(path, overwrite="yes")  # type: ignore[arg-type]


def test_export_refuses_an_npy_companion_and_a_bad_filter(
    db: vectordb.Database, rng: np.random.Generator, tmp_path: Path
) -> None:
    source = filled(db, rng)
    (tmp_path / "out.ids.txt").write_text("old\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=r"out\.ids\.txt exists"):
        source.export(tmp_path / "out.npy")
    assert not (tmp_path / "out.npy").exists()
    assert (tmp_path / "out.ids.txt").read_text(encoding="utf-8") == "old\n"
    with pytest.raises(InvalidFilterError):
        source.export(tmp_path / "bad.jsonl", where={"$bogus": []})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "out.ids.txt"]


def test_cli_export_where_and_overwrite(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    with vectordb.open(tmp_path / "db") as db:
        filled(db, rng)
    out = tmp_path / "out.jsonl"
    argv = ["export", str(tmp_path / "db"), "source", str(out), "--where", '{"page": 3}']
    assert main(argv) == EXIT_OK
    assert [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()] == ["rec-2"]
    capsys.readouterr()
    assert main(argv) == EXIT_ERROR
    assert "exists; pass overwrite=True" in capsys.readouterr().err
    assert main([*argv[:-2], "--overwrite"]) == EXIT_OK
    assert len(out.read_text("utf-8").splitlines()) == 9
