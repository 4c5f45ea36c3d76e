"""Database.check(): a flipped bit in every kind of file is found; repair rebuilds what is
derived; stray files; check at open."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import vectordb


def _make(path: Path) -> None:
    rng = np.random.default_rng(0)
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=8, index="hnsw")
        docs.add(rng.standard_normal((300, 8)), ids=[str(i) for i in range(300)],
                 metadata=[{"i": i} for i in range(300)])  # fmt: skip
        docs.wait_indexed(timeout=60)
        db.checkpoint()
        # records after the checkpoint stay in the log (close checkpoints again, so write
        # them with a crash-like exit: copy the files while the writer is still open)
        docs.add(rng.standard_normal((5, 8)), ids=[f"tail{i}" for i in range(5)])
        docs.add(rng.standard_normal((5, 8)), ids=[f"more{i}" for i in range(5)])
        import shutil

        shutil.copytree(path, path.with_name("frozen"))
    shutil.rmtree(path)
    path.with_name("frozen").rename(path)


def _flip(path: Path, at: Callable[[int], int]) -> None:
    raw = bytearray(path.read_bytes())
    raw[at(len(raw))] ^= 0x08
    path.write_bytes(bytes(raw))


def _collection(path: Path) -> Path:
    return path / "collections" / "docs"


KINDS: dict[str, tuple[Callable[[Path], Path], Callable[[int], int]]] = {
    "vectors.bin": (lambda p: _collection(p) / "vectors.bin", lambda n: 4096 + 8 * 4 * 10 + 1),
    "snapshot": (lambda p: next(_collection(p).glob("snapshot-*.bin")), lambda n: n // 2),
    "MANIFEST": (lambda p: _collection(p) / "MANIFEST", lambda n: n - 3),
    "log segment": (lambda p: next((p / "wal").glob("*.log")), lambda n: 16 + 20),
    "INDEX": (lambda p: _collection(p) / "index" / "INDEX", lambda n: n - 5),
    "graph file": (lambda p: next((_collection(p) / "index").glob("hnsw-*.bin")), lambda n: n // 2),
}


#: kinds whose damage a (read-only) open already refuses; the others open and check() reports
OPEN_REFUSES = {"snapshot", "MANIFEST", "log segment"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_flipped_bit_in_each_kind_of_file_is_found(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "db"
    _make(path)
    locate, where = KINDS[kind]
    target = locate(path)
    _flip(target, where)
    if kind in OPEN_REFUSES:
        # damage to what the records are read from is refused at open, naming the file
        with pytest.raises(vectordb.CorruptionError, match=target.name):
            vectordb.open(path, read_only=True)
        return
    with vectordb.open(path, read_only=True) as db:
        problems = db.check()
    assert problems, f"a flipped bit in the {kind} went unnoticed"
    assert any(target.name in p.path for p in problems), problems


def test_repair_rebuilds_a_damaged_index_and_deletes_stray_files(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _make(path)
    with vectordb.open(path) as db:
        db.checkpoint()
    graph = next((_collection(path) / "index").glob("hnsw-*.bin"))
    with vectordb.open(path) as db:
        _flip(graph, lambda n: n // 3)  # damaged while open: only check() can notice
        (_collection(path) / "snapshot-000000000000.bin").write_bytes(b"left by a crash")
        (_collection(path) / "index" / "hnsw-000000000002.bin").write_bytes(b"old graph")
        assert db.check() != [] and all("stray" not in p.message for p in db.check())
        problems = db.check(repair=True)
        messages = [p.message for p in problems]
        assert any("index file fails its checksum; repaired" in m for m in messages)
        assert sum("stray file" in m and "deleted" in m for m in messages) == 2
        docs = db.get_collection("docs")
        assert docs.wait_indexed(timeout=60)
        assert docs.search(docs.get("7").vector, k=1)[0].id == "7"  # type: ignore[union-attr]
        db.checkpoint()
        assert db.check() == []


def test_check_on_open_logs_and_repairs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "db"
    _make(path)
    with vectordb.open(path) as db:
        db.checkpoint()
    graph = next((_collection(path) / "index").glob("hnsw-*.bin"))
    _flip(graph, lambda n: n // 2)
    with (
        caplog.at_level(logging.ERROR, logger="vectordb"),
        vectordb.open(path, config={"check_on_open": True}) as db,
    ):
        assert [p.message for p in db.open_problems] == [
            "index file fails its checksum; repaired: index rebuilt from the records"
        ]
        assert any("check at open" in r.getMessage() for r in caplog.records)


def test_a_read_write_open_deletes_a_crash_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _make(path)
    leftovers = [
        _collection(path) / ".MANIFEST.tmp-999",
        _collection(path) / "snapshot-000000000000.bin",
        _collection(path) / "index" / "hnsw-000000000000.bin",
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"half written")
    with vectordb.open(path, read_only=True) as db:  # a reader leaves them, and is not bothered
        assert db.check() == []
    assert all(p.exists() for p in leftovers)
    with vectordb.open(path) as db:
        assert db.check() == []
    assert not any(p.exists() for p in leftovers)
