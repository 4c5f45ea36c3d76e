"""Databases written by earlier on-disk formats open, read and write with today's code.

``tests/data/format-<n>/`` holds a database written by the last commit before format n + 1
(tests/data/README.md); each test copies it to a temporary directory first.
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


def _expected() -> dict[str, dict[str, tuple[bytes, object]]]:
    """What make_format_1.py wrote, collection by collection: id -> (vector, metadata)."""
    records = _maker().records

    def as_state(seed: int, n: int) -> dict[str, tuple[bytes, object]]:
        vectors, ids, metadata = records(seed, n, 8)
        return {i: (v.tobytes(), m) for i, v, m in zip(ids, vectors, metadata)}

    flat = as_state(0, 24)
    for gone in ("s0-1", "s0-2", "s0-5"):
        del flat[gone]
    flat.update(as_state(10, 6))
    flat["s0-0"] = (flat["s0-0"][0], {"i": 0, "lang": "xx"})
    graph = as_state(1, 24)
    graph["s1-3"] = (graph["s1-3"][0], {"note": "updated"})
    upserted = records(11, 2, 8)[0]
    graph["s1-0"] = (upserted[0].tobytes(), None)
    graph["new-1"] = (upserted[1].tobytes(), None)
    quantized = as_state(2, 24)
    del quantized["s2-0"]
    return {"flat": flat, "graph": graph, "quantized": quantized, "empty": {}}


def _state(db: vectordb.Database) -> dict[str, dict[str, tuple[bytes, object]]]:
    state = {}
    for info in db.list_collections():
        collection = db.get_collection(info.name)
        ids = collection.ids()
        assert len(ids) == len(collection)
        records = collection.get_many(ids) if ids else []
        state[info.name] = {r.id: (r.vector.tobytes(), r.metadata) for r in records if r}
    return state


def _version(path: Path) -> int:
    return int(HEADER.unpack_from((path / "vectordb.meta").read_bytes())[1])


@pytest.fixture
def format_1(tmp_path: Path) -> Path:
    target = tmp_path / "format-1"
    shutil.copytree(DATA / "format-1", target)
    return target


def test_a_format_1_database_opens_read_only_as_it_is(format_1: Path) -> None:
    before = {p: p.read_bytes() for p in format_1.rglob("*") if p.is_file()}
    with vectordb.open(format_1, read_only=True) as db:
        assert _state(db) == _expected()
        german = [i for i, (_, m) in _expected()["flat"].items() if m and m.get("lang") == "de"]
        assert db.get_collection("flat").count(where={"lang": "de"}) == len(german) > 0
    after = {p: p.read_bytes() for p in format_1.rglob("*") if p.is_file()}
    assert after == before  # nothing migrated, nothing written
    assert _version(format_1) == 1


def test_a_format_1_database_is_migrated_by_a_read_write_open(format_1: Path) -> None:
    assert FORMAT_VERSION == 2
    expected = _expected()
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
        graph.add([[1.0] * 8], ids=["after"])
        db.create_collection("later", dim=2).add([[1, 2]], ids=["l"])
        expected["graph"]["after"] = (np.ones(8, np.float32).tobytes(), None)
        expected["later"] = {"l": (np.float32([1, 2]).tobytes(), None)}
    with vectordb.open(format_1, read_only=True) as db:
        assert _state(db) == expected
        assert db.check() == []
