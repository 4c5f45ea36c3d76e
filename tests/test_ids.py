"""Ids as users hold them: str subclasses, numpy arrays, pandas Series and Index, tuples;
short error messages; ``ids=`` and ``metadata=`` keyword-only in ``add`` / ``upsert``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import vectordb


@pytest.fixture
def docs(db: vectordb.Database) -> vectordb.Collection:
    return db.create_collection("docs", dim=3)


VECTORS = np.eye(3, dtype=np.float32)


def _containers() -> list[tuple[str, Any]]:
    names = ["a", "b", "c"]
    found: list[tuple[str, Any]] = [
        ("list of np.str_", [np.str_(n) for n in names]),
        ("tuple", tuple(names)),
        ("numpy unicode array", np.array(names)),
        ("numpy object array", np.array(names, dtype=object)),
    ]
    pandas = pytest.importorskip("pandas")
    found += [("pandas Series", pandas.Series(names)), ("pandas Index", pandas.Index(names))]
    return found


@pytest.mark.parametrize("kind", range(6))
def test_every_method_takes_ids_as_users_hold_them(docs: vectordb.Collection, kind: int) -> None:
    label, ids = _containers()[kind]
    assert docs.add(VECTORS, ids=ids, metadata=[{"n": 1}] * 3) == ["a", "b", "c"], label
    stored = docs.ids()
    assert sorted(stored) == ["a", "b", "c"] and {type(i) for i in stored} == {str}
    assert [r.id for r in docs.get_many(ids) if r is not None] == ["a", "b", "c"]
    assert all(type(r.id) is str for r in docs.get_many(ids) if r is not None)
    first = ids[0] if not hasattr(ids, "iloc") else ids.iloc[0]
    record = docs.get(first)
    assert record is not None and record.id == "a"
    assert first in docs
    assert docs.update(ids, metadata={"m": 2}) == 3
    assert docs.get("c").metadata == {"n": 1, "m": 2}  # type: ignore[union-attr]
    assert docs.upsert(VECTORS * 2, ids=ids) == ["a", "b", "c"]
    assert docs.similarity(first, "b") == pytest.approx(0.0)
    assert docs.delete(ids) == 3
    assert len(docs) == 0


def test_a_single_np_str_id_is_one_id(docs: vectordb.Collection) -> None:
    assert docs.add(VECTORS[:1], ids=np.str_("solo")) == ["solo"]
    assert docs.update(np.str_("solo"), metadata={"k": 1}) == 1
    assert docs.delete(np.str_("solo")) == 1


def test_add_and_upsert_take_ids_and_metadata_by_keyword_only(docs: vectordb.Collection) -> None:
    with pytest.raises(TypeError):
        docs.add(VECTORS, ["a", "b", "c"])  # type: ignore[misc]
    with pytest.raises(TypeError):
        docs.upsert(VECTORS, ["a", "b", "c"])  # type: ignore[misc]
    assert len(docs) == 0


def test_an_id_error_quotes_at_most_about_80_characters(docs: vectordb.Collection) -> None:
    docs.add(VECTORS[:1], ids=["x" * 500])
    vector = [0.123456789] * 256
    with pytest.raises(vectordb.InvalidArgumentError) as caught:
        docs.delete([vector])  # a vector passed where ids go
    message = str(caught.value)
    assert len(message) < 160 and "position 0" in message and "list" in message
    with pytest.raises(vectordb.DuplicateIdError) as duplicate:
        docs.add(VECTORS[:1], ids=["x" * 500])
    assert len(str(duplicate.value)) < 220 and "upsert" in str(duplicate.value)
    with pytest.raises(vectordb.IdNotFoundError) as missing:
        docs.update(["y" * 500], metadata={"a": 1})
    assert len(str(missing.value)) < 200
    assert len(docs) == 1


def test_position_is_named_only_for_a_batch(docs: vectordb.Collection) -> None:
    with pytest.raises(vectordb.InvalidArgumentError) as single:
        docs.get(np.arange(256.0))  # type: ignore[arg-type]
    assert "position" not in str(single.value) and len(str(single.value)) < 160
    with pytest.raises(vectordb.InvalidArgumentError) as listed:
        docs.get(["a", "b"])  # type: ignore[arg-type]
    assert "get_many" in str(listed.value)
    with pytest.raises(vectordb.InvalidArgumentError) as batch:
        docs.get_many(["ok", 7])
    assert "id at position 1 is an int 7" in str(batch.value)


@pytest.mark.parametrize(
    "ids",
    [b"abc", {"a": 1}, {"a", "b"}, 5, np.array([["a", "b"]])],
    ids=["bytes", "mapping", "set", "int", "2-D array"],
)
def test_containers_that_are_not_id_batches_are_refused(
    docs: vectordb.Collection, ids: Any
) -> None:
    with pytest.raises(vectordb.InvalidArgumentError):
        docs.get_many(ids)
    with pytest.raises(vectordb.InvalidArgumentError):
        docs.add(VECTORS[:2] if not isinstance(ids, int) else VECTORS[:1], ids=ids)
    assert len(docs) == 0
