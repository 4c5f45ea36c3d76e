"""Several processes on one database directory: real subprocesses, real SIGKILLs.

- 4 writer processes x 5,000 mixed operations (upserts, deletes, metadata updates,
  transactions over two collections, idempotent retries, checkpoints) interleave with 2
  reader processes; readers never see part of a transaction, and the final state equals the
  union of every writer's acknowledged operations, with no lost increment of a counter that
  all writers update in read-then-write transactions.
- A writer SIGKILLed inside a transaction, holding the writer lock: its transaction vanishes,
  the other writers go on within the lock timeout, nothing they acknowledged is lost.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb

from .processes import DIM, vector

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

WORKER = Path(__file__).with_name("processes.py")


def _create(path: Path) -> None:
    with vectordb.open(path) as db:
        a = db.create_collection("a", dim=DIM, metric="euclidean")
        db.create_collection("b", dim=DIM, metric="euclidean", index="hnsw")
        a.add(np.ones((1, DIM)), ids=["counter"], metadata={"n": 0})


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"worker did not finish in {timeout} s; stderr:\n{err}") from None
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{err}"
    return out


def _state(db: vectordb.Database, name: str) -> dict[str, Any]:
    collection = db.get_collection(name)
    ids = collection.ids()
    return {
        record.id: [record.vector.tolist(), record.metadata]
        for record in collection.get_many(ids)
        if record is not None
    }


def test_four_writers_and_two_readers_interleave(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _create(path)
    operations = 5000
    stop = tmp_path / "stop"
    writers = [
        _spawn("writer", str(path), str(me), str(operations), str(tmp_path / f"w{me}.json"))
        for me in range(4)
    ]
    readers = [
        _spawn("reader", str(path), str(stop), str(tmp_path / f"r{n}.json")) for n in range(2)
    ]
    try:
        for proc in writers:
            _finish(proc, timeout=400)
    finally:
        stop.touch()
        for proc in readers:
            _finish(proc, timeout=60)
    expected: dict[str, dict[str, Any]] = {"a": {}, "b": {}}
    increments = 0
    for me in range(4):
        result = json.loads((tmp_path / f"w{me}.json").read_text())
        for name in ("a", "b"):
            expected[name].update(result["model"][name])
        increments += result["increments"]
    with vectordb.open(path) as db:
        actual_a, actual_b = _state(db, "a"), _state(db, "b")
        counter = actual_a.pop("counter")
        assert counter[1] == {"n": increments} and increments == 4 * (operations // 25)
        assert actual_a == expected["a"]
        assert actual_b == expected["b"]
        assert db.check() == []
        graph = db.get_collection("b")
        probe = next(iter(expected["b"]))
        assert graph.search(np.array(expected["b"][probe][0]), k=1)[0].id == probe
    for n in range(2):
        report = json.loads((tmp_path / f"r{n}.json").read_text())
        assert report["violations"] == 0, report["problems"]
        assert report["checks"] > 0  # the reader did see transactions


def test_writer_killed_inside_a_transaction_blocks_nobody(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _create(path)
    holder = _spawn("hold", str(path))
    assert holder.stdout is not None
    assert holder.stdout.readline() == "holding\n"  # inside the transaction, lock held
    others = [_spawn("acked", str(path), str(me), "50") for me in range(2)]
    for proc in others:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
    time.sleep(0.5)  # the others now wait for the writer lock
    with vectordb.open(path, read_only=True) as reader:  # readers never wait
        assert reader.get_collection("a").get("held-0") is None
    started = time.monotonic()
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    assert holder.returncode == -signal.SIGKILL
    acked: list[str] = []
    for proc in others:
        out = _finish(proc, timeout=60)
        acked += [line[2:] for line in out.splitlines() if line.startswith("A ")]
    assert time.monotonic() - started < 20  # within the others' lock timeout
    assert len(acked) == 100
    with vectordb.open(path) as db:
        a, b = db.get_collection("a"), db.get_collection("b")
        assert a.get("held-0") is None and a.get("held-1") is None and b.get("held") is None
        records = a.get_many(acked)
        assert all(record is not None for record in records)
        for vector_id, record in zip(acked, records):
            me, i = (int(x) for x in vector_id[len("acked") :].split("-"))
            assert record is not None
            np.testing.assert_array_equal(record.vector, vector(me, i, 7))
        assert db.check() == []
