"""What reads and searches return and how it shows: ``include=`` on every read, the result
lists (``SearchResults``, ``Records``) and their DataFrames, short reprs, and the notebook
HTML of results, collections and databases: well formed, with every value escaped."""

from __future__ import annotations

import html.parser
from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb import Collection, Database

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def docs(db: Database) -> Collection:
    collection = db.create_collection("docs", dim=4)
    collection.add(
        np.eye(4, dtype=np.float32),
        ids=["a", "b", "c", "d"],
        metadata=[
            {"lang": "en", "n": 1, "meta": {"page": 3, "tags": ["x"]}},
            {"lang": "de", "n": 2, "id": "clash"},
            {"lang": "en", "n": 3, "text": SCRIPT},
            None,
        ],
    )
    return collection


# ----------------------------------------------------------------------------- include=
def test_reads_return_vector_and_metadata_unless_told(docs: Collection) -> None:
    full = docs.get("a")
    assert full is not None and full.vector is not None and full.metadata is not None
    only_metadata = docs.get("a", include=("metadata",))
    assert only_metadata is not None and only_metadata.vector is None
    assert only_metadata.metadata == full.metadata
    only_vector = docs.get("a", include=["vector"])
    assert only_vector is not None and only_vector.metadata is None
    np.testing.assert_array_equal(only_vector.vector, full.vector)
    assert docs.get_many(["b", "zz"], include="metadata")[0].vector is None  # type: ignore[union-attr]
    bare = docs.get("a", include=())
    assert bare is not None and bare.id == "a" and bare.vector is None and bare.metadata is None


def test_find_takes_offset_limit_and_include(docs: Collection) -> None:
    everything = [r.id for r in docs.find({"n": {"$gte": 1}})]
    assert everything == ["a", "b", "c"]
    page = docs.find({"n": {"$gte": 1}}, limit=1, offset=1, include=("metadata",))
    assert [r.id for r in page] == ["b"] and page[0].vector is None
    assert docs.find({"n": {"$gte": 1}}, offset=5) == []
    with pytest.raises(vectordb.InvalidArgumentError):
        docs.find({"n": 1}, offset=-1)


def test_scroll_takes_include(docs: Collection) -> None:
    batches = list(docs.scroll(batch_size=3, include=("vector",)))
    assert [len(batch) for batch in batches] == [3, 1]
    assert all(r.metadata is None and r.vector is not None for batch in batches for r in batch)
    assert isinstance(batches[0], vectordb.Records)


@pytest.mark.parametrize("include", [("vectors",), ("metadata", "documents"), 5])
def test_an_unknown_include_is_refused_everywhere(docs: Collection, include: object) -> None:
    for read in (
        lambda: docs.get("a", include=include),  # type: ignore[arg-type]
        lambda: docs.get_many(["a"], include=include),  # type: ignore[arg-type]
        lambda: docs.find({"n": 1}, include=include),  # type: ignore[arg-type]
        lambda: list(docs.scroll(include=include)),  # type: ignore[arg-type]
        lambda: docs.search([1, 0, 0, 0], include=include),  # type: ignore[arg-type]
    ):
        with pytest.raises(vectordb.InvalidArgumentError):
            read()


# ----------------------------------------------------------------------------- result lists
def test_search_returns_a_list_that_becomes_a_dataframe(docs: Collection) -> None:
    pandas = pytest.importorskip("pandas")
    hits = docs.search([1, 0.1, 0, 0], k=3, include=("metadata", "vector"))
    assert isinstance(hits, vectordb.SearchResults) and isinstance(hits, list)
    assert hits[0].id == "a"
    frame = hits.to_pandas()
    assert list(frame.columns[:2]) == ["id", "score"]
    assert frame["id"].tolist() == [hit.id for hit in hits]
    assert frame["meta.page"].tolist()[0] == 3  # nested fields get dotted names
    assert frame["meta.tags"].tolist()[0] == ["x"]
    assert "metadata.id" in frame.columns  # a metadata key named like a column keeps both
    assert frame["vector"].iloc[0].shape == (4,)
    nested = hits.to_pandas(flatten=False)
    assert list(nested.columns) == ["id", "score", "metadata", "vector"]
    named = pandas.DataFrame(hits)
    assert list(named.columns) == ["id", "score", "metadata", "vector", "document"]
    assert docs.search_batch([[1, 0, 0, 0]], k=1)[0].to_pandas()["id"].tolist() == ["a"]
    records = docs.find({"lang": "en"}).to_pandas()
    assert records["id"].tolist() == ["a", "c"] and "vector" in records.columns
    assert pandas.DataFrame(docs.find({"lang": "en"})).columns.tolist() == [
        "id", "vector", "metadata", "document",
    ]  # fmt: skip


