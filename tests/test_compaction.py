"""Compaction: files shrink, live records survive exactly, indexes rebuild, crashes recover."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vectordb


def _fill(collection: vectordb.Collection, n: int, dim: int, seed: int = 0) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    collection.add(data, ids=[f"r{i}" for i in range(n)], metadata=[{"i": i} for i in range(n)])
    return data


def _vector_file(path: Path, name: str) -> Path:
    return path / "collections" / name / "vectors.bin"


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf"])
def test_compaction_shrinks_files_and_keeps_every_live_record(tmp_path: Path, index: str) -> None:
    path = tmp_path / "db"
    with vectordb.open(path, config={"compact_dead_share": None}) as db:
        settings = {"index": index} if index != "ivf" else {"index": "ivf", "ivf": {"nlist": 8}}
        docs = db.create_collection("docs", dim=32, metric="euclidean", **settings)
        data = _fill(docs, 4000, 32)
        docs.wait_indexed(timeout=120)
        db.checkpoint()  # rows live at a checkpoint are not reused before the next one
        doomed = [f"r{i}" for i in range(0, 4000, 2)]
        docs.delete(doomed)
        docs.upsert(data[1:4:2] + 1, ids=["r1", "r3"])  # replaced: their old rows are dead too
        db.checkpoint()
        stats = docs.stats()
        assert stats.dead_rows == 2002 and stats.dead_bytes == 2002 * 32 * 4
        size_before = _vector_file(path, "docs").stat().st_size
        result = docs.compact()
        assert result["rows_before"] == 4002 and result["rows_after"] == 2000
        assert result["bytes_after"] < result["bytes_before"]
        size_after = _vector_file(path, "docs").stat().st_size
        assert size_after <= 4096 + 2000 * 32 * 4 < size_before
        assert docs.stats().dead_rows == 0 and len(docs) == 2000
        assert db.check() == []

        def verify(collection: vectordb.Collection) -> None:
            ids = set(collection.ids()) - {"fresh"}
            assert ids == {f"r{i}" for i in range(1, 4000, 2)}
            for i in (1, 3, 5, 1999, 3999):
                record = collection.get(f"r{i}")
                replaced = i in (1, 3)  # upsert replaced the whole record, metadata too
                assert record is not None
                assert record.metadata == (None if replaced else {"i": i})
                expected = data[i] + 1 if replaced else data[i]
                np.testing.assert_array_equal(record.vector, expected)
            assert collection.get("r0") is None
            assert collection.search(data[2001], k=1)[0].id == "r2001"
            assert collection.search(data[2000], k=5)[0].id != "r2000"

        verify(docs)
        docs.add(data[:1], ids=["fresh"])  # writes go on after a compaction
        assert docs.search(data[0], k=1)[0].id == "fresh"
        assert docs.wait_indexed(timeout=120)
        verify(docs)
    with vectordb.open(path) as db:
        verify(db.get_collection("docs"))
        assert db.check() == []


def test_automatic_compaction_at_checkpoint(tmp_path: Path) -> None:
    config = {"compact_dead_share": 0.4, "compact_min_dead_bytes": 1000}
    with vectordb.open(tmp_path / "db", config=config) as db:
        docs = db.create_collection("docs", dim=8)
        _fill(docs, 1000, 8)
        db.checkpoint()
        docs.delete([f"r{i}" for i in range(300)])
        db.checkpoint()
        assert docs.stats().dead_rows == 300  # 30 %: under the share
        docs.delete([f"r{i}" for i in range(300, 500)])
        db.checkpoint()
        assert docs.stats().dead_rows == 0 and len(docs) == 500
        assert docs.get("r700") is not None


def test_compaction_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(vectordb.ConfigError, match="compact_dead_share must be from 0 to 1"):
        vectordb.open(tmp_path / "db", config={"compact_dead_share": 1.5})


def test_interrupted_compaction_is_finished_or_undone_at_open(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4)
        _fill(docs, 100, 4)
        docs.delete([f"r{i}" for i in range(50)])
    collections = path / "collections"
    # 1. a crash while writing the compacted copy: the copy is discarded
    shutil.copytree(collections / "docs", collections / ".compact-docs")
    (collections / ".compact-docs" / "MANIFEST").unlink()
    with vectordb.open(path) as db:
        assert len(db.get_collection("docs")) == 50
    assert not (collections / ".compact-docs").exists()
    # 2. a crash between the two renames: the complete copy becomes the collection
    with vectordb.open(path) as db:
        db.get_collection("docs").compact()
    shutil.copytree(collections / "docs", collections / ".compact-docs")
    os.rename(collections / "docs", collections / ".old-docs")
    with vectordb.open(path, read_only=True) as db:  # a reader may not rename: it reads the copy
        assert len(db.get_collection("docs")) == 50
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        assert len(docs) == 50 and docs.get("r77").metadata == {"i": 77}  # type: ignore[union-attr]
        assert db.check() == []
    assert sorted(p.name for p in collections.iterdir()) == ["docs"]
    # 3. a crash after the swap, before the old copy was deleted
    shutil.copytree(collections / "docs", collections / ".old-docs")
    with vectordb.open(path) as db:
        assert len(db.get_collection("docs")) == 50
    assert sorted(p.name for p in collections.iterdir()) == ["docs"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows")
def test_sigkill_during_compaction_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=64)
        _fill(docs, 20_000, 64)
        docs.delete([f"r{i}" for i in range(0, 20_000, 2)])
    script = textwrap.dedent(
        f"""
        import os, signal, threading, vectordb
        db = vectordb.open({str(path)!r})
        threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
        while True:
            db.get_collection("docs").compact()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=120, check=False)
    assert done.returncode == -9
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        assert len(docs) == 10_000 and db.check() == []
        assert docs.get("r1") is not None and docs.get("r0") is None
        assert docs.get("r19999").metadata == {"i": 19999}  # type: ignore[union-attr]


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_searches_and_reads_during_compaction_stay_correct(tmp_path: Path, index: str) -> None:
    import threading

    with vectordb.open(tmp_path / "db", config={"compact_dead_share": None}) as db:
        docs = db.create_collection("docs", dim=16, metric="euclidean", index=index)
        data = _fill(docs, 3000, 16)
        docs.wait_indexed(timeout=60)
        docs.delete([f"r{i}" for i in range(0, 3000, 3)])
        failures: list[str] = []
        stop = threading.Event()

        def search() -> None:
            probe = 0
            while not stop.is_set():
                i = 1 + 3 * (probe % 900)
                probe += 1
                try:
                    hits = docs.search(data[i], k=3)
                    if hits[0].id != f"r{i}":
                        failures.append(f"search for r{i} gave {hits[0].id}")
                    record = docs.get(f"r{i}")
                    if record is None or record.metadata != {"i": i}:
                        failures.append(f"get r{i} gave {record}")
                except Exception as error:
                    failures.append(repr(error))

        threads = [threading.Thread(target=search) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(3):
                docs.compact()
                docs.add(data[:1], ids=[f"x{_}"])
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert not failures, failures[:5]
        assert len(docs) == 2003


def test_declared_fields_survive_compaction_and_a_crash_after_it(tmp_path: Path) -> None:
    """create_index() declarations were lost by compact() (and so by the automatic one)."""
    script = textwrap.dedent(f"""
        import os
        import vectordb
        db = vectordb.open({str(tmp_path / "db")!r})
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2], [2, 3], [3, 4]], ids=["a", "b", "c"],
                 metadata=[{{"k": 1}}, {{"k": 2}}, {{"k": 3}}])
        docs.create_index("k")
        docs.delete(["c"])
        docs.compact()
        assert docs.indexed_fields() == {{"k": True}}, docs.indexed_fields()
        os._exit(0)  # a crash right after the compaction: no checkpoint since
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with vectordb.open(tmp_path / "db") as db:
        docs = db.get_collection("docs")
        assert docs.indexed_fields() == {"k": True}
        assert docs.count(where={"k": 2}) == 1
        docs.compact()
        assert docs.indexed_fields() == {"k": True}
    with vectordb.open(tmp_path / "db") as db:
        assert db.get_collection("docs").indexed_fields() == {"k": True}
