"""A process sees what other processes commit: writes, new and dropped collections,
compactions, checkpoints (replayed from the kept segment, or reloaded when it fell further
behind), and durability "off" bulk loads, which hold the writer lock until their checkpoint.

The other process is a real subprocess running a short script on the same directory.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from internals import engine_of, simulate_crash

import vectordb
from vectordb.storage.manifest import Manifest
from vectordb.storage.wal import WalScan


def _other(path: Path, body: str, lock_timeout: float = 10) -> str:
    """Run ``body`` in another process with ``db`` open on ``path``; returns its stdout."""
    script = "import numpy as np\nimport vectordb\n" + (
        f"with vectordb.open({str(path)!r}, config={{'lock_timeout': {lock_timeout}}}) as db:\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def test_writes_collections_and_compactions_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4, metric="euclidean", index="hnsw")
        doomed = db.create_collection("doomed", dim=4)
        docs.add(_vectors(100), ids=[f"d{i}" for i in range(100)])
        _other(
            path,
            """
            docs = db.get_collection("docs")
            docs.delete([f"d{i}" for i in range(0, 100, 2)])
            docs.add(np.ones((1, 4)), ids=["from-other"], metadata={"who": "other"})
            fresh = db.create_collection("fresh", dim=4)
            fresh.add(np.ones((2, 4)), ids=["f0", "f1"])
            db.drop_collection("doomed")
            docs.compact()                     # rows renumbered on disk
            docs.upsert(np.full((1, 4), 2.0), ids=["d1"])
        """,
        )
        assert sorted(info.name for info in db.list_collections()) == ["docs", "fresh"]
        assert "doomed" not in db
        with pytest.raises(vectordb.DatabaseClosedError, match="dropped"):
            doomed.add(_vectors(1), ids=["x"])
        assert len(docs) == 51 and docs.get("d0") is None
        assert docs.get("from-other").metadata == {"who": "other"}
        np.testing.assert_array_equal(docs.get("d1").vector, np.full(4, 2.0, np.float32))
        data = _vectors(100)
        for i in (3, 55, 99):  # after the compaction, from the compacted files
            assert docs.search(data[i], k=1)[0].id == f"d{i}"
        assert db.get_collection("fresh").ids() == ["f0", "f1"]
        docs.add(_vectors(1, 5), ids=["mine"])  # this process writes after all that
    with vectordb.open(path) as db:
        assert len(db.get_collection("docs")) == 52 and db.check() == []


def test_catch_up_across_one_checkpoint_replays_and_across_two_reloads(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4, metric="euclidean")
        docs.add(_vectors(10), ids=[f"a{i}" for i in range(10)])
        engine = engine_of(db)
        _other(
            path,
            """
            import os
            docs = db.get_collection("docs")
            docs.add(np.ones((1, 4)), ids=["one"])
            db.checkpoint()
            docs.delete(["a0"])
            os._exit(0)  # no close, so no second checkpoint
        """,
        )
        assert sorted(docs.ids())[:2] == ["a1", "a2"] and docs.get("one") is not None
        assert engine.follower.reloads == 0  # the sealed segment was still there: replayed
        _other(
            path,
            """
            docs = db.get_collection("docs")
            for i in range(3):
                docs.add(np.full((1, 4), i), ids=[f"two{i}"])
                db.checkpoint()
            docs.delete(["a1"])
        """,
        )
        assert docs.get("two2") is not None and docs.get("a1") is None
        assert engine.follower.reloads == 1  # the segments it needed were gone: reloaded
        health = db.health()
        assert health["reloads"] == 1 and health["replayed_records"] > 0
        assert len(docs) == 12
        assert docs.search(np.full(4, 1.0, np.float32), k=1)[0].id == "two1"


def test_durability_off_keeps_the_writer_lock_until_its_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path, config={"lock_timeout": 0.3}) as db:
        bulk = db.create_collection("bulk", dim=4, durability="off")
        bulk.add(_vectors(50), ids=[f"b{i}" for i in range(50)])  # not logged: lock kept
        out = _other(
            path,
            """
            try:
                db.get_collection("bulk").add(np.ones((1, 4)), ids=["x"])
            except vectordb.LockTimeoutError:
                print("waited")
            print(len(db.get_collection("bulk")))
        """,
            lock_timeout=0.3,
        )
        assert out.split() == ["waited", "0"]  # nothing visible before the checkpoint
        db.checkpoint()  # the bulk load is durable now, and the lock free
        out = _other(
            path,
            """
            bulk = db.get_collection("bulk")
            bulk.add(np.ones((1, 4)), ids=["x"])
            print(len(bulk))
        """,
        )
        assert out.split() == ["51"]
        assert len(bulk) == 51  # and this process sees the other's write


def test_read_only_handle_follows_a_writing_process(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        db.create_collection("docs", dim=4).add(_vectors(3), ids=["a", "b", "c"])
    with vectordb.open(path, read_only=True) as reader:
        docs = reader.get_collection("docs")
        assert len(docs) == 3
        _other(
            path,
            """
            db.get_collection("docs").delete(["a"])
            db.create_collection("later", dim=4).add(np.ones((1, 4)), ids=["l"])
        """,
        )
        assert sorted(docs.ids()) == ["b", "c"]
        assert reader.get_collection("later").ids() == ["l"]
        with pytest.raises(vectordb.ReadOnlyError):
            docs.add(_vectors(1), ids=["z"])


def test_check_repair_never_deletes_another_process_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4)
        docs.add(_vectors(2), ids=["a", "b"])
        db.checkpoint()
        _other(
            path,
            """
            db.get_collection("docs").add(np.ones((1, 4)), ids=["c"])
            db.checkpoint()  # a newer snapshot than the one this process wrote
            import os
            os._exit(0)
        """,
        )
        problems = db.check(repair=True)
        assert problems == [], problems
        directory = path / "collections" / "docs"
        named = Manifest.load(directory / "MANIFEST").snapshot
        assert (directory / named).exists()
        simulate_crash(db, "simulated crash: nothing more written")
    with vectordb.open(path) as db:
        assert sorted(db.get_collection("docs").ids()) == ["a", "b", "c"]


def test_a_compaction_whose_record_was_lost_is_noticed_by_the_next_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    with vectordb.open(path, config={"compact_dead_share": None}) as db:
        docs = db.create_collection("docs", dim=4, metric="euclidean")
        data = _vectors(50, 3)
        docs.add(data, ids=[f"d{i}" for i in range(50)])
        docs.delete([f"d{i}" for i in range(0, 50, 2)])
        _other(
            path,
            """
            import os
            from vectordb.engine.log import EngineLog
            original = EngineLog.append_event
            def crash_before_compacted(self, event):
                if event.kind == "compacted":
                    os._exit(0)  # killed after the swap, before the record
                original(self, event)
            EngineLog.append_event = crash_before_compacted
            db.get_collection("docs").compact()
        """,
        )
        docs.add(_vectors(1, 9), ids=["new"])  # sees the new vector file, reopens first
        assert len(docs) == 26
        for i in (1, 25, 49):
            np.testing.assert_array_equal(docs.get(f"d{i}").vector, data[i])
            assert docs.search(data[i], k=1)[0].id == f"d{i}"
    with vectordb.open(path) as db:
        assert len(db.get_collection("docs")) == 26 and db.check() == []


def test_a_read_that_ran_across_a_checkpoint_runs_again(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=4, metric="euclidean")
        docs.add(_vectors(5), ids=list("abcde"))
        engine = engine_of(db)
        calls = []
        original = engine.stale

        def stale_once(seen: int) -> bool:
            calls.append(seen)
            return len(calls) == 1 or original(seen)  # as if a checkpoint happened during it

        engine.stale = stale_once  # type: ignore[method-assign]
        assert docs.search(_vectors(5)[2], k=1)[0].id == "c"
        assert len(calls) == 2  # ran twice
        calls.clear()
        assert [r.id for r in docs.get_many(["a", "e"])] == ["a", "e"]
        assert len(calls) == 2
        calls.clear()
        assert len(docs.search_batch(_vectors(5)[:2], k=1)) == 2
        assert len(calls) == 2


def test_read_only_open_takes_no_lock_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        db.create_collection("docs", dim=4).add(_vectors(3), ids=["a", "b", "c"])
    (path / "LOCK").unlink()  # as on read-only media, where no LOCK file can be created
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in path.rglob("*")}
    with vectordb.open(path, read_only=True) as reader:
        assert sorted(reader.get_collection("docs").ids()) == ["a", "b", "c"]
        assert reader.get_collection("docs").search(_vectors(3)[1], k=1)[0].id == "b"
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in path.rglob("*")}
    assert after == before  # no file created, changed or removed


def test_a_reader_that_fell_behind_never_waits_for_a_writer(tmp_path: Path) -> None:
    """Readers never wait for writers (SQLite's WAL-mode promise): a process idle while
    another checkpointed three times (so the segments it needs are gone) reloads from the
    published checkpoint files, without the writer lock the other process holds."""
    path = tmp_path / "db"
    with vectordb.open(path, config={"lock_timeout": 1}) as db:
        docs = db.create_collection("docs", dim=4, metric="euclidean")
        docs.add(_vectors(3), ids=["a", "b", "c"])
        engine = engine_of(db)
        script = textwrap.dedent(f"""
            import time
            import numpy as np
            import vectordb
            db = vectordb.open({str(path)!r})
            docs = db.get_collection("docs")
            for i in range(3):
                docs.add(np.full((1, 4), float(i)), ids=[f"two{{i}}"])
                db.checkpoint()
            docs.delete(["a"])
            with db.transaction():
                docs.add(np.full((1, 4), 9.0), ids=["held"])
                print("holding", flush=True)
                time.sleep(60)
        """)
        holder = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "holding"
            hits = docs.search(np.full(4, 1.0, np.float32), k=1)  # no LockTimeoutError
            assert hits[0].id == "two1"
            assert engine.follower.reloads == 1
            assert sorted(docs.ids()) == ["b", "c", "two0", "two1", "two2"]
            assert docs.get("held") is None  # not committed
            with pytest.raises(vectordb.LockTimeoutError):
                docs.add(_vectors(1), ids=["mine"])  # writers do wait (for lock_timeout)
        finally:
            holder.kill()
            holder.communicate()
        docs.add(_vectors(1), ids=["mine"])  # the killed holder's lock is free again
    with vectordb.open(path) as db:
        assert sorted(db.get_collection("docs").ids()) == ["b", "c", "mine", "two0", "two1", "two2"]


def test_check_during_another_process_checkpoint_looks_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check() lists the log segments, then reads them; a checkpoint in another process in
    between deletes segments it listed. It used to raise StorageError; it looks again."""
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4)
        docs.add(_vectors(3), ids=["a", "b", "c"])
        db.checkpoint()
        docs.add(_vectors(1, 1), ids=["d"])
    original = WalScan.__init__
    interleaved: list[int] = []

    def listed_then_checkpointed(scan: object, files: object) -> None:
        original(scan, files)  # type: ignore[arg-type]
        if not interleaved:  # the first listing: another process checkpoints twice now
            interleaved.append(1)
            _other(path, """
                docs = db.get_collection("docs")
                for i in range(2):
                    docs.add(np.ones((1, 4)) * (i + 1), ids=[f"x{i}"])
                    db.checkpoint()
            """)  # fmt: skip

    with vectordb.open(path, read_only=True) as db:  # no writer lock: the race is possible
        monkeypatch.setattr(WalScan, "__init__", listed_then_checkpointed)
        assert db.check() == []
        assert interleaved == [1]
        monkeypatch.undo()
        assert sorted(db.get_collection("docs").ids()) == ["a", "b", "c", "d", "x0", "x1"]