def test_to_dict_and_short_reprs(db: Database) -> None:
    wide = db.create_collection("wide", dim=384)
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    wide.add(vector[None, :], ids=["w"], metadata=[{"text": "y" * 500}])
    record = wide.get("w")
    assert record is not None
    text = repr(record)
    assert "(384)" in text and len(text) < 200, text
    assert record.to_dict()["id"] == "w" and record.to_dict()["vector"].shape == (384,)
    hit = wide.search(vector, k=1, include=("metadata", "vector"))[0]
    assert "(384)" in repr(hit) and len(repr(hit)) < 220, repr(hit)
    assert set(hit.to_dict()) == {"id", "score", "metadata", "vector"}
    assert set(wide.search(vector, k=1)[0].to_dict()) == {"id", "score", "metadata"}
    assert "count=1" in repr(wide)


# ----------------------------------------------------------------------------- notebook HTML
VOID = {"br", "hr", "img", "meta", "input", "col", "wbr"}


class _Checker(html.parser.HTMLParser):
    """Fails on unbalanced tags; records every start tag and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def checked_html(markup: str) -> _Checker:
    """Parse ``markup``: balanced tags, no script element; returns the parse."""
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert checker.stack == [], checker.stack
    assert "script" not in checker.tags
    assert markup.startswith("<div") and markup.endswith("</div>")
    return checker


def test_result_html_is_well_formed_and_escaped(docs: Collection) -> None:
    hits = docs.search([0, 0, 1, 0], k=4, include=("metadata", "vector"))
    parsed = checked_html(hits._repr_html_())
    text = "".join(parsed.text)
    assert SCRIPT in text  # shown as text, not run
    assert "[0.00, 0.00, 1.00, ...] (4)" in text
    for header in ("#", "id", "score", "lang", "meta.page"):
        assert header in parsed.text
    records = docs.find({"lang": "en"})
    assert SCRIPT in "".join(checked_html(records._repr_html_()).text)


def test_collection_and_database_html(db_path: Path, docs: Collection, db: Database) -> None:
    parsed = checked_html(docs._repr_html_())
    text = "".join(parsed.text)
    assert "count" in text and "4" in text and "cosine" in text and "flat" in text
    assert "lang" in text and "meta.page" in text  # a sample of metadata keys
    graph = db.create_collection("graph", dim=4, index="hnsw")
    assert "ef_construction=" in "".join(checked_html(graph._repr_html_()).text)
    whole = "".join(checked_html(db._repr_html_()).text)
    assert "docs" in whole and "graph" in whole and str(db_path) in whole


def test_html_escapes_a_hostile_database_path(tmp_path: Path) -> None:
    path = tmp_path / "<b>db&"
    with vectordb.open(path) as db:
        db.create_collection("c", dim=2)
        markup = db._repr_html_()
        parsed = checked_html(markup)
        assert "b" not in parsed.tags
        assert str(path) in "".join(parsed.text)
    assert "closed" in "".join(checked_html(db._repr_html_()).text)


def test_html_of_a_dropped_collection_says_so(db: Database) -> None:
    gone = db.create_collection("gone", dim=2)
    db.drop_collection("gone")
    assert "dropped" in "".join(checked_html(gone._repr_html_()).text)
    assert "count=" not in repr(gone)


def test_documents_show_in_the_result_tables(db: Database) -> None:
    notes = db.create_collection("notes", dim=2)
    notes.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"n": 1}, None],
              documents=["first <b>note</b> " + "x" * 200, "second"])  # fmt: skip
    parsed = checked_html(notes.search([1, 0], k=2)._repr_html_())
    text = parsed.text
    assert "document" in text and "second" in text and "b" not in parsed.tags
    assert any(cell.startswith("first <b>note</b> xxx") and cell.endswith("...") for cell in text)
    found = notes.find({"n": 1}, include=("metadata", "document"))
    records = checked_html(found._repr_html_()).text
    assert "document" in records and any(cell.startswith("first <b>note</b>") for cell in records)
