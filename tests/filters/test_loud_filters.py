"""Filters that fail loudly where they should: dotted keys refused at write time (a filter
could never match them), ``explain()`` warning about fields no record has and comparisons
with a type the field never holds, and dates stored as ISO text on every path, schema or
not."""

from __future__ import annotations

import datetime
from pathlib import Path

import msgpack
import numpy as np
import pytest

import vectordb
from vectordb import Collection, Database


@pytest.fixture
def docs(db: Database) -> Collection:
    collection = db.create_collection("docs", dim=2)
    collection.add(
        [[1, 0], [0, 1], [1, 1]],
        ids=["a", "b", "c"],
        metadata=[{"year": 2020, "lang": "en"}, {"year": 2021, "tags": ["x"]}, None],
    )
    return collection


@pytest.mark.parametrize(
    "metadata",
    [{"a.b": 1}, {"outer": {"in.ner": 1}}, {"list": [{"x.y": 1}]}],
    ids=["top", "nested", "in a list"],
)
def test_a_dotted_key_is_refused_on_every_write_path(
    docs: Collection, metadata: dict[str, object], tmp_path: Path
) -> None:
    before = {r.id: r.metadata for r in docs.find({"$or": [{"year": 2020}, {"year": 2021}]})}
    for write in (
        lambda: docs.add([[2, 0]], ids=["new"], metadata=[metadata]),
        lambda: docs.upsert([[2, 0]], ids=["a"], metadata=[metadata]),
        lambda: docs.update("a", metadata=metadata),
        lambda: docs.update("a", metadata=metadata, merge=False),
    ):
        with pytest.raises(vectordb.InvalidMetadataError, match="filters read a dot as a path"):
            write()
    source = tmp_path / "rows.jsonl"
    source.write_text('{"id": "j", "vector": [1, 0], "metadata": {"a.b": 1}}\n')
    with pytest.raises(vectordb.InvalidMetadataError):
        docs.import_file(source)
    after = {r.id: r.metadata for r in docs.find({"$or": [{"year": 2020}, {"year": 2021}]})}
    assert after == before and len(docs) == 3


def test_a_database_that_already_holds_dotted_keys_opens_and_reads(tmp_path: Path) -> None:
    """Written before the rule: the record's bytes are as an older version logged them."""
    path = tmp_path / "old"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0]], ids=["old"], metadata=[{"plain": 1}])
        # an older version's write, bypassing today's check: the same log record
        state = docs._state
        blob = msgpack.packb({"a.b": 1, "plain": 2}, use_bin_type=True)
        with docs._writing():
            db._engine.set_metadata(state, ["old"], [blob], None, result=1)
    with vectordb.open(path) as db:
        record = db.get_collection("docs").get("old")
        assert record is not None and record.metadata == {"a.b": 1, "plain": 2}
    with vectordb.open(path, read_only=True) as db:
        assert db.get_collection("docs").get("old").metadata == {"a.b": 1, "plain": 2}  # type: ignore[union-attr]


def test_explain_warns_about_a_field_no_record_has(docs: Collection) -> None:
    warnings = docs.explain({"yaer": 2020})["warnings"]
    assert len(warnings) == 1 and "no record has the field 'yaer'" in warnings[0]
    assert docs.explain({"year": 2020})["warnings"] == []
    docs.delete(["a", "b"])  # a field only deleted records had
    assert "no record has the field 'year'" in docs.explain({"year": 2020})["warnings"][0]


def test_explain_warns_about_a_comparison_of_the_wrong_type(docs: Collection) -> None:
    (warning,) = docs.explain({"year": "2020"})["warnings"]
    assert "year $eq '2020'" in warning and "never a string" in warning
    assert "matches nothing" in warning
    assert docs.count(where={"year": "2020"}) == 0  # the warning is right
    (excluding,) = docs.explain({"year": {"$ne": "2020"}})["warnings"]
    assert "excludes no record" in excluding
    assert len(docs.explain({"year": {"$in": [2020, "2021"], "$gte": 2000.5}})["warnings"]) == 1
    assert docs.explain({"$not": {"lang": 3}})["warnings"][0].startswith("lang $eq 3")
    assert docs.explain({"year": None, "tags": {"$contains": "x"}})["warnings"] == []


def test_dates_are_stored_as_iso_text_with_and_without_a_schema(db: Database) -> None:
    typed = db.create_collection("typed", dim=2, metadata_schema={"day": "date"})
    loose = db.create_collection("loose", dim=2)
    day, moment = datetime.date(2024, 1, 2), datetime.datetime(2023, 5, 1, 12, 30)
    for collection in (typed, loose):
        collection.add(
            [[1, 0], [0, 1], [1, 1]],
            ids=["d", "m", "n"],
            metadata=[{"day": day}, {"day": moment}, {"day": np.datetime64("2022-03-04")}],
        )
        stored = [r.metadata for r in collection.get_many(["d", "m", "n"])]  # type: ignore[union-attr]
        assert stored == [
            {"day": "2024-01-02"}, {"day": "2023-05-01T12:30:00"}, {"day": "2022-03-04"},
        ]  # fmt: skip
        after = [r.id for r in collection.find({"day": {"$gte": datetime.date(2023, 1, 1)}})]
        assert after == ["d", "m"]
        collection.update("n", metadata={"day": datetime.date(2025, 6, 7)})
        assert collection.get("n").metadata == {"day": "2025-06-07"}  # type: ignore[union-attr]
    with pytest.raises(vectordb.InvalidMetadataError, match="must be date"):
        typed.add([[1, 0]], ids=["bad"], metadata=[{"day": "not a date"}])
    with pytest.raises(vectordb.InvalidMetadataError, match="NaT"):
        loose.add([[1, 0]], ids=["nat"], metadata=[{"day": np.datetime64("NaT")}])


def test_a_filter_on_a_field_no_record_has_creates_no_column(db_path: Path) -> None:
    with vectordb.open(db_path) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"year": 2020}, {"year": 2021}])
        assert docs.count(where={"yaer": 2020}) == 0  # a typo
        assert docs.explain({"nope": 1})["warnings"]
        assert docs.count(where={"year": 2020}) == 1
        assert docs.indexed_fields() == {"year": False}
        db.checkpoint()
    saved = (db_path / "collections" / "docs" / "columns.bin").read_bytes()
    assert b"year" in saved and b"yaer" not in saved and b"nope" not in saved
    with vectordb.open(db_path) as db:
        docs = db.get_collection("docs")
        assert docs.indexed_fields() == {"year": False}
        docs.update("a", metadata={"yaer": 1})  # once a record has it, it is a column
        assert docs.count(where={"yaer": 1}) == 1
        assert "yaer" in docs.indexed_fields()
