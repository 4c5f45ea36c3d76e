"""Database lifecycle, collections, configuration, durability details and I/O failures."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb import Database


def test_open_creates_directory_with_header(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db"
    with vectordb.open(path) as db:
        assert db.path == str(path)
    assert (path / "vectordb.meta").read_bytes().startswith(b"VECTORDB")
    assert (path / "LOCK").exists()


def test_open_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(vectordb.UnsupportedFormatError, match="not a vectordb database"):
        vectordb.open(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_open_refuses_newer_format(db_path: Path) -> None:
    vectordb.open(db_path).close()
    meta = db_path / "vectordb.meta"
    data = bytearray(meta.read_bytes())
    data[8:12] = (99).to_bytes(4, "little")
    meta.write_bytes(bytes(data))
    with pytest.raises(vectordb.UnsupportedFormatError, match="newer"):
        vectordb.open(db_path)


def test_open_refuses_foreign_header(db_path: Path) -> None:
    vectordb.open(db_path).close()
    (db_path / "vectordb.meta").write_bytes(b"SQLite format 3\x00" + bytes(16))
    with pytest.raises(vectordb.UnsupportedFormatError, match="magic"):
        vectordb.open(db_path)


def test_open_on_a_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(vectordb.InvalidArgumentError, match="not a directory"):
        vectordb.open(target)


def test_read_only_open_of_missing_database(tmp_path: Path) -> None:
    with pytest.raises(vectordb.InvalidArgumentError, match="no database"):
        vectordb.open(tmp_path / "missing", read_only=True)
    assert not (tmp_path / "missing").exists()


def test_config_mapping_and_object(db_path: Path) -> None:
    with vectordb.open(db_path, config={"durability": "normal", "lock_timeout": 1}) as db:
        assert db.config.durability is vectordb.Durability.NORMAL
    config = vectordb.DatabaseConfig(durability="off")
    with vectordb.open(db_path, config=config) as db:
        assert db.config is config


@pytest.mark.parametrize(
    "config",
    [
        {"durability": "sometimes"},
        {"lock_timeout": -1},
        {"lock_timeout": "5"},
        {"checkpoint_records": 0},
        {"nonsense": 1},
        {"use_mmap": "yes"},
        "durability=full",
    ],
)
def test_bad_config_is_rejected(db_path: Path, config: object) -> None:
    with pytest.raises(vectordb.ConfigError) as raised:
        vectordb.open(db_path, config=config)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)


def test_create_get_list_drop(db: Database) -> None:
    a = db.create_collection("alpha", dim=3, metric="dot")
    db.create_collection("beta", dim=5, metric="euclidean", normalize=False)
    a.add(np.ones((2, 3)), ids=["x", "y"])
    infos = db.list_collections()
    assert [(i.name, i.count, i.dim, i.metric) for i in infos] == [
        ("alpha", 2, 3, "dot"),
        ("beta", 0, 5, "euclidean"),
    ]
    assert infos[0].created_at <= infos[0].updated_at
    assert "alpha" in db
    assert db.get_collection("alpha").dim == 3
    collection_dir = Path(db.path) / "collections" / "alpha"
    assert collection_dir.is_dir()
    db.drop_collection("alpha")
    assert not collection_dir.exists()
    assert "alpha" not in db
    with pytest.raises(vectordb.CollectionNotFoundError):
        db.get_collection("alpha")
    with pytest.raises(vectordb.DatabaseClosedError, match="dropped"):
        a.add(np.ones((1, 3)), ids=["z"])
    db.drop_collection("alpha", missing_ok=True)
    with pytest.raises(vectordb.CollectionNotFoundError):
        db.drop_collection("alpha")


def test_dropped_name_can_be_recreated_without_old_records(db_path: Path) -> None:
    config = {"checkpoint_records": 10_000}
    with vectordb.open(db_path, config=config) as db:
        old = db.create_collection("c", dim=2, metric="dot")
        old.add([[1, 2]], ids=["old"])
        db.drop_collection("c")
        new = db.create_collection("c", dim=2, metric="dot")
        new.add([[3, 4]], ids=["new"])
    with vectordb.open(db_path) as db:
        assert db.get_collection("c").ids() == ["new"]


def test_database_whose_collections_were_all_dropped_reopens(db_path: Path) -> None:
    """After a checkpoint the log starts past LSN 1; with no collection left, nothing is
    missing from it, and the next collection created logs and recovers normally."""
    with vectordb.open(db_path) as db:
        gone = db.create_collection("gone", dim=2, metric="dot")
        gone.add([[1, 2], [3, 4]], ids=["a", "b"])
        db.checkpoint()
        gone.add([[5, 6]], ids=["c"])
        db.drop_collection("gone")
    for _ in range(2):
        with vectordb.open(db_path) as db:
            assert db.list_collections() == []
            assert db.check() == []
    with vectordb.open(db_path, config={"checkpoint_records": 10_000}) as db:
        fresh = db.create_collection("fresh", dim=2, metric="dot")
        fresh.add([[7, 8]], ids=["x"])
    with vectordb.open(db_path, read_only=True) as db:
        assert db.get_collection("fresh").ids() == ["x"]
        assert db.check() == []


def test_create_collection_errors(db: Database) -> None:
    db.create_collection("docs", dim=3)
    with pytest.raises(vectordb.CollectionExistsError):
        db.create_collection("docs", dim=3)
    with pytest.raises(vectordb.CollectionExistsError, match="case"):
        db.create_collection("DOCS", dim=3)
    assert db.create_collection("docs", dim=3, exist_ok=True).name == "docs"
    with pytest.raises(vectordb.ConfigError, match="dim"):
        db.create_collection("docs", dim=4, exist_ok=True)
    for dim in (0, -1, 1.5, True, 70000):
        with pytest.raises(vectordb.ConfigError):
            db.create_collection("x", dim=dim)  # type: ignore[arg-type]
    with pytest.raises(vectordb.ConfigError, match="metric"):
        db.create_collection("x", dim=3, metric="manhattan")
    with pytest.raises(vectordb.ConfigError, match="index must be one of"):
        db.create_collection("x", dim=3, index="annoy")
    with pytest.raises(vectordb.ConfigError, match="quantization must be one of"):
        db.create_collection("x", dim=3, quantization="int2")
    with pytest.raises(vectordb.ConfigError, match="hnswlib keeps full float32"):
        db.create_collection("x", dim=3, index="hnsw", quantization="int8")
    with pytest.raises(vectordb.ConfigError, match="must divide dim"):
        db.create_collection("x", dim=30, quantization={"kind": "pq", "m": 7})
    with pytest.raises(vectordb.ConfigError, match="need index='ivf'"):
        db.create_collection("x", dim=3, ivf={"nlist": 4})
    with pytest.raises(vectordb.ConfigError, match="unknown"):
        db.create_collection("x", dim=3, colour="blue")
    assert [i.name for i in db.list_collections()] == ["docs"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".hidden",
        "a/b",
        "..",
        "a\\b",
        "con",
        "LPT1.txt",
        "trailing.",
        "x" * 129,
        "sp ace",
        "ü",
        None,
        5,
    ],
)
def test_bad_collection_names(db: Database, name: object) -> None:
    with pytest.raises(vectordb.InvalidArgumentError):
        db.create_collection(name, dim=3)  # type: ignore[arg-type]
    assert db.list_collections() == []


def test_metric_aliases(db: Database) -> None:
    assert db.create_collection("a", dim=2, metric="l2").metric == "euclidean"
    assert db.create_collection("b", dim=2, metric="ip").metric == "dot"


def test_collection_records_config_and_times(db_path: Path) -> None:
    with vectordb.open(db_path) as db:
        db.create_collection(
            "c", dim=7, metric="euclidean", normalize=True, durability="normal", initial_capacity=16
        )
    with vectordb.open(db_path) as db:
        info = db.get_collection("c").stats()
        assert info.config == {
            "dim": 7,
            "metric": "euclidean",
            "index": "flat",
            "normalize": True,
            "durability": "normal",
            "initial_capacity": 16,
        }
        assert info.created_at > 0


def test_use_after_close(db_path: Path) -> None:
    db = vectordb.open(db_path)
    collection = db.create_collection("c", dim=2)
    db.close()
    db.close()  # idempotent
    assert db.closed
    for call in (
        lambda: db.list_collections(),
        lambda: db.create_collection("d", dim=2),
        lambda: collection.add([[1, 2]]),
        lambda: len(collection),
        lambda: collection.search([1, 2]),
        lambda: db.checkpoint(),
    ):
        with pytest.raises(vectordb.DatabaseClosedError):
            call()


def test_read_only_handle_refuses_writes(db_path: Path) -> None:
    with vectordb.open(db_path) as db:
        db.create_collection("c", dim=2).add([[1, 2]], ids=["a"])
    with vectordb.open(db_path, read_only=True) as db:
        collection = db.get_collection("c")
        assert collection.get("a") is not None
        assert collection.search([1, 2], k=1)[0].id == "a"
        for call in (
            lambda: collection.add([[1, 2]]),
            lambda: collection.delete("a"),
            lambda: db.create_collection("d", dim=2),
            lambda: db.drop_collection("c"),
            lambda: collection.update("a", metadata={}),
            lambda: db.checkpoint(),
        ):
            with pytest.raises(vectordb.ReadOnlyError):
                call()
        assert len(collection) == 1


@pytest.mark.parametrize("durability", ["full", "normal", "off"])
@pytest.mark.parametrize("use_mmap", [True, False])
def test_reopen_keeps_everything(
    db_path: Path, rng: np.random.Generator, durability: str, use_mmap: bool
) -> None:
    config = {
        "durability": durability,
        "use_mmap": use_mmap,
        "initial_capacity": 4,
        "checkpoint_records": 7,
    }
    vectors = rng.standard_normal((300, 6)).astype(np.float32)
    with vectordb.open(db_path, config=config) as db:
        collection = db.create_collection("c", dim=6, metric="euclidean")
        for start in range(0, 300, 20):  # grows the file many times, checkpoints on the way
            collection.add(
                vectors[start : start + 20],
                ids=[str(i) for i in range(start, start + 20)],
                metadata=[{"i": i} for i in range(start, start + 20)],
            )
        collection.delete([str(i) for i in range(0, 300, 3)])
        collection.upsert(vectors[:5] * 2, ids=["1", "2", "4", "5", "new"])
    with vectordb.open(db_path, config=config) as db:
        collection = db.get_collection("c")
        assert len(collection) == 300 - 100 + 1  # every third id deleted, "new" added
        np.testing.assert_array_equal(collection.get("2").vector, vectors[1] * 2)  # type: ignore[union-attr]
        assert collection.get("2").metadata is None  # type: ignore[union-attr]
        assert collection.get("7").metadata == {"i": 7}  # type: ignore[union-attr]
        assert collection.get("3") is None
        assert collection.search(vectors[200], k=1)[0].id == "200"
        assert db.check() == []


def test_checkpoint_deletes_covered_log_segments(db_path: Path) -> None:
    with vectordb.open(db_path, config={"checkpoint_records": 1_000_000}) as db:
        collection = db.create_collection("c", dim=2)
        for i in range(20):
            collection.add([[1, i + 1]], ids=[str(i)])
        wal = Path(db.path) / "wal"
        size_before = sum(p.stat().st_size for p in wal.iterdir())
        db.checkpoint()
        # the sealed segment stays until the next checkpoint (for processes idle across this
        # one); the new one holds nothing yet
        sealed, current = sorted(wal.iterdir())
        assert sealed.stat().st_size >= size_before and current.stat().st_size == 16
        collection.add([[5, 5]], ids=["after"])
        db.checkpoint()
        assert sorted(wal.iterdir())[0] == current  # the first sealed segment is gone
        assert len(list(wal.iterdir())) == 2
        collection.add([[6, 6]], ids=["later"])
    with vectordb.open(db_path) as db:
        assert len(db.get_collection("c")) == 22


def test_forgotten_database_is_closed_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "db"
    script = textwrap.dedent(f"""
        import vectordb
        db = vectordb.open({str(path)!r}, config={{"durability": "off"}})
        db.create_collection("c", dim=2).add([[1, 2]], ids=["kept"])
        # no close(): durability "off" data survives only through the exit-time close
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with vectordb.open(path) as db:
        assert db.get_collection("c").ids() == ["kept"]


