"""Backup, restore and compaction times, against a plain file copy in the same run.

Usage:
    python benchmarks/lifecycle.py              # 1M x 128, ~2 min
    python benchmarks/lifecycle.py --quick      # 50k x 128
    python benchmarks/lifecycle.py --n 200000

For one collection of ``n`` x ``dim`` float32 vectors (plus a little metadata):
``db.backup()`` while a thread keeps writing (and the writes it let through), the same
backup with no writer, ``vectordb.restore()``, and a plain ``shutil.copytree`` of the
database directory with every file fsynced (the baseline: what copying the files costs on this
disk; it is *not* a consistent backup while writers run). Then ``compact()`` after deleting
half the records, with the file sizes before and after. Medians of ``--repeats`` runs; JSON to
``benchmarks/results/lifecycle.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import machine, print_table

import vectordb


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _fill(path: Path, n: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    with vectordb.open(path, config={"durability": "normal"}) as db:
        docs = db.create_collection("docs", dim=dim)
        for first in range(0, n, 50_000):
            count = min(50_000, n - first)
            docs.add(
                rng.standard_normal((count, dim), dtype=np.float32),
                ids=[f"r{i}" for i in range(first, first + count)],
                metadata=[{"i": i} for i in range(first, first + count)],
            )


def _plain_copy(source: Path, dest: Path) -> None:
    """copytree, then fsync every file (what backup() does for durability)."""
    shutil.copytree(source, dest)
    for path in dest.rglob("*"):
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())


def _timed(function: Any) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "lifecycle.json"
    )
    args = parser.parse_args()
    n = 50_000 if args.quick else args.n
    work = Path(tempfile.mkdtemp(prefix="vectordb-lifecycle-"))
    rows: list[dict[str, Any]] = []
    try:
        source = work / "db"
        _fill(source, n, args.dim)
        size = _tree_bytes(source)
        times: dict[str, list[float]] = {"copy": [], "backup": [], "busy": [], "restore": []}
        written_during: list[int] = []
        for attempt in range(args.repeats):
            copy = work / f"copy{attempt}"
            times["copy"].append(_timed(lambda copy=copy: _plain_copy(source, copy)))
            shutil.rmtree(copy)
            with vectordb.open(source) as db:
                target = work / f"backup{attempt}"
                times["backup"].append(_timed(lambda db=db, target=target: db.backup(target)))
                restored = work / f"restored{attempt}"
                times["restore"].append(_timed(lambda t=target, r=restored: vectordb.restore(t, r)))
                shutil.rmtree(restored)
                shutil.rmtree(target)
                # the same with a writer adding 1,000-vector batches all along
                docs = db.get_collection("docs")
                stop = threading.Event()
                count = [0]

                def write(
                    docs: Any = docs,
                    stop: threading.Event = stop,
                    count: Any = count,
                    seed: int = attempt,
                ) -> None:
                    rng = np.random.default_rng(seed)
                    while not stop.is_set():
                        docs.add(rng.standard_normal((1000, args.dim), dtype=np.float32))
                        count[0] += 1000

                writer = threading.Thread(target=write)
                writer.start()
                busy_target = work / f"busy{attempt}"
                times["busy"].append(_timed(lambda db=db, t=busy_target: db.backup(t)))
                stop.set()
                writer.join()
                written_during.append(count[0])
                shutil.rmtree(busy_target)
        median = {key: statistics.median(value) for key, value in times.items()}
        for label, key in (
            ("plain copytree + fsync of each file (baseline)", "copy"),
            ("db.backup(), no writer", "backup"),
            ("db.backup(), a writer adding all along", "busy"),
            ("vectordb.restore() (verifies checksums)", "restore"),
        ):
            rows.append(
                {
                    "operation": label,
                    "seconds": median[key],
                    "MB/s": size / 2**20 / median[key],
                    "vs plain copy": median[key] / median["copy"],
                }
            )
        # compaction: delete half, compact
        with vectordb.open(source, config={"compact_dead_share": None}) as db:
            docs = db.get_collection("docs")
            live = len(docs)
            victims = [f"r{i}" for i in range(0, n, 2)]
            for first in range(0, len(victims), 100_000):
                docs.delete(victims[first : first + 100_000], missing_ok=True)
            db.checkpoint()
            before = _tree_bytes(source / "collections" / "docs")
            started = time.perf_counter()
            result = docs.compact()
            elapsed = time.perf_counter() - started
            after = _tree_bytes(source / "collections" / "docs")
        compaction = {
            "records_before": live,
            "records_after": result["rows_after"],
            "seconds": elapsed,
            "collection_mb_before": before / 2**20,
            "collection_mb_after": after / 2**20,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "machine": machine(),
        "n": n,
        "dim": args.dim,
        "database_mb": size / 2**20,
        "backup": rows,
        "writes_during_busy_backup": written_during,
        "compaction": compaction,
    }
    print(f"machine: {report['machine']}")
    print(f"database: {n} x {args.dim} float32 + metadata, {size / 2**20:,.0f} MB on disk")
    print_table("backup and restore (medians)", rows)
    print(f"\nvectors added by the writer during each busy backup: {written_during}")
    print_table("compaction after deleting half", [compaction])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
