"""Ingest, open and exact-search benchmark for vectordb, with numpy baselines in the same run.

Usage:
    python benchmarks/ingest.py                 # full run (10k / 100k / 1M x 128), ~5-10 min
    python benchmarks/ingest.py --quick         # tiny sizes, a smoke test of the script
    python benchmarks/ingest.py --out results.json

Prints tables and writes JSON (default: benchmarks/results/ingest.json). Every figure is the
median of several repeats; ratios compare against baselines measured in this same run, because
the machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import machine, median_time, print_table

import vectordb
from vectordb.index import jit

DIM = 128
BATCH = 10_000


def bench_ingest(workdir: Path, sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        for durability in ("full", "normal", "off"):
            rates, batch_latencies, close_times = [], [], []
            for repeat in range(repeats):
                path = workdir / f"ingest-{n}-{durability}-{repeat}"
                db = vectordb.open(path, config={"durability": durability})
                collection = db.create_collection("bench", dim=DIM, metric="euclidean")
                start = time.perf_counter()
                for first in range(0, n, BATCH):
                    t0 = time.perf_counter()
                    collection.add(vectors[first : first + BATCH])
                    batch_latencies.append(time.perf_counter() - t0)
                rates.append(n / (time.perf_counter() - start))
                t0 = time.perf_counter()
                db.close()
                close_times.append(time.perf_counter() - t0)
                shutil.rmtree(path)
            rows.append(
                {
                    "n": n,
                    "durability": durability,
                    "vectors_per_s": statistics.median(rates),
                    "batch_10k_ms_median": 1000 * statistics.median(batch_latencies),
                    "close_checkpoint_s": statistics.median(close_times),
                }
            )
    return rows


def bench_open_first_query(workdir: Path, n: int, repeats: int) -> dict[str, Any]:
    path = workdir / "open-bench"
    rng = np.random.default_rng(1)
    with vectordb.open(path, config={"durability": "off"}) as db:
        collection = db.create_collection("bench", dim=DIM, metric="euclidean")
        for first in range(0, n, 100_000):
            collection.add(rng.standard_normal((min(100_000, n - first), DIM)).astype(np.float32))
    script = (
        "import time; t0 = time.perf_counter(); import vectordb, numpy as np; "
        "t1 = time.perf_counter();"
        f"db = vectordb.open({str(path)!r}); c = db.get_collection('bench');"
        f"hits = c.search(np.ones({DIM}, np.float32), k=10); t2 = time.perf_counter();"
        "assert len(hits) == 10; print(t1 - t0, t2 - t1); db.close()"
    )
    imports, opens = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "VECTORDB_NO_WARMUP": "1"},
        )
        import_s, open_s = map(float, out.stdout.split())
        imports.append(import_s)
        opens.append(open_s)
    shutil.rmtree(path)
    return {
        "n": n,
        "import_s": statistics.median(imports),
        "open_and_first_query_s": statistics.median(opens),
    }


def numpy_topk(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The baseline: matmul + argpartition + sort of the k (inner product, larger first)."""
    scores = queries @ vectors.T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def bench_search(workdir: Path, n: int, n_queries: int, repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    queries = rng.standard_normal((n_queries, DIM)).astype(np.float32)
    path = workdir / "search-bench"
    results = []
    jit.load_kernels()
    with vectordb.open(path, config={"durability": "off"}) as db:
        collection = db.create_collection("bench", dim=DIM, metric="dot")
        for first in range(0, n, 100_000):
            collection.add(
                vectors[first : first + 100_000],
                ids=[str(i) for i in range(first, min(n, first + 100_000))],
            )
        # correctness guard: same answers as the baseline
        ours = collection.search_batch(queries[:20], k=10, include=())
        base = numpy_topk(vectors, queries[:20], 10)
        agree = np.mean(
            [[h.id for h in hits] == [str(i) for i in row] for hits, row in zip(ours, base)]
        )
        matmul = median_time(lambda: queries @ vectors.T, repeats)
        baseline = median_time(lambda: numpy_topk(vectors, queries, 10), repeats)
        for mode in ("numba", "numpy"):
            elapsed = median_time(
                lambda mode=mode: collection.search_batch(queries, k=10, include=(), mode=mode),
                repeats,
            )
            results.append(
                {
                    "what": f"batch of {n_queries}, mode={mode}",
                    "n": n,
                    "qps": n_queries / elapsed,
                    "numpy_qps": n_queries / baseline,
                    "ratio_vs_numpy": baseline / elapsed,
                    "share_of_matmul_speed": matmul / elapsed,
                    "top10_agreement": float(agree),
                }
            )
        single = queries[:200]
        base_single = median_time(
            lambda: [numpy_topk(vectors, q[None, :], 10) for q in single], repeats
        )
        for mode in ("numba", "numpy"):
            elapsed = median_time(
                lambda mode=mode: [collection.search(q, k=10, mode=mode) for q in single], repeats
            )
            results.append(
                {
                    "what": f"single queries, mode={mode}",
                    "n": n,
                    "qps": len(single) / elapsed,
                    "numpy_qps": len(single) / base_single,
                    "ratio_vs_numpy": base_single / elapsed,
                    "share_of_matmul_speed": None,
                    "top10_agreement": float(agree),
                }
            )
    shutil.rmtree(path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to write the databases (default: a temp directory)",
    )
    args = parser.parse_args()
    if args.quick:
        sizes, open_n, search_n, n_queries, repeats = [2_000, 20_000], 20_000, 20_000, 50, 2
    else:
        sizes, open_n, search_n, n_queries, repeats = (
            [10_000, 100_000, 1_000_000],
            1_000_000,
            1_000_000,
            1000,
            3,
        )
    workdir = Path(tempfile.mkdtemp(dir=args.workdir, prefix="vectordb-bench-"))
    try:
        report = {
            "machine": machine(),
            "dim": DIM,
            "batch": BATCH,
            "ingest": bench_ingest(workdir, sizes, repeats),
            "open": bench_open_first_query(workdir, open_n, repeats),
            "search": bench_search(workdir, search_n, n_queries, repeats),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"machine: {report['machine']}")
    print_table(f"add() throughput, {DIM}-d, batches of {BATCH}", report["ingest"])
    print_table("open + first query (fresh process, warm page cache)", [report["open"]])
    print_table("exact search, k=10", report["search"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
