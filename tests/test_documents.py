"""Documents (format 3): an optional text per record on every write path, durable like
metadata, returned with ``include=("document",)`` and by ``search`` by default once the
collection holds any."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb.inputs import MAX_DOCUMENT_BYTES

ALL = ("vector", "metadata", "document")


def _documents(collection: vectordb.Collection) -> dict[str, str | None]:
    ids = collection.ids()
    return {r.id: r.document for r in collection.get_many(ids, include=("document",)) if r}


def test_documents_round_trip_on_every_write_path(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"], documents=["alpha", None, ""])
        assert _documents(docs) == {"a": "alpha", "b": None, "c": None}  # "" is no document
        docs.upsert([[2, 0], [0, 2]], ids=["a", "d"], documents=["alpha 2", "delta"])
        docs.upsert([[3, 0]], ids=["d"])  # a whole-record replace keeps no document
        docs.update("b", documents="beta")  # one string for one id
        docs.update(["a", "b"], documents=[None, ""])  # None keeps, "" removes
        docs.update(["a"], vectors=[[5, 5]])  # a new vector keeps the document
        docs.update(["a"], metadata={"k": 1})  # so does new metadata
        with db.transaction():
            docs.add([[1, 2]], ids=["t"], documents="in a transaction")
            docs.update(["t", "c"], documents=["changed in it", "c text"])
        expected = {"a": "alpha 2", "b": None, "c": "c text", "d": None, "t": "changed in it"}
        assert _documents(docs) == expected
        record = docs.get("a", include=ALL)
        assert record is not None and record.metadata == {"k": 1}
        assert record.document == "alpha 2" and record.to_dict()["document"] == "alpha 2"
        assert docs.get("a").document is None  # get's default include leaves it out
        docs.update(["t"], metadata={"lang": "en"})
        found = docs.find({"lang": "en"}, include=("document",))
        assert [r.document for r in found] == ["changed in it"]
        scrolled = [r for batch in docs.scroll(batch_size=2, include=("document",)) for r in batch]
        assert {r.id: r.document for r in scrolled} == expected
        db.checkpoint()
        docs.delete(["c"])
        docs.add([[9, 9]], ids=["e"], documents=["after the checkpoint"])
        expected.pop("c")
        expected["e"] = "after the checkpoint"
        assert _documents(docs) == expected
    with vectordb.open(tmp_path / "db", read_only=True) as db:  # snapshot + log replay
        assert _documents(db.get_collection("docs")) == expected
    with vectordb.open(tmp_path / "db") as db:
        docs = db.get_collection("docs")
        docs.compact()
        assert _documents(docs) == expected
        assert db.check() == []


def test_search_includes_documents_by_default_once_the_collection_has_any(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0]], ids=["a"])
        assert docs.search([1, 0], k=1)[0] == vectordb.Hit("a", 1.0)
        docs.add([[0, 1]], ids=["b"], documents=["bee"])
        hits = docs.search([0, 1], k=2)
        assert [(hit.id, hit.document) for hit in hits] == [("b", "bee"), ("a", None)]
        assert docs.search([0, 1], k=1, include=("metadata",))[0].document is None
        assert docs.search([0, 1], k=1, include=("document",))[0].document == "bee"
        assert docs.search_batch([[0, 1]], k=1)[0][0].document == "bee"
        assert docs.search([0, 1], k=1, include=())[0].document is None
        hit = docs.search([0, 1], k=1)[0]
        assert hit.to_dict() == {"id": "b", "score": 1.0, "metadata": None, "document": "bee"}
        assert "document='bee'" in repr(hit)


@pytest.mark.parametrize(
    ("documents", "match"),
    [
        (["ok", 5], "document of id 'b' must be a str"),
        ([b"bytes", None], "must be a str"),
        (["\ud800", None], "not valid text"),
        (["x" * (MAX_DOCUMENT_BYTES + 1), None], "over the limit"),
        (["one"], "got 1 documents for 2 records"),
        ("one string", "one string for 2 records"),
        ({"a": "x"}, "sequence of strings"),
    ],
)
def test_a_bad_document_is_refused_and_changes_nothing(
    tmp_path: Path, documents: object, match: str
) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 1]], ids=["c"], documents=["kept"])
        for write in (
            lambda: docs.add([[1, 0], [0, 1]], ids=["a", "b"], documents=documents),  # type: ignore[arg-type]
            lambda: docs.upsert([[1, 0], [0, 1]], ids=["a", "b"], documents=documents),  # type: ignore[arg-type]
        ):
            with pytest.raises(vectordb.InvalidArgumentError, match=match):
                write()
        assert docs.ids() == ["c"] and _documents(docs) == {"c": "kept"}
        with pytest.raises(vectordb.InvalidArgumentError, match="documents belong to given ids"):
            docs.update(where={"x": 1}, documents=["x"])
        with pytest.raises(vectordb.IdNotFoundError):
            docs.update(["nope"], documents=["x"])
        assert _documents(docs) == {"c": "kept"}


def test_an_idempotent_retry_with_other_documents_is_refused(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 0]], ids=["a"], documents=["one"], idempotency_key="k")
        assert docs.add([[1, 0]], ids=["a"], documents=["one"], idempotency_key="k") == ["a"]
        with pytest.raises(vectordb.IdempotencyKeyReuseError):
            docs.add([[1, 0]], ids=["a"], documents=["two"], idempotency_key="k")


CRASHING_WRITER = textwrap.dedent("""
    import os, signal, sys
    import vectordb
    db = vectordb.open(sys.argv[1])
    docs = db.create_collection("docs", dim=2)
    docs.add([[1, 0], [0, 1]], ids=["a", "b"], documents=["checkpointed", None])
    db.checkpoint()
    docs.add([[1, 1]], ids=["c"], documents=["only in the log \\u00e9"])
    docs.update(["a", "b"], documents=["", "set after"])
    with db.transaction():
        docs.upsert([[3, -1]], ids=["d"], documents=["transaction"])
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_documents_survive_a_killed_writer(tmp_path: Path) -> None:
    path = tmp_path / "db"
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path)],
        env=dict(os.environ, VECTORDB_NO_WARMUP="1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -9 and "written" in result.stdout, result.stderr
    expected = {"a": None, "b": "set after", "c": "only in the log \u00e9", "d": "transaction"}
    with vectordb.open(path, read_only=True) as db:
        assert _documents(db.get_collection("docs")) == expected
    with vectordb.open(path) as db:  # exclusive recovery, then a checkpoint at close
        assert _documents(db.get_collection("docs")) == expected
    with vectordb.open(path, read_only=True) as db:
        docs = db.get_collection("docs")
        assert _documents(docs) == expected
        vector = np.float32([3, -1])
        assert docs.search(vector, k=1)[0].document == "transaction"