def test_same_directory_twice_in_one_process_shares_state(db_path: Path) -> None:
    first = vectordb.open(db_path)
    second = vectordb.open(str(db_path) + "/")
    try:
        first.create_collection("c", dim=2).add([[1, 2]], ids=["a"])
        assert second.get_collection("c").get("a") is not None
        first.close()
        second.get_collection("c").add([[3, 4]], ids=["b"])
    finally:
        first.close()
        second.close()
    with vectordb.open(db_path) as db:
        assert len(db.get_collection("c")) == 2


def test_disk_full_while_growing_raises_and_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vectordb.open(db_path, config={"initial_capacity": 2}) as db:
        collection = db.create_collection("c", dim=2)
        collection.add([[1, 2], [3, 4]], ids=["a", "b"])

        def no_space(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
        with pytest.raises(vectordb.StorageFullError, match="disk full"):
            collection.add([[5, 6], [7, 8], [9, 10]], ids=["c", "d", "e"])
        monkeypatch.undo()
        assert collection.ids() == ["a", "b"]
        collection.add([[5, 6]], ids=["c"])  # still usable
    with vectordb.open(db_path) as db:
        assert db.get_collection("c").ids() == ["a", "b", "c"]


def test_disk_full_while_logging_raises_and_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with vectordb.open(db_path) as db:
        collection = db.create_collection("c", dim=2)
        collection.add([[1, 2]], ids=["a"])
        import vectordb.storage.wal as wal

        def no_space(*args: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(wal.os, "pwritev", no_space)
        with pytest.raises(vectordb.StorageFullError):
            collection.add([[3, 4]], ids=["b"])
        monkeypatch.undo()
        assert collection.ids() == ["a"]
        collection.add([[3, 4]], ids=["c"])
    with vectordb.open(db_path) as db:
        assert db.get_collection("c").ids() == ["a", "c"]


def test_fsync_failure_stops_the_handle_writing_but_not_reading(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = vectordb.open(db_path)
    collection = db.create_collection("c", dim=2)
    collection.add([[1, 2]], ids=["a"])
    import vectordb.files.atomic as atomic

    calls = {"n": 0}

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(vectordb.StorageError, match="fsync"):
        collection.add([[3, 4]], ids=["b"])
    monkeypatch.undo()
    attempts = calls["n"]
    assert attempts == 1  # never retried
    with pytest.raises(vectordb.StorageError, match=r"refuses writes .* an fsync is never retried"):
        collection.add([[5, 6]], ids=["c"])
    with pytest.raises(vectordb.StorageError, match="refuses writes"):
        db.checkpoint()
    assert collection.search([1, 2], k=1)[0].id == "a"  # reads go on
    assert collection.get("a") is not None and "c" not in collection
    db.close()
    with vectordb.open(db_path) as reopened:  # recovery from the log
        ids = reopened.get_collection("c").ids()
        assert ids[0] == "a"
        assert "c" not in ids


def test_a_read_only_handle_refuses_writes_while_the_process_also_writes(db_path: Path) -> None:
    """Handles on one directory in one process share an engine; the read-only one must
    still refuse every write (it used to accept them when a read-write handle was open)."""
    writer = vectordb.open(db_path)
    docs = writer.create_collection("docs", dim=2)
    docs.add([[1, 2]], ids=["a"], metadata=[{"k": 1}])
    reader = vectordb.open(db_path, read_only=True)
    mine = reader.get_collection("docs")
    attempts = {
        "add": lambda: mine.add([[3, 4]], ids=["b"]),
        "upsert": lambda: mine.upsert([[3, 4]], ids=["a"]),
        "update": lambda: mine.update(["a"], metadata=[{"k": 2}]),
        "delete": lambda: mine.delete(["a"]),
        "delete where": lambda: mine.delete(where={"k": 1}),
        "create_index": lambda: mine.create_index("k"),
        "compact": mine.compact,
        "create_collection": lambda: reader.create_collection("other", dim=2),
        "drop_collection": lambda: reader.drop_collection("docs"),
        "transaction": reader.transaction,
        "checkpoint": reader.checkpoint,
        "check repair": lambda: reader.check(repair=True),
        "backup": lambda: reader.backup(db_path.parent / "copy"),
    }
    for name, attempt in attempts.items():
        with pytest.raises(vectordb.ReadOnlyError, match="read-only") as refused:
            attempt()
        assert refused.value is not None, name
    assert docs.get("a").metadata == {"k": 1} and len(docs) == 1 and "docs" in writer
    assert reader.check() == [] and mine.search([1, 2], k=1)[0].id == "a"  # reads work
    reader.close()
    writer.close()
