"""Kill a real writer process with SIGKILL at random moments and check what survives.

Each round spawns ``writer_process.py random`` on the same database directory. The child
streams random adds, upserts, updates, deletes and transactions (several of those over
several collections in one ``db.transaction()``) and prints every
operation before it calls it (``B``) and after the call returned (``A``: acknowledged). The
parent kills it at a random moment (seeded): after some acknowledgements, right after an
operation began (most likely inside the log append or its fsync), or while it is opening the
database (recovery, torn-tail truncation). Checkpoints run every few records in the child,
so kills also land inside checkpoints.

After each kill the parent reopens the database (read-only or read-write, alternating at
random: a read-only check leaves the torn tail for the next writer to cut) and requires:

- the state equals the acknowledged operations replayed on a dict model, where the one
  operation in flight may be applied entirely or not at all - never a part of a batch or of
  a transaction (a kill inside a transaction's body, before its commit record, leaves
  nothing of it);
- vectors equal bit for bit, metadata equal, ``len()`` and ``ids()`` match, absent ids read
  as None;
- ``db.check() == []``;
- searching for a stored vector returns its record first.

``pytest -m slow`` (or ``VECTORDB_SLOW=1``) runs many more rounds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb

from .writer_process import POOL, Model, apply_op, parse_output

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows"),
]

WRITER = Path(__file__).with_name("writer_process.py")
# "graph" (HNSW), "cells" (IVF, trained once 16 rows exist) and "codes" (int8 flat) keep an
# index: its saved file, the log replay into it and the exact scan of rows not yet indexed
# must all survive the kills
COLLECTIONS: dict[str, dict[str, object]] = {
    "docs": {"dim": 16, "metric": "cosine"},
    "imgs": {"dim": 7, "metric": "euclidean"},
    "graph": {"dim": 12, "metric": "cosine", "index": "hnsw"},
    "cells": {
        "dim": 12,
        "metric": "euclidean",
        "index": "ivf",
        "ivf": {"nlist": 4, "nprobe": 4, "train_after": 16},
    },
    "codes": {"dim": 10, "metric": "euclidean", "quantization": "int8"},
}
CHILD_TIMEOUT = 60.0


def _create(path: Path) -> Model:
    with vectordb.open(path) as db:
        for name, settings in COLLECTIONS.items():
            db.create_collection(name, **settings)  # type: ignore[arg-type]
    return {name: {} for name in COLLECTIONS}


def _kill_round(
    path: Path, rng: np.random.Generator, tag: str, durability: str, stderr_path: Path
) -> tuple[str, str]:
    """Run one writer and SIGKILL it; returns (its whole stdout, how it was killed)."""
    checkpoint_records = int(rng.integers(4, 40))
    command = [
        sys.executable,
        str(WRITER),
        "random",
        str(path),
        str(int(rng.integers(2**31))),
        tag,
        durability,
        str(checkpoint_records),
    ]
    how = str(rng.choice(["acked", "began", "opening"], p=[0.45, 0.4, 0.15]))
    target = int(rng.integers(1, 40))
    pause = float(rng.uniform(0, 0.004)) if how == "acked" else float(rng.uniform(0, 0.03))
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    watchdog = threading.Timer(CHILD_TIMEOUT, proc.kill)
    watchdog.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        acked = began = 0
        while True:
            line = proc.stdout.readline()
            if not line:
                break  # the child ended by itself: reported below
            lines.append(line)
            if how == "opening" and line == "O\n":
                time.sleep(pause)
                break
            if how == "began" and line.startswith("B "):
                began += 1
                if began == target:
                    break  # the call is (most likely) in progress now
            if how == "acked" and line.startswith("A "):
                acked += 1
                if acked == target:
                    time.sleep(pause)
                    break
        proc.send_signal(signal.SIGKILL)
        lines.append(proc.stdout.read())  # what it printed before it died
        proc.stdout.close()
        returncode = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if returncode != -signal.SIGKILL:
        raise AssertionError(
            f"writer exited with {returncode} instead of being killed; stderr:\n"
            + stderr_path.read_text(errors="replace")
        )
    return "".join(lines), f"{how} target={target} checkpoint_records={checkpoint_records}"


def _read_state(db: vectordb.Database) -> Model:
    state: Model = {}
    for info in db.list_collections():
        collection = db.get_collection(info.name)
        ids = collection.ids()
        assert len(ids) == len(set(ids)), f"{info.name}: ids() repeats an id"
        records = collection.get_many(ids) if ids else []
        state[info.name] = {}
        for vector_id, record in zip(ids, records):
            assert record is not None and record.id == vector_id
            assert record.vector.dtype == np.float32
            state[info.name][vector_id] = (record.vector.astype("<f4").tobytes(), record.metadata)
    return state


def _describe_difference(actual: Model, expected: Model) -> str:
    lines = []
    for name in sorted(set(actual) | set(expected)):
        have, want = actual.get(name, {}), expected.get(name, {})
        for vector_id in sorted(set(have) | set(want)):
            if have.get(vector_id) != want.get(vector_id):
                lines.append(f"  {name}/{vector_id}: stored {have.get(vector_id)!r}")
                lines.append(f"  {' ' * len(name + vector_id)}  expected {want.get(vector_id)!r}")
    return "\n".join(lines[:40])


def _verify(
    path: Path,
    model: Model,
    in_flight: dict[str, Any] | None,
    *,
    read_only: bool,
    rng: np.random.Generator,
    context: str,
) -> Model:
    """Open, compare with the model (either outcome of the in-flight op), return the state."""
    candidates = [model] if in_flight is None else [model, apply_op(model, in_flight)]
    with vectordb.open(path, read_only=read_only) as db:
        actual = _read_state(db)
        if actual not in candidates:
            detail = _describe_difference(actual, candidates[0])
            if in_flight is not None:
                detail += "\n with the in-flight op applied:\n" + _describe_difference(
                    actual, candidates[1]
                )
            raise AssertionError(
                f"{context}: recovered state matches neither the acknowledged writes nor them "
                f"plus the in-flight operation {in_flight}:\n{detail}"
            )
        assert db.check() == [], context
        for name, records in actual.items():
            collection = db.get_collection(name)
            assert len(collection) == len(records) == collection.stats().count, context
            absent = [f"v{i:03d}" for i in range(POOL) if f"v{i:03d}" not in records]
            assert all(r is None for r in collection.get_many(absent or ["none"])), context
            assert all(vector_id not in collection for vector_id in absent), context
            stored = sorted(records)
            for vector_id in rng.permutation(stored)[:4].tolist():
                query = np.frombuffer(records[vector_id][0], dtype="<f4")
                hits = collection.search(query, k=3)
                assert hits[0].id == vector_id, f"{context}: search for {vector_id} gave {hits}"
                assert hits[0].metadata == records[vector_id][1], context
            if stored:  # deleted or never-acknowledged records are never returned
                query = np.frombuffer(records[stored[0]][0], dtype="<f4")
                returned = {hit.id for hit in collection.search(query, k=POOL, include=())}
                assert returned == set(stored), f"{context}: {name} search returned {returned}"
    return actual


def _run_rounds(tmp_path: Path, rounds: int, durability: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = tmp_path / "db"
    model = _create(path)
    total_acked = 0
    applied_in_flight = 0
    for round_number in range(rounds):
        output, how = _kill_round(
            path, rng, f"r{round_number}", durability, tmp_path / f"stderr-{round_number}.txt"
        )
        acked, in_flight, _events = parse_output(output)
        for op in acked:
            model = apply_op(model, op)
        total_acked += len(acked)
        context = f"round {round_number} ({how}, {len(acked)} acknowledged)"
        state = _verify(
            path,
            model,
            in_flight,
            read_only=bool(rng.random() < 0.5),
            rng=rng,
            context=context,
        )
        if state != model:
            applied_in_flight += 1
        model = state
    # a final read-write open checkpoints; the checkpointed state must read back the same
    _verify(path, model, None, read_only=False, rng=rng, context="after the last round")
    _verify(path, model, None, read_only=False, rng=rng, context="after a checkpoint")
    assert total_acked > 0, "no write was acknowledged in any round"
    assert any(model.values()), "the database ended empty: the test wrote nothing"
    print(  # shown with -s: how much the run covered
        f"{rounds} rounds, {total_acked} acknowledged operations, "
        f"{applied_in_flight} in-flight operations found applied"
    )


@pytest.mark.parametrize(("durability", "seed"), [("full", 1), ("normal", 2)])
def test_kill_writer_loses_no_acknowledged_write(
    tmp_path: Path, durability: str, seed: int
) -> None:
    _run_rounds(tmp_path, rounds=8, durability=durability, seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize(("durability", "seed"), [("full", 101), ("normal", 102)])
def test_kill_writer_many_rounds(
    tmp_path: Path, durability: str, seed: int, request: pytest.FixtureRequest
) -> None:
    if "slow" not in (request.config.option.markexpr or "") and not os.environ.get("VECTORDB_SLOW"):
        pytest.skip("long run: select it with -m slow or VECTORDB_SLOW=1")
    _run_rounds(tmp_path, rounds=150, durability=durability, seed=seed)
