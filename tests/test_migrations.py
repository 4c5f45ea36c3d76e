"""Databases written by earlier on-disk formats open, read and write with today's code.

``tests/data/format-<n>/`` holds a database written by the last commit before format n + 1
(tests/data/README.md); each test copies it to a temporary directory first. Formats 1, 2 and 3
hold the same records (``make_format_2.py`` and ``make_format_3.py`` repeat
``make_format_1.py``), none with a document: every record must read back with ``document``
None, and take one after migrating. Format 3 adds a collection ``texts`` whose records hold
documents, in its checkpoint and in its log.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import vectordb
from vectordb.files.headers import FORMAT_VERSION, HEADER

DATA = Path(__file__).parent / "data"


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_format_1", DATA / "make_format_1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected(version: int = 1) -> dict[str, dict[str, tuple[bytes, object]]]:
    """What make_format_<version>.py wrote, collection by collection: id -> (vector,
    metadata). The scripts make the same calls, but ``update(metadata=)`` merges since format
    2's code (it replaced the mapping before)."""
    records = _maker().records

    def as_state(seed: int, n: int) -> dict[str, tuple[bytes, object]]:
        vectors, ids, metadata = records(seed, n, 8)
        return {i: (v.tobytes(), m) for i, v, m in zip(ids, vectors, metadata)}

    flat = as_state(0, 24)
    for gone in ("s0-1", "s0-2", "s0-5"):
        del flat[gone]
    flat.update(as_state(10, 6))
    merged = version >= 2
    old: dict[str, object] = dict(flat["s0-0"][1]) if merged else {}  # type: ignore[call-overload]
    flat["s0-0"] = (flat["s0-0"][0], {**old, "i": 0, "lang": "xx"})
    graph = as_state(1, 24)
    old = dict(graph["s1-3"][1]) if merged else {}  # type: ignore[call-overload]
    graph["s1-3"] = (graph["s1-3"][0], {**old, "note": "updated"})
    upserted = records(11, 2, 8)[0]
    graph["s1-0"] = (upserted[0].tobytes(), None)
    graph["new-1"] = (upserted[1].tobytes(), None)
    quantized = as_state(2, 24)
    del quantized["s2-0"]
    expected = {"flat": flat, "graph": graph, "quantized": quantized, "empty": {}}
    if version >= 3:
        eye = np.eye(4, dtype=np.float32)
        expected["texts"] = {
            "t0": (eye[0].tobytes(), {"n": 0}, "mkfs.ext4 makes a file system"),
            "t1": (eye[1].tobytes(), None, "resize an ext4 partition with resize2fs"),
            "t2": (eye[2].tobytes(), {"n": 2}),
            "t3": (eye[3].tobytes(), None),
            "t4": (np.float32([1, 1, 0, 0]).tobytes(), None, "only in the log"),
        }  # type: ignore[dict-item]
    return expected


def _state(db: vectordb.Database) -> dict[str, dict[str, tuple[bytes, object]]]:
    state = {}
    for info in db.list_collections():
        collection = db.get_collection(info.name)
        ids = collection.ids()
        assert len(ids) == len(collection)
        include = ("vector", "metadata", "document")
        records = collection.get_many(ids, include=include) if ids else []
        state[info.name] = {}
        for record in records:
            assert record is not None
            value = (record.vector.tobytes(), record.metadata)
            if record.document is not None:
                value += (record.document,)  # type: ignore[assignment]
            state[info.name][record.id] = value
    return state


def _version(path: Path) -> int:
    return int(HEADER.unpack_from((path / "vectordb.meta").read_bytes())[1])


@pytest.fixture(params=[1, 2, 3])
def old_format(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, int]:
    """A copy of ``tests/data/format-<n>/`` and ``n``."""
    version = int(request.param)
    target = tmp_path / f"format-{version}"
    shutil.copytree(DATA / f"format-{version}", target)
    assert _version(target) == version
    return target, version


def test_a_format_1_database_opens_read_only_as_it_is(old_format: tuple[Path, int]) -> None:
    format_1, version = old_format
    before = {p: p.read_bytes() for p in format_1.rglob("*") if p.is_file()}
    with vectordb.open(format_1, read_only=True) as db:
        assert _state(db) == _expected(version)
        german = [i for i, (_, m) in _expected()["flat"].items() if m and m.get("lang") == "de"]
        assert db.get_collection("flat").count(where={"lang": "de"}) == len(german) > 0
    after = {p: p.read_bytes() for p in format_1.rglob("*") if p.is_file()}
    assert after == before  # nothing migrated, nothing written
    assert _version(format_1) == version


def test_a_format_1_database_is_migrated_by_a_read_write_open(
    old_format: tuple[Path, int],
) -> None:
    format_1, version = old_format
    assert FORMAT_VERSION == 4
    expected = _expected(version)
    with vectordb.open(format_1) as db:
        assert _version(format_1) == FORMAT_VERSION
        assert _state(db) == expected
        assert db.check() == []
        flat = db.get_collection("flat")
        assert flat.indexed_fields() == {"lang": True}  # declared in format 1's columns.bin
        # an idempotency key remembered by format 1 still makes a retry a no-op
        vectors, ids, metadata = _maker().records(0, 24, 8)
        assert flat.add(vectors, ids=ids, metadata=metadata, idempotency_key="load-0") == ids
        assert len(flat) == len(expected["flat"])
        graph = db.get_collection("graph")
        query = np.frombuffer(expected["graph"]["s1-7"][0], np.float32)
        assert graph.search(query, k=1)[0].id == "s1-7"
        quantized = db.get_collection("quantized")
        query = np.frombuffer(expected["quantized"]["s2-5"][0], np.float32)
        assert quantized.search(query, k=1, exact=True)[0].id == "s2-5"
        assert graph.search(query, k=1)[0].document is None
        graph.add([[1.0] * 8], ids=["after"], documents=["written in format 3"])
        db.create_collection("later", dim=2).add([[1, 2]], ids=["l"])
        # an old record takes a document, keeping its vector and metadata
        flat.update(["s0-3"], documents=["a document for an old record"])
        expected["flat"]["s0-3"] += ("a document for an old record",)  # type: ignore[assignment]
        expected["graph"]["after"] = (np.ones(8, np.float32).tobytes(), None,
                                      "written in format 3")  # type: ignore[assignment]  # fmt: skip
        expected["later"] = {"l": (np.float32([1, 2]).tobytes(), None)}
        assert _state(db) == expected
    with vectordb.open(format_1, read_only=True) as db:
        assert _state(db) == expected
        assert db.check() == []
        if version >= 3:  # format 3's documents are searchable by keyword, read-only too
            texts = db.get_collection("texts")
            assert [hit.id for hit in texts.search("ext4")] == ["t1", "t0"] or [
                hit.id for hit in texts.search("ext4")] == ["t0", "t1"]  # fmt: skip
            assert [hit.id for hit in texts.search("log")] == ["t4"]
    with vectordb.open(format_1) as db:  # after a checkpoint: documents in the snapshots
        db.checkpoint()
        assert _state(db) == expected
    with vectordb.open(format_1, read_only=True) as db:
        assert _state(db) == expected
