"""Import and export benchmark: n x 128 float32 records through Parquet, with plain add() from
memory as the baseline in the same run.

Usage:
    python benchmarks/transfer.py               # 1,000,000 records (a few minutes, ~3 GB disk)
    python benchmarks/transfer.py --quick       # 50,000 records, a smoke test of the script
    python benchmarks/transfer.py --n 200000 --out results.json

Each step runs in a fresh Python process so that its peak resident memory (ru_maxrss) is its
own: ``peak_rss_mb`` is that peak, ``rss_growth_mb`` the peak minus the process's resident
memory just before the step (after importing pyarrow and opening the database). The database uses
durability "normal". Prints a markdown table and writes JSON (default:
benchmarks/results/transfer.json).
"""

from __future__ import annotations

import argparse
import json
import resource
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
from vectordb.transfer.export import export_collection
from vectordb.transfer.load import import_records

DIM = 128
CHUNK = 100_000  # rows generated at a time when writing the source file


def write_source(path: Path, n: int) -> None:
    """The Parquet file to import: ids ``id-<i>``, random vectors, small JSON metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    schema = pa.schema(
        [("id", pa.string()), ("vector", pa.list_(pa.float32(), DIM)), ("metadata", pa.string())]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for first in range(0, n, CHUNK):
            rows = range(first, min(n, first + CHUNK))
            vectors = rng.standard_normal((len(rows), DIM)).astype(np.float32)
            table = pa.Table.from_arrays(
                [
                    pa.array([f"id-{i}" for i in rows]),
                    pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM),
                    pa.array([f'{{"i": {i}, "group": {i % 10}}}' for i in rows]),
                ],
                schema=schema,
            )
            writer.write_table(table, row_group_size=CHUNK)


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def run_step(step: str, source: Path, db_path: Path, batch_size: int) -> dict[str, Any]:
    """One measured step, in this process (the parent runs it as a child process)."""
    # pyarrow is loaded before the baseline is taken: its ~100 MB are not the step's
    import pyarrow.compute
    import pyarrow.parquet

    del pyarrow
    with vectordb.open(db_path, config={"durability": "normal"}) as db:
        if step == "export_parquet":
            collection = db.get_collection("bench")
        else:
            collection = db.create_collection("bench", dim=DIM, metric="euclidean")
        vectors = ids = metadata = None
        if step == "add_from_memory":
            # the baseline gets its input in memory before the clock starts, as add() would
            import pyarrow.parquet as pq

            table = pq.read_table(source)
            vectors = table.column("vector").combine_chunks().flatten().to_numpy()
            vectors = vectors.reshape(-1, DIM)
            ids = table.column("id").to_pylist()
            metadata = [json.loads(text) for text in table.column("metadata").to_pylist()]
            del table
        before = _rss_mb()
        start = time.perf_counter()
        if step == "import_parquet":
            rows = import_records(collection, source, batch_size=batch_size).imported
        elif step == "export_parquet":
            rows = export_collection(collection, source, batch_size=batch_size)
        else:
            assert vectors is not None and ids is not None and metadata is not None
            for first in range(0, len(ids), batch_size):
                stop = first + batch_size
                collection.add(
                    vectors[first:stop], ids=ids[first:stop], metadata=metadata[first:stop]
                )
            rows = len(ids)
        seconds = time.perf_counter() - start
        close_start = time.perf_counter()
    close_s = time.perf_counter() - close_start
    return {
        "rows": rows,
        "seconds": seconds,
        "close_s": close_s,
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": before,
    }


def measure(step: str, source: Path, db_path: Path, batch_size: int) -> dict[str, Any]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            *("--step", step, "--source", str(source), "--db", str(db_path)),
            *("--batch-size", str(batch_size)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{output.stderr}")
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def bench(workdir: Path, n: int, batch_size: int, repeats: int) -> list[dict[str, Any]]:
    source = workdir / "source.parquet"
    start = time.perf_counter()
    write_source(source, n)
    print(f"wrote {n:,} x {DIM} source rows in {time.perf_counter() - start:.1f} s", flush=True)
    steps = [
        ("add_from_memory", "add() from memory (baseline)"),
        ("import_parquet", "import_records(.parquet)"),
        ("export_parquet", "export_collection(.parquet)"),
    ]
    rows = []
    for step, label in steps:
        runs = []
        for repeat in range(repeats):
            db_path = workdir / f"db-{repeat}"
            if step != "export_parquet":
                shutil.rmtree(db_path, ignore_errors=True)
            target = workdir / f"export-{repeat}.parquet" if step == "export_parquet" else source
            runs.append(measure(step, target, db_path, batch_size))
            print(f"{label}: {runs[-1]['seconds']:.2f} s", flush=True)
        seconds = statistics.median(run["seconds"] for run in runs)
        peak = max(run["peak_rss_mb"] for run in runs)
        rows.append(
            {
                "step": label,
                "n": n,
                "seconds": seconds,
                "rows_per_s": n / seconds,
                "close_s": statistics.median(run["close_s"] for run in runs),
                "peak_rss_mb": peak,
                "rss_growth_mb": max(run["peak_rss_mb"] - run["rss_before_mb"] for run in runs),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 records (smoke test)")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "transfer.json"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to write files (default: a temp dir)"
    )
    # internal: one measured step in a child process
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.source, args.db, args.batch_size)))
        return
    n = 50_000 if args.quick else args.n
    workdir = Path(tempfile.mkdtemp(dir=args.workdir, prefix="vectordb-transfer-"))
    try:
        report = {
            "machine": machine(),
            "dim": DIM,
            "batch_size": args.batch_size,
            "durability": "normal",
            "transfer": bench(workdir, n, args.batch_size, args.repeats),
            "source_mb": (workdir / "source.parquet").stat().st_size / 2**20,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"machine: {report['machine']}")
    print_table(
        f"Parquet import / export, {n:,} x {DIM} float32, batches of {args.batch_size:,}",
        report["transfer"],
    )
    print(f"\nsource file: {report['source_mb']:,.1f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
