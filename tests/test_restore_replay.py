"""Restores that replay the log across compactions, creations and drops.

A backup is older than the log a restore replays onto it. Records written after a compaction
name rows of the packed layout, so replaying them onto the backup's (unpacked) files needs the
compaction repeated at the same point; collections created or dropped after the backup must
be created or dropped again. Each test compares the restored database with a plain dict model
of what was acknowledged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from internals import store_of

import vectordb

DIM = 8
Model = dict[str, dict[str, tuple[bytes, object]]]


def _snapshot(path: Path, *, read_only: bool = True) -> Model:
    """Every collection's records as ``{collection: {id: (vector bytes, metadata)}}``; also
    checks that ``len()``, ``ids()`` and ``check()`` agree."""
    with vectordb.open(path, read_only=read_only) as db:
        assert db.check() == []
        state: Model = {}
        for info in db.list_collections():
            collection = db.get_collection(info.name)
            ids = collection.ids()
            assert len(collection) == len(ids) == len(set(ids))
            records = collection.get_many(ids) if ids else []
            state[info.name] = {
                r.id: (r.vector.tobytes(), r.metadata) for r in records if r is not None
            }
        return state


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal((n, DIM)).astype(np.float32)


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf"])
def test_full_backup_and_archive_replay_across_compactions(tmp_path: Path, index: str) -> None:
    """The fault found in adversarial testing: back up, delete, compact, add more, restore
    with the archive: records that were live went missing and len() disagreed with ids()."""
    rng = np.random.default_rng(1)
    source = tmp_path / "db"
    config = {"wal_archive": str(tmp_path / "archive"), "checkpoint_records": 6}
    options = {"ivf": {"nlist": 4, "train_after": 20}} if index == "ivf" else {}
    with vectordb.open(source, config=config) as db:
        docs = db.create_collection("docs", dim=DIM, metric="euclidean", index=index, **options)
        docs.add(_vectors(rng, 40), ids=[f"a{i}" for i in range(40)],
                 metadata=[{"i": i} for i in range(40)])  # fmt: skip
        db.backup(tmp_path / "full")
        serial = 0
        for round_ in range(3):  # three compactions, writes between and after them
            docs.delete([i for i in docs.ids() if hash(i) % 3 == round_ % 3][:12])
            docs.upsert(_vectors(rng, 3), ids=docs.ids()[:3])  # replaced rows die too
            docs.compact()
            docs.add(_vectors(rng, 7), ids=[f"n{serial + j}" for j in range(7)])
            serial += 7
            docs.update(docs.ids()[-2:], metadata=[{"round": round_}, None])
        expected = _snapshot(source, read_only=False)
    restored = tmp_path / "restored"
    vectordb.restore(tmp_path / "full", restored,
                     wal_archive=[tmp_path / "archive", source / "wal"])  # fmt: skip
    assert _snapshot(restored) == expected
    # a search finds every record where it is
    with vectordb.open(restored) as db:
        docs = db.get_collection("docs")
        for vector_id, (vector, _) in list(expected["docs"].items())[:10]:
            query = np.frombuffer(vector, np.float32)
            assert docs.search(query, k=1, exact=True)[0].id == vector_id


def test_point_in_time_restore_before_between_and_after_compactions(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    source = tmp_path / "db"
    states: list[tuple[int, Model]] = []
    with vectordb.open(source, config={"wal_archive": str(tmp_path / "archive")}) as db:
        docs = db.create_collection("docs", dim=DIM)
        docs.add(_vectors(rng, 30), ids=[f"a{i}" for i in range(30)])
        db.backup(tmp_path / "full")
        for step in range(4):
            docs.delete(docs.ids()[::3])
            if step % 2 == 0:
                docs.compact()
            docs.add(_vectors(rng, 5), ids=[f"s{step}-{j}" for j in range(5)])
            states.append((db.health()["last_lsn"], _snapshot_of(db)))
    for step, (lsn, expected) in enumerate(states):
        out = tmp_path / f"at{step}"
        result = vectordb.restore(tmp_path / "full", out, until=lsn,
                                  wal_archive=[tmp_path / "archive", source / "wal"])  # fmt: skip
        assert result["restored_lsn"] == lsn
        assert _snapshot(out) == expected


def _snapshot_of(db: vectordb.Database) -> Model:
    docs = db.get_collection("docs")
    return {"docs": {r.id: (r.vector.tobytes(), r.metadata)
                     for r in docs.get_many(docs.ids()) if r is not None}}  # fmt: skip


def test_incremental_chain_replays_across_compactions(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    source = tmp_path / "db"
    config = {"wal_archive": "archive", "checkpoint_records": 4}
    with vectordb.open(source, config=config) as db:
        docs = db.create_collection("docs", dim=DIM)
        docs.add(_vectors(rng, 30), ids=[f"a{i}" for i in range(30)])
        db.backup(tmp_path / "full")
        previous = tmp_path / "full"
        for step in range(3):
            docs.delete(docs.ids()[step::4])
            docs.compact()
            docs.add(_vectors(rng, 6), ids=[f"s{step}-{j}" for j in range(6)])
            target = tmp_path / f"inc{step}"
            db.backup(target, incremental_from=previous)
            previous = target
        expected = _snapshot_of(db)
    vectordb.restore(tmp_path / "inc2", tmp_path / "restored")
    assert _snapshot(tmp_path / "restored") == expected


def test_collections_created_and_dropped_after_the_backup(tmp_path: Path) -> None:
    """Point-in-time restore recreates what was created and drops what was dropped."""
    source = tmp_path / "db"
    with vectordb.open(source, config={"wal_archive": str(tmp_path / "archive")}) as db:
        old = db.create_collection("old", dim=2)
        old.add([[1, 2]], ids=["a"])
        db.backup(tmp_path / "full")
        new = db.create_collection("new", dim=3, metric="dot", index="hnsw")
        new.add([[1, 2, 3], [3, 2, 1]], ids=["x", "y"], metadata=[{"k": 1}, None])
        between = db.health()["last_lsn"]
        db.drop_collection("old")
        again = db.create_collection("old", dim=4)  # the same name, a new collection
        again.add([[1, 2, 3, 4]], ids=["z"])
        expected = {
            "new": {"x": (np.float32([1, 2, 3]).tobytes(), {"k": 1}),
                    "y": (np.float32([3, 2, 1]).tobytes(), None)},
            "old": {"z": (np.float32([1, 2, 3, 4]).tobytes(), None)},
        }  # fmt: skip
    archives = [tmp_path / "archive", source / "wal"]
    vectordb.restore(tmp_path / "full", tmp_path / "latest", wal_archive=archives)
    assert _snapshot(tmp_path / "latest") == expected
    with vectordb.open(tmp_path / "latest", read_only=True) as db:
        info = {c.name: c for c in db.list_collections()}
        assert (info["new"].metric, info["new"].index, info["old"].dim) == ("dot", "hnsw", 4)
    vectordb.restore(tmp_path / "full", tmp_path / "between", until=between, wal_archive=archives)
    state = _snapshot(tmp_path / "between")
    assert set(state) == {"old", "new"}
    assert set(state["old"]) == {"a"}


def test_restore_names_the_first_missing_log_record(tmp_path: Path) -> None:
    source = tmp_path / "db"
    with vectordb.open(source, config={"wal_archive": str(tmp_path / "archive")}) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2]], ids=["a"])
        db.backup(tmp_path / "full")
        lsns = []
        for i in range(4):
            docs.add([[i, 1]], ids=[f"x{i}"])
            lsns.append(db.health()["last_lsn"])
            db.checkpoint()  # one archived segment per write
    segments = sorted((tmp_path / "archive").iterdir())
    missing = segments[2]  # holds the second write
    first_missing = int(missing.name.split(".")[0])
    missing.unlink()
    archives = [tmp_path / "archive", source / "wal"]
    with pytest.raises(vectordb.LogGapError, match=f"from LSN {first_missing} on") as caught:
        vectordb.restore(tmp_path / "full", tmp_path / "out", wal_archive=archives)
    assert caught.value.first_missing_lsn == first_missing
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("out.partial-*"))
    # everything before the gap restores
    vectordb.restore(tmp_path / "full", tmp_path / "before", until=first_missing - 1,
                     wal_archive=archives)  # fmt: skip
    assert set(_snapshot(tmp_path / "before")["docs"]) == {"a", "x0"}


def test_check_notices_a_count_that_disagrees_with_the_id_map(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2], [3, 4]], ids=["a", "b"])
        assert db.check() == []
        store = store_of(db, "docs")
        store.count += 1  # what the faulty restore left: len() says 3, the id map holds 2
        problems = db.check()
        assert any("counts 3 records but 2 rows are live" in p.message for p in problems)
        store.count -= 1
        store.row_ids[1] = "a"  # two live rows claiming one id
        assert any("distinct ids" in p.message for p in db.check())
        store.row_ids[1] = "b"
