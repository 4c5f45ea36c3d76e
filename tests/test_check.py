"""Database.check(): a flipped bit in every kind of file is found; repair rebuilds what is
derived; stray files; check at open."""

from __future__ import annotations

import logging
import subprocess
import sys
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
OPEN_REFUSES = {"log segment"}
#: kinds whose damage leaves the collection unavailable (refused on use) and the rest open
UNAVAILABLE = {"snapshot", "MANIFEST"}


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
        if kind in UNAVAILABLE:
            with pytest.raises(vectordb.CorruptionError, match=target.name):
                db.get_collection("docs")
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


def _flip_byte(path: Path, at: int = -3) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_one_damaged_collection_leaves_the_rest_open_and_repair_quarantines_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        db.create_collection("good", dim=2).add([[1, 2]], ids=["g"])
        db.create_collection("bad", dim=2).add([[3, 4]], ids=["b"])
    _flip_byte(path / "collections" / "bad" / "MANIFEST")
    for read_only in (True, False):
        with vectordb.open(path, read_only=read_only) as db:
            infos = {info.name: info for info in db.list_collections()}
            assert infos["good"].available and infos["good"].count == 1
            assert not infos["bad"].available and "checksum" in (infos["bad"].problem or "")
            assert "bad" in db and db.get_collection("good").ids() == ["g"]
            with pytest.raises(vectordb.CorruptionError, match="'bad' is unavailable"):
                db.get_collection("bad")
            assert db.health()["status"] == "degraded"
            problems = db.check()
            assert [p for p in problems if "'bad' is unavailable" in p.message]
    with vectordb.open(path) as db:
        with pytest.raises(vectordb.CollectionExistsError):
            db.create_collection("bad", dim=2)
        db.get_collection("good").add([[5, 6]], ids=["g2"])  # writes go on meanwhile
        problems = db.check(repair=True)
        assert any("repaired: moved to" in p.message for p in problems)
        assert [info.name for info in db.list_collections()] == ["good"]
        assert db.check() == []
        db.create_collection("bad", dim=3)  # the name is free again
    quarantined = list((path / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].name.startswith("bad-")
    assert (quarantined[0] / "vectors.bin").exists()  # nothing deleted
    with vectordb.open(path) as db:
        assert sorted(db.get_collection("good").ids()) == ["g", "g2"]


def test_a_damaged_idempotency_file_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2]], ids=["a"], idempotency_key="first")
    _flip_byte(path / "IDEMPOTENCY")
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        assert docs.ids() == ["a"]
        assert any("idempotency" in problem for problem in db.health()["problems"])
        assert [p for p in db.check() if p.path.endswith("IDEMPOTENCY")]
        repaired = db.check(repair=True)
        assert any("repaired" in p.message for p in repaired if p.path.endswith("IDEMPOTENCY"))
        assert db.check() == []
        docs.add([[3, 4]], ids=["b"], idempotency_key="second")
        assert docs.add([[3, 4]], ids=["b"], idempotency_key="second") == ["b"]  # still a no-op


def test_cli_check_repair_reports_every_problem_after_one_damaged_collection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        db.create_collection("good", dim=2).add([[1, 2]], ids=["g"])
        db.create_collection("bad", dim=2).add([[3, 4]], ids=["b"])
    _flip_byte(path / "collections" / "bad" / "MANIFEST")
    result = subprocess.run(
        [sys.executable, "-m", "vectordb.cli", "check", "--repair", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "moved to" in result.stdout, result.stdout + result.stderr
    again = subprocess.run(
        [sys.executable, "-m", "vectordb.cli", "check", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
