"""Live writes and replay apply records by one path (``apply_write``): the state a process
builds while it writes equals the state another builds by replaying the same log, row for
row, in both kinds of replay (an exclusive open rewrites the vectors from the log; a
non-exclusive one finds them in the file)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from internals import simulate_crash, store_of

import vectordb

DIM = 6


def _state(db: vectordb.Database) -> dict[str, Any]:
    """Every collection's rows as the engine holds them: which rows are live, their ids,
    metadata bytes and vector bytes, and the counts."""
    state = {}
    for info in db.list_collections():
        rows_of = store_of(db, info.name)
        n = rows_of.n_rows
        live = rows_of.live[:n].copy()
        state[info.name] = {
            "n_rows": n,
            "count": rows_of.count,
            "live": live.tobytes(),
            "rows": {
                row: (rows_of.row_ids[row], rows_of.metadata_bytes(row),
                      rows_of.vectors.rows[row].tobytes())
                for row in np.flatnonzero(live).tolist()
            },
        }
    return state


def _writes(db: vectordb.Database, seed: int) -> None:
    rng = np.random.default_rng(seed)
    flat = db.create_collection("flat", dim=DIM, metric="euclidean")
    graph = db.create_collection("graph", dim=DIM, index="hnsw")
    serial = 0
    def pick(ids: list[str], n: int) -> list[str]:
        return [str(i) for i in rng.choice(ids, min(len(ids), n), replace=False)]

    for step in range(60):
        target = flat if step % 2 else graph
        ids = target.ids()
        choice = rng.integers(0, 8)
        if choice <= 1 or not ids:
            n = int(rng.integers(1, 20))
            given = None if choice == 0 else [f"r{serial + i}" for i in range(n)]
            serial += n
            target.add(rng.standard_normal((n, DIM)), ids=given,
                       metadata=[{"s": step, "i": i} for i in range(n)])  # fmt: skip
        elif choice == 2:
            chosen = pick(ids, 5)
            target.upsert(rng.standard_normal((len(chosen), DIM)), ids=chosen)
        elif choice == 3:
            chosen = pick(ids, 4)
            target.update(chosen, vectors=rng.standard_normal((len(chosen), DIM)))
        elif choice == 4:
            chosen = pick(ids, 4)
            target.update(chosen, metadata=[{"u": step}] * len(chosen))
        elif choice == 5:
            target.delete(pick(ids, 3))
        elif choice == 6:
            target.delete(where={"s": {"$lt": int(step) // 3}})
        else:
            with db.transaction():
                flat.add(rng.standard_normal((2, DIM)), ids=[f"t{serial}", f"t{serial + 1}"])
                if graph.ids():
                    graph.delete(graph.ids()[:1])
                graph.add(rng.standard_normal((1, DIM)), ids=[f"t{serial + 2}"])
            serial += 3
        if step == 30:
            db.checkpoint()  # the rest of the log replays over reused rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_live_writes_and_replay_build_the_same_state(tmp_path: Path, seed: int) -> None:
    live_path = tmp_path / "live"
    db = vectordb.open(live_path, config={"checkpoint_records": 1_000_000})
    _writes(db, seed)
    expected = _state(db)
    shutil.copytree(live_path, tmp_path / "exclusive", ignore=shutil.ignore_patterns("LOCK"))
    shutil.copytree(live_path, tmp_path / "shared", ignore=shutil.ignore_patterns("LOCK"))
    simulate_crash(db)
    db.close()
    with vectordb.open(tmp_path / "exclusive") as replayed:  # writes the vectors again
        assert _state(replayed) == expected
    with vectordb.open(tmp_path / "shared", read_only=True) as replayed:  # finds them
        assert _state(replayed) == expected
