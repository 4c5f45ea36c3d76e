"""Several writer processes on one database, and what it costs a reader to follow them.

Usage:
    python benchmarks/concurrency.py            # ~1 min
    python benchmarks/concurrency.py --quick    # fewer operations

Write throughput: 1, 2 and 4 processes each make ``--ops`` writes into one collection of
128-d vectors at the same time (single-record upserts, and 100-vector batches), with
durability ``normal`` (written to the OS, fsynced at checkpoints) and ``full`` (fsync per
write). The figure is the total writes per second from the moment all processes are ready
until the last one finished; the baseline is the single process in the same run (so the
ratio shows what the per-write writer lock, the catch-up of others' records and the
contention cost). On a 2-core machine 4 processes share 2 cores.

Catch-up: a process holds the database open while another process adds one batch of 10,000
x 128 vectors; the first operation of the follower afterwards replays those records (one
record per batch: the cost is mostly the per-row bookkeeping and, for HNSW, queueing the rows
for its background indexer). Reported: that first ``len()`` and ``search()``, against the
same calls again (no new records). Also the cost of the "anything new?" check every
operation makes (one ``stat``), per call, with nothing to replay.

Medians of ``--repeats`` runs; JSON to ``benchmarks/results/concurrency.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import machine, print_table

import vectordb

DIM = 128


def _writer(path: str, me: int, ops: int, batch: int, durability: str, ready: Any,
            go: Any, done: Any) -> None:  # fmt: skip
    from vectordb.index.jit import load_kernels

    load_kernels()  # compile before the clock starts (an open would do it in the background)
    rng = np.random.default_rng(me)
    data = rng.standard_normal((ops, batch, DIM), dtype=np.float32)
    with vectordb.open(path, config={"durability": durability, "lock_timeout": 60}) as db:
        docs = db.get_collection("docs")
        ready.put(me)
        go.wait()
        for i in range(ops):
            docs.upsert(data[i], ids=[f"w{me}-{i}-{k}" for k in range(batch)])
    done.put(time.perf_counter())


def _throughput(work: Path, writers: int, ops: int, batch: int, durability: str) -> float:
    path = work / f"w{writers}-{batch}-{durability}"
    shutil.rmtree(path, ignore_errors=True)
    with vectordb.open(path) as db:
        db.create_collection("docs", dim=DIM, metric="euclidean")
    context = multiprocessing.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    procs = [
        context.Process(target=_writer,
                        args=(str(path), me, ops, batch, durability, ready, go, done))
        for me in range(writers)
    ]  # fmt: skip
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    finished = max(done.get(timeout=600) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0, f"writer failed with {proc.exitcode}"
    with vectordb.open(path, read_only=True) as db:
        assert len(db.get_collection("docs")) == writers * ops * batch
    shutil.rmtree(path, ignore_errors=True)
    return writers * ops / (finished - started)


def _add_batch(path: str, index: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with vectordb.open(path, config={"durability": "normal"}) as db:
        docs = db.get_collection(index)
        docs.add(rng.standard_normal((10_000, DIM), dtype=np.float32))


def _catch_up(work: Path, index: str, repeats: int) -> dict[str, Any]:
    path = work / f"follow-{index}"
    shutil.rmtree(path, ignore_errors=True)
    context = multiprocessing.get_context("spawn")
    first_len, again_len, first_search, again_search = [], [], [], []
    query = np.random.default_rng(99).standard_normal(DIM, dtype=np.float32)
    with vectordb.open(path) as db:
        docs = db.create_collection(index, dim=DIM, metric="euclidean", index=index)
        docs.add(np.random.default_rng(7).standard_normal((10_000, DIM), dtype=np.float32))
        docs.search(query, k=10)
        for attempt in range(repeats):
            for measure, again in ((first_len, again_len), (first_search, again_search)):
                proc = context.Process(target=_add_batch, args=(str(path), index, attempt))
                proc.start()
                proc.join(timeout=120)
                assert proc.exitcode == 0
                started = time.perf_counter()
                if measure is first_len:
                    count = len(docs)
                else:
                    docs.search(query, k=10)
                    count = len(docs)
                measure.append(time.perf_counter() - started)
                started = time.perf_counter()
                if measure is first_len:
                    len(docs)
                else:
                    docs.search(query, k=10)
                again.append(time.perf_counter() - started)
                assert count == docs.stats().count
    shutil.rmtree(path, ignore_errors=True)
    return {
        "index": index,
        "first len() after a 10k batch, ms": statistics.median(first_len) * 1000,
        "len() again, ms": statistics.median(again_len) * 1000,
        "first search() after a 10k batch, ms": statistics.median(first_search) * 1000,
        "search() again, ms": statistics.median(again_search) * 1000,
    }


def _refresh_cost(work: Path) -> float:
    with vectordb.open(work / "refresh") as db:
        db.create_collection("docs", dim=4)
        engine = db._engine
        calls = 200_000
        started = time.perf_counter()
        for _ in range(calls):
            engine.refresh()
        return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="writes per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "concurrency.json"
    )
    args = parser.parse_args()
    ops = 300 if args.quick else args.ops
    work = Path(tempfile.mkdtemp(prefix="vectordb-concurrency-"))
    rows: list[dict[str, Any]] = []
    try:
        for durability, batch, count in (("normal", 1, ops), ("normal", 100, ops // 4),
                                         ("full", 1, ops // 4)):  # fmt: skip
            base = None
            for writers in (1, 2, 4):
                rates = [
                    _throughput(work, writers, count, batch, durability)
                    for _ in range(args.repeats)
                ]
                rate = statistics.median(rates)
                base = rate if base is None else base
                rows.append(
                    {
                        "durability": durability,
                        "vectors per write": batch,
                        "writer processes": writers,
                        "writes/s (all processes)": rate,
                        "vectors/s": rate * batch,
                        "vs 1 process": rate / base,
                    }
                )
        follow = [_catch_up(work, index, args.repeats) for index in ("flat", "hnsw")]
        refresh_us = _refresh_cost(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "machine": machine(),
        "dim": DIM,
        "writes_per_process": ops,
        "throughput": rows,
        "catch_up": follow,
        "refresh_check_us": refresh_us,
    }
    print(f"machine: {report['machine']}")
    print_table("write throughput, several processes on one database (medians)", rows)
    print_table("catch-up: a follower's first operation after another process's 10k batch",
                follow)  # fmt: skip
    print(f"\nthe per-operation 'anything new?' check: {refresh_us:.2f} us")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
