"""Online backup and restore."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from internals import engine_of

import vectordb
from vectordb.lifecycle.backup import verify_backup

BATCH = 200


def _batch(i: int) -> tuple[np.ndarray, list[str], list[dict[str, int]]]:
    rng = np.random.default_rng(i)
    vectors = rng.standard_normal((BATCH, 16)).astype(np.float32)
    return (
        vectors,
        [f"b{i}-{j}" for j in range(BATCH)],
        [{"batch": i, "j": j} for j in range(BATCH)],
    )


def test_backup_taken_while_a_thread_writes_is_consistent(tmp_path: Path) -> None:
    source = tmp_path / "db"
    with vectordb.open(source, config={"durability": "normal", "checkpoint_records": 7}) as db:
        flat = db.create_collection("flat", dim=16)
        graph = db.create_collection("graph", dim=16, index="hnsw")
        for i in range(10):
            vectors, ids, metadata = _batch(i)
            flat.add(vectors, ids=ids, metadata=metadata)
            graph.add(vectors, ids=ids)
        flat.delete([f"b0-{j}" for j in range(50)])
        stop = threading.Event()
        written: list[int] = []

        def write() -> None:
            i = 10
            while not stop.is_set():
                vectors, ids, metadata = _batch(i)
                flat.add(vectors, ids=ids, metadata=metadata)
                graph.upsert(vectors, ids=ids)
                flat.delete([f"b{i - 9}-{j}" for j in range(10)])
                written.append(i)
                i += 1

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while len(written) < 3:
                threading.Event().wait(0.01)
            manifest = db.backup(tmp_path / "backup")
        finally:
            stop.set()
            writer.join()
        assert len(written) > 3  # writers went on while the copy ran
        assert engine_of(db).checkpoints.paused == 0
        final_count = len(flat)
    assert manifest["collections"] == ["flat", "graph"] and manifest["lsn"] > 0

    assert verify_backup(tmp_path / "backup") == []
    with vectordb.open(tmp_path / "backup") as copy:
        assert copy.check() == []
        flat_copy, graph_copy = copy.get_collection("flat"), copy.get_collection("graph")
        ids = set(flat_copy.ids())
        # whole batches only: the copy is the state at one LSN
        batches = sorted({int(i.split("-")[0][1:]) for i in ids})
        assert batches == list(range(batches[-1] + 1))
        last = batches[-1]
        assert last >= 9 and len(flat_copy) < final_count + 1
        for i in batches:
            vectors, batch_ids, metadata = _batch(i)
            present = [x for x in batch_ids if x in ids]
            records = flat_copy.get_many(present)
            for record in records:
                assert record is not None
                j = int(record.id.split("-")[1])
                np.testing.assert_array_equal(record.vector, vectors[j])
                assert record.metadata == {"batch": i, "j": j}
        # the copy's LSN may fall between flat.add(batch last) and graph.upsert(batch last)
        graph_batches = sorted({int(i.split("-")[0][1:]) for i in graph_copy.ids()})
        assert graph_batches in (list(range(last + 1)), list(range(last)))
        assert len(graph_copy) == len(graph_batches) * BATCH
        info = graph_copy.stats().index_info
        assert info is not None and info["fallback"] is None  # the saved graph came along
        probe, probe_ids, _ = _batch(graph_batches[-1])
        assert graph_copy.search(probe[5], k=1)[0].id == probe_ids[5]


def test_restore_verifies_the_backup_and_reproduces_it(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.standard_normal((300, 8)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=8, index="ivf", ivf={"train_after": 100})
        docs.add(data, ids=[str(i) for i in range(300)], metadata=[{"i": i} for i in range(300)])
        docs.wait_indexed(timeout=60)
        db.backup(tmp_path / "backup")
        with pytest.raises(vectordb.InvalidArgumentError, match="not an empty directory"):
            db.backup(tmp_path / "backup")
        with pytest.raises(vectordb.InvalidArgumentError, match="inside the database"):
            db.backup(tmp_path / "db" / "inner")
        expected = docs.search_batch(data[:5], k=3)
    manifest = json.loads((tmp_path / "backup" / "backup.json").read_text())
    restored = vectordb.restore(tmp_path / "backup", tmp_path / "restored")
    assert restored["lsn"] == manifest["lsn"]
    with vectordb.open(tmp_path / "restored") as db:
        docs = db.get_collection("docs")
        assert docs.search_batch(data[:5], k=3) == expected
        assert docs.get("7") is not None and docs.get("7").metadata == {"i": 7}  # type: ignore[union-attr]
    # a damaged backup is refused, and nothing is created
    vectors = tmp_path / "backup" / "collections" / "docs" / "vectors.bin"
    raw = bytearray(vectors.read_bytes())
    raw[5000] ^= 0x10
    vectors.write_bytes(bytes(raw))
    with pytest.raises(vectordb.StorageError, match=r"vectors\.bin: size or checksum differs"):
        vectordb.restore(tmp_path / "backup", tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_backup_needs_a_writable_handle_and_defers_checkpoints(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        db.create_collection("docs", dim=2).add([[1, 2]], ids=["a"])
    with (
        vectordb.open(tmp_path / "db", read_only=True) as db,
        pytest.raises(vectordb.ReadOnlyError, match="read-only"),
    ):
        db.backup(tmp_path / "backup")
    with vectordb.open(tmp_path / "db") as db:
        engine = engine_of(db)
        engine.checkpoints.paused += 1  # as during a backup's copy
        docs = db.get_collection("docs")
        docs.add([[3, 4]], ids=["b"])
        db.checkpoint()
        assert engine.checkpoints.deferred and engine.log.records_since_checkpoint == 1
        engine.checkpoints.paused -= 1
        db.checkpoint()
        assert not engine.checkpoints.deferred and engine.log.records_since_checkpoint == 0


def _state(path: Path) -> dict[str, tuple[bytes, object]]:
    with vectordb.open(path, read_only=True) as db:
        docs = db.get_collection("docs")
        ids = docs.ids()
        return {r.id: (r.vector.tobytes(), r.metadata) for r in docs.get_many(ids) if r is not None}


def test_point_in_time_restore_from_the_log_archive(tmp_path: Path) -> None:
    import time

    source = tmp_path / "db"
    config = {"wal_archive": str(tmp_path / "archive"), "checkpoint_records": 5}
    states: list[tuple[int, float, dict[str, tuple[bytes, object]]]] = []
    with vectordb.open(source, config=config) as db:
        docs = db.create_collection("docs", dim=16)
        vectors, ids, metadata = _batch(0)
        docs.add(vectors, ids=ids, metadata=metadata)
        db.backup(tmp_path / "full")
        for i in range(1, 13):  # checkpoints every 5 records move segments to the archive
            vectors, ids, metadata = _batch(i)
            docs.add(vectors[:20], ids=ids[:20], metadata=metadata[:20])
            docs.delete([f"b{i - 1}-{j}" for j in range(3)], missing_ok=True)
            time.sleep(0.002)
            states.append((db.health()["last_lsn"], time.time(), None))  # type: ignore[arg-type]
            time.sleep(0.002)
        db.checkpoint()
        final_lsn = db.health()["last_lsn"]  # the checkpoint's seal record
    archived = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert len(archived) >= 3
    # the state after each step, from a replay of the whole log up to it
    full = tmp_path / "full"
    for step, (lsn, moment, _) in enumerate(states):
        by_lsn = tmp_path / f"lsn{step}"
        result = vectordb.restore(full, by_lsn, until=lsn, wal_archive=tmp_path / "archive")
        assert result["restored_lsn"] == lsn
        by_time = tmp_path / f"time{step}"
        vectordb.restore(full, by_time, until=moment, wal_archive=tmp_path / "archive")
        expected = _state(by_lsn)
        assert _state(by_time) == expected
        present = {k.split("-")[0] for k in expected}
        assert f"b{step + 1}" in present and f"b{step + 2}" not in present
        with vectordb.open(by_lsn) as db:
            assert db.check() == []
    latest = vectordb.restore(full, tmp_path / "latest", wal_archive=tmp_path / "archive")
    assert latest["restored_lsn"] == final_lsn
    assert _state(tmp_path / "latest") == _state(source)
    with pytest.raises(vectordb.InvalidArgumentError, match="until must be"):
        vectordb.restore(full, tmp_path / "bad", until="yesterday")  # type: ignore[arg-type]


def test_incremental_backups_chain_to_the_latest_state(tmp_path: Path) -> None:
    source = tmp_path / "db"
    config = {"wal_archive": "archive", "checkpoint_records": 4}  # relative: inside the db dir
    with vectordb.open(source, config=config) as db:
        docs = db.create_collection("docs", dim=16)
        vectors, ids, metadata = _batch(0)
        docs.add(vectors, ids=ids, metadata=metadata)
        db.backup(tmp_path / "full")
        previous = tmp_path / "full"
        sizes = []
        for step in range(1, 4):
            for i in range(step * 10, step * 10 + 6):
                vectors, ids, metadata = _batch(i)
                docs.add(vectors[:10], ids=ids[:10], metadata=metadata[:10])
            target = tmp_path / f"inc{step}"
            manifest = db.backup(target, incremental_from=previous)
            assert manifest["kind"] == "incremental" and manifest["base"] == str(previous)
            sizes.append(sum(f.stat().st_size for f in target.rglob("*.log")))
            previous = target
        final_count = len(docs)
    assert (source / "archive").is_dir()
    full_size = sum(f.stat().st_size for f in (tmp_path / "full").rglob("*") if f.is_file())
    assert max(sizes) < full_size  # only the log since the previous backup
    restored = vectordb.restore(tmp_path / "inc3", tmp_path / "restored")
    assert restored["kind"] == "incremental"
    assert _state(tmp_path / "restored") == _state(source)
    with vectordb.open(tmp_path / "restored") as db:
        assert len(db.get_collection("docs")) == final_count and db.check() == []
    # without an archive there is nothing to build an incremental backup from
    with vectordb.open(tmp_path / "plain") as db:
        db.create_collection("docs", dim=2).add([[1, 2]])
        db.backup(tmp_path / "plain-full")
        with pytest.raises(vectordb.InvalidArgumentError, match="need the log kept"):
            db.backup(tmp_path / "plain-inc", incremental_from=tmp_path / "plain-full")


def _killed_backup(source: Path, dest: Path) -> None:
    """Run a backup of ``source`` to ``dest`` in another process that is SIGKILLed after
    copying its second file, leaving ``<dest>.partial-<pid>`` behind."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import os, signal
        import vectordb
        import vectordb.lifecycle.backup as backup
        copy, copied = backup._copy, []
        def dying_copy(*args):
            copied.append(copy(*args))
            if len(copied) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return copied[-1]
        backup._copy = dying_copy
        with vectordb.open({str(source)!r}) as db:
            db.backup({str(dest)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert result.returncode == -9


def test_a_killed_backup_is_reported_and_its_leftovers_removed(tmp_path: Path) -> None:
    source = tmp_path / "db"
    with vectordb.open(source) as db:
        vectors, ids, metadata = _batch(0)
        db.create_collection("docs", dim=16).add(vectors, ids=ids, metadata=metadata)
    dest = tmp_path / "nightly"
    _killed_backup(source, dest)
    leftovers = list(tmp_path.glob("nightly.partial-*"))
    assert len(leftovers) == 1 and not dest.exists()
    with vectordb.open(source) as db:
        problems = [p for p in db.check() if "did not finish" in p.message]
        assert len(problems) == 1 and problems[0].path == str(leftovers[0])
        db.backup(dest)  # the next backup to the same destination removes the leftover
        assert not leftovers[0].exists() and verify_backup(dest) == []
        assert db.check() == []  # and its marker
    _killed_backup(source, tmp_path / "other")
    with vectordb.open(source) as db:
        repaired = db.check(repair=True)
        assert any("did not finish" in p.message and "repaired" in p.message for p in repaired)
        assert not list(tmp_path.glob("other.partial-*")) and db.check() == []


def test_a_killed_restore_leaves_nothing_the_next_one_keeps(tmp_path: Path) -> None:
    source = tmp_path / "db"
    with vectordb.open(source) as db:
        db.create_collection("docs", dim=2).add([[1, 2]], ids=["a"])
        db.backup(tmp_path / "full")
    stale = tmp_path / "restored.partial-999999999"  # no such process
    (stale / "collections").mkdir(parents=True)
    vectordb.restore(tmp_path / "full", tmp_path / "restored")
    assert not stale.exists()
    with vectordb.open(tmp_path / "restored", read_only=True) as db:
        assert db.get_collection("docs").ids() == ["a"]
