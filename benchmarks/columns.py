"""The first filter after an open: metadata columns loaded from columns.bin vs. decoded.

Usage:
    python benchmarks/columns.py            # 1M records, ~1 min
    python benchmarks/columns.py --n 200000

One collection of ``n`` records with metadata ``{"cat": int, "lang": str, "year": int}``;
``create_index`` on ``cat`` and ``lang``, then a checkpoint (which writes ``columns.bin``).
Measured in fresh processes (so nothing is cached in memory): open + the first
``count(where=...)`` on both fields, with ``columns.bin`` in place and with it deleted (the
columns are then decoded from every record's metadata), and a second ``count`` (the
columns exist). Also the checkpoint time with and without columns to write, and the file's
size. Medians of ``--repeats``; JSON to ``benchmarks/results/columns.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import machine, print_table

import vectordb

_PROBE = """
import sys, time
import vectordb
started = time.perf_counter()
with vectordb.open(sys.argv[1], read_only=True) as db:
    docs = db.get_collection("docs")
    opened = time.perf_counter()
    count = docs.count({"cat": {"$lt": 10}, "lang": "en"})
    first = time.perf_counter()
    docs.count({"cat": {"$lt": 20}, "lang": "fr"})
    second = time.perf_counter()
print(opened - started, first - opened, second - first, count)
"""


def _fill(path: Path, n: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    with vectordb.open(path, config={"durability": "normal"}) as db:
        docs = db.create_collection("docs", dim=8)
        for first in range(0, n, 100_000):
            count = min(100_000, n - first)
            docs.add(
                rng.standard_normal((count, 8), dtype=np.float32),
                ids=[f"r{i}" for i in range(first, first + count)],
                metadata=[
                    {"cat": i % 100, "lang": ("en", "fr", "de")[i % 3], "year": 2000 + i % 25}
                    for i in range(first, first + count)
                ],
            )
        started = time.perf_counter()
        db.checkpoint()  # no columns yet
        plain = time.perf_counter() - started
        docs.create_index("cat")
        docs.create_index("lang")
        docs.update("r0", metadata={"cat": 0, "lang": "en", "year": 2000})  # a change to save
        started = time.perf_counter()
        db.checkpoint()  # snapshot and columns.bin
        with_columns = time.perf_counter() - started
    return plain, with_columns


def _probe(path: Path) -> tuple[float, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "columns.json"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vectordb-columns-"))
    rows: list[dict[str, Any]] = []
    try:
        path = work / "db"
        plain_checkpoint, columns_checkpoint = _fill(path, args.n)
        columns_file = path / "collections" / "docs" / "columns.bin"
        size = columns_file.stat().st_size
        saved = columns_file.read_bytes()
        for label, keep in (("columns.bin loaded", True), ("decoded from metadata", False)):
            if keep:
                columns_file.write_bytes(saved)
            else:
                columns_file.unlink()
            runs = [_probe(path) for _ in range(args.repeats)]
            rows.append(
                {
                    "first filter after open": label,
                    "open s": statistics.median(r[0] for r in runs),
                    "first count(where) s": statistics.median(r[1] for r in runs),
                    "second count(where) ms": statistics.median(r[2] for r in runs) * 1000,
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "machine": machine(),
        "n": args.n,
        "columns_bin_mb": size / 2**20,
        "checkpoint_s_without_columns": plain_checkpoint,
        "checkpoint_s_with_two_columns": columns_checkpoint,
        "rows": rows,
    }
    print(f"machine: {report['machine']}")
    print(f"{args.n} records; columns.bin with 2 fields: {size / 2**20:.1f} MB; checkpoint "
          f"{plain_checkpoint:.2f} s without columns, {columns_checkpoint:.2f} s with")  # fmt: skip
    print_table("the first filter in a fresh process (medians)", rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
