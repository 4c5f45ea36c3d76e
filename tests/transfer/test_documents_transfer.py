"""Documents through import and export: every file format and DataFrames keep them exactly,
a bad document in a file is refused naming its row with nothing imported, and files without
a document column import as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vectordb
from vectordb.errors import InvalidArgumentError, InvalidFileError
from vectordb.inputs import MAX_DOCUMENT_BYTES

LONG = "long text, " * 50_000  # ~550 KB
DOCUMENTS = {
    "a": "plain",
    "b": None,
    "c": 'unicode: héllo wörld 日本語 🙂, "quoted", a\nnew line\r\nand a tab\t',
    "d": LONG,
    "e": "1.5",  # text that looks like a number stays text
}
ALL = ("vector", "metadata", "document")


def _source(db: vectordb.Database) -> vectordb.Collection:
    docs = db.create_collection("source", dim=2)
    ids = list(DOCUMENTS)
    docs.add(
        [[float(i + 1), 1.0] for i in range(len(ids))],
        ids=ids,
        metadata=[{"n": i} if i % 2 else None for i in range(len(ids))],
        documents=list(DOCUMENTS.values()),
    )
    return docs


def _records(collection: vectordb.Collection) -> dict[str, tuple[object, ...]]:
    ids = collection.ids()
    return {
        r.id: (r.vector.tolist(), r.metadata, r.document)
        for r in collection.get_many(ids, include=ALL)
        if r is not None
    }


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".npy", ".parquet"])
def test_file_round_trip_keeps_documents(tmp_path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    with vectordb.open(tmp_path / "db") as db:
        source = _source(db)
        path = tmp_path / f"out{suffix}"
        assert source.export(path, batch_size=2) == len(DOCUMENTS)
        copy = db.create_collection("copy", dim=2)
        report = copy.import_file(path, batch_size=2)
        assert report.imported == len(DOCUMENTS)
        assert _records(copy) == _records(source)
        assert {r.id: r.document for r in copy.get_many(list(DOCUMENTS), include=ALL) if r} == (
            DOCUMENTS
        )
        # replace and skip carry documents too
        copy.update(["a"], documents=["changed"])
        copy.import_file(path, on_conflict="replace")
        assert _records(copy) == _records(source)
        copy.delete(["c"])
        copy.import_file(path, on_conflict="skip")
        assert _records(copy) == _records(source)


def test_export_layouts(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0], [0, 1]], ids=["a", "b"], documents=["x, y", None])
        docs.export(tmp_path / "d.jsonl")
        lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
        assert lines == [
            {"id": "a", "vector": [1, 0], "metadata": None, "document": "x, y"},
            {"id": "b", "vector": [0, 1], "metadata": None},
        ]
        docs.export(tmp_path / "d.csv")
        assert (tmp_path / "d.csv").read_text().splitlines() == [
            "id,metadata,document,v0,v1",
            'a,,"x, y",1,0',
            "b,,,0,1",
        ]
        docs.export(tmp_path / "d.npy")
        assert (tmp_path / "d.documents.jsonl").read_text().splitlines() == ['"x, y"', "null"]
        # a collection without documents exports as before: no document column or file
        plain = db.create_collection("plain", dim=2)
        plain.add([[1, 0]], ids=["a"])
        plain.export(tmp_path / "d.npy", overwrite=True)  # and a stale documents file goes
        assert not (tmp_path / "d.documents.jsonl").exists()
        plain.export(tmp_path / "d.csv", overwrite=True)
        assert (tmp_path / "d.csv").read_text().splitlines()[0] == "id,metadata,v0,v1"
        # without overwrite, an existing documents file is refused like the other companions
        docs.export(tmp_path / "e.npy")
        for name in ("e.npy", "e.ids.txt", "e.metadata.jsonl"):
            (tmp_path / name).unlink()
        with pytest.raises(InvalidArgumentError, match=r"documents\.jsonl exists"):
            docs.export(tmp_path / "e.npy")


def test_parquet_document_column(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0], [0, 1]], ids=["a", "b"], documents=["x", None])
        docs.export(tmp_path / "d.parquet")
        table = pq.read_table(tmp_path / "d.parquet")
        assert str(table.schema.field("document").type) == "string"
        assert table.column("document").to_pylist() == ["x", None]


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("d.jsonl", '{"id": "a", "vector": [1, 0]}\n{"id": "b", "vector": [0, 1], "document": 5}\n',
         "d.jsonl line 2: document is"),
        ("d.jsonl",
         '{"id": "a", "vector": [1, 0]}\n{"id": "b", "vector": [0, 1], "document": "\\ud800"}\n',
         "d.jsonl line 2: document is not valid text"),
        ("d.csv", "id,document,v0,v1\na,ok,1,0\nb," + "x" * (MAX_DOCUMENT_BYTES + 1) + ",0,1\n",
         "d.csv line 3: document is 1048577 bytes"),
    ],
)  # fmt: skip
def test_bad_document_is_refused_naming_the_row(
    tmp_path: Path, name: str, text: str, words: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        with pytest.raises(InvalidArgumentError, match=words) as caught:
            docs.import_file(tmp_path / name)
        assert "nothing was imported" in str(caught.value)
        assert docs.count() == 0


def test_bad_npy_documents_file(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = _source(db)
        docs.export(tmp_path / "d.npy")
        path = tmp_path / "d.documents.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(["7", *lines[1:]]) + "\n", encoding="utf-8")
        copy = db.create_collection("copy", dim=2)
        with pytest.raises(InvalidArgumentError, match=r"d.npy row 0 .*document is"):
            copy.import_file(tmp_path / "d.npy")
        path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
        with pytest.raises(InvalidFileError, match="fewer lines"):
            copy.import_file(tmp_path / "d.npy")
        assert copy.count() == 0


def test_document_is_not_a_metadata_field(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(
        "id,v0,v1,document,lang\na,1,0,some text,en\nb,0,1,,de\n", encoding="utf-8"
    )
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.import_file(tmp_path / "d.csv")
        a, b = docs.get_many(["a", "b"], include=ALL)
        assert a is not None and b is not None
        assert (a.metadata, a.document) == ({"lang": "en"}, "some text")
        assert (b.metadata, b.document) == ({"lang": "de"}, None)  # an empty cell: none
        with pytest.raises(InvalidArgumentError, match="not a field column"):
            docs.import_file(tmp_path / "d.csv", metadata_columns=["document"])
        # a metadata key named "document" stays in the metadata object
        docs.add([[1, 1]], ids=["c"], metadata={"document": "a field"}, documents=["text"])
        docs.export(tmp_path / "c.csv", where={"document": "a field"})
        copy = db.create_collection("copy", dim=2)
        copy.import_file(tmp_path / "c.csv")
        c = copy.get("c", include=ALL)
        assert c is not None and (c.metadata, c.document) == ({"document": "a field"}, "text")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".npy"])
def test_file_without_documents_still_imports(tmp_path: Path, suffix: str) -> None:
    files = {
        ".jsonl": {"d.jsonl": '{"id": "a", "vector": [1, 0], "metadata": {"k": 1}}\n'},
        ".csv": {"d.csv": 'id,metadata,v0,v1\na,"{""k"": 1}",1,0\n'},
        ".npy": {"d.ids.txt": "a\n", "d.metadata.jsonl": '{"k": 1}\n'},
    }[suffix]
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    if suffix == ".npy":
        import numpy as np

        np.save(tmp_path / "d.npy", np.array([[1, 0]], dtype=np.float32))
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        assert docs.import_file(tmp_path / f"d{suffix}").imported == 1
        a = docs.get("a", include=ALL)
        assert a is not None and (a.metadata, a.document) == ({"k": 1}, None)
        assert not docs.has_documents


def test_dataframe_round_trip_keeps_documents(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    with vectordb.open(tmp_path / "db") as db:
        source = _source(db)
        frame = source.to_dataframe()
        assert frame["document"].tolist() == list(DOCUMENTS.values())
        assert "document" not in source.to_dataframe(include=("vector", "metadata")).columns
        copy = db.create_collection("copy", dim=2)
        assert copy.add_dataframe(frame).imported == len(DOCUMENTS)
        assert _records(copy) == _records(source)
        # None / NaN / "" are no document; document_column= names another column
        other = pandas.DataFrame(
            {"id": ["x", "y", "z"], "vector": [[1, 0]] * 3, "text": ["t", float("nan"), ""]}
        )
        third = db.create_collection("third", dim=2)
        third.add_dataframe(other, document_column="text")
        assert {r.id: r.document for r in third.get_many(["x", "y", "z"], include=ALL) if r} == {
            "x": "t",
            "y": None,
            "z": None,
        }
        assert third.get("x").metadata is None  # type: ignore[union-attr]
        bad = pandas.DataFrame({"id": ["p", "q"], "vector": [[1, 0]] * 2, "document": ["ok", 3]})
        with pytest.raises(InvalidArgumentError, match=r"DataFrame row 1 .*document is"):
            third.add_dataframe(bad)
        assert "p" not in third
        # a collection without documents gives a frame without the column
        plain = db.create_collection("plain", dim=2)
        plain.add([[1, 0]], ids=["a"])
        assert list(plain.to_dataframe().columns) == ["id", "vector"]
