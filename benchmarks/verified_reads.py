"""What verifying every returned or ranked vector costs: searches and checkpoints.

Every search checks the checksums of its hits (``CollectionStore.verify_rows``), and every
checkpoint computes the checksums of the rows written since the last one. Both run in a
numba XXH3-64 (``vectordb/storage/checksum_kernels.py``) once it is loaded, and through the
xxhash binding, one call per row, before. Measured in the same run, alternating:

- ``verify_rows`` of k = 10 rows: compiled, xxhash loop;
- HNSW single queries (100k x 128, ef=64) with verification compiled, through xxhash, and
  switched off (the baseline: what a search cost before verification existed);
- a checkpoint's checksums of 100k x 128 new rows: compiled against the xxhash loop.

``python benchmarks/verified_reads.py`` (~1 min), ``--quick`` for a smoke run; JSON to
``results/verified_reads.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import machine, print_table

import vectordb
from vectordb.storage import collection_store

RESULTS = Path(__file__).parent / "results"


def _per_call(function: Any, calls: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean seconds per call over ``calls`` calls."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    queries = 200 if args.quick else 2_000
    rounds = 3 if args.quick else 7
    kernels = collection_store.load_checksum_kernels()
    rng = np.random.default_rng(0)
    data = rng.standard_normal((n, 128)).astype(np.float32)
    results: dict[str, Any] = {"machine": machine(), "n": n, "dim": 128}
    with tempfile.TemporaryDirectory() as tmp, vectordb.open(Path(tmp) / "db") as db:
        docs = db.create_collection("docs", dim=128, metric="euclidean", index="hnsw")
        docs.add(data)
        docs.wait_indexed()
        db.checkpoint()
        store = db._engine.collections.states["docs"].store
        hits = list(rng.choice(n, 10, replace=False))
        original = collection_store._checksum_kernels

        def as_xxhash() -> None:
            collection_store._checksum_kernels = None

        def as_compiled() -> None:
            collection_store._checksum_kernels = original

        verify_rows: dict[str, float] = {}
        for name, setup in (("compiled", as_compiled), ("xxhash", as_xxhash)):
            setup()
            verify_rows[name] = _per_call(lambda: store.verify_rows(hits), 2_000, rounds)
        as_compiled()
        results["verify_10_rows_us"] = {k: v * 1e6 for k, v in verify_rows.items()}

        unverified = collection_store.CollectionStore.verify_rows
        query_set = data[rng.choice(n, queries, replace=False)]

        def search_all() -> None:
            for query in query_set:
                docs.search(query, k=10, ef=64)

        search: dict[str, list[float]] = {"compiled": [], "xxhash": [], "off": []}
        names = list(search)
        for round_ in range(rounds):  # alternated, in a rotating order: drift hits each alike
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                if name == "off":
                    collection_store.CollectionStore.verify_rows = (  # type: ignore[method-assign]
                        lambda self, rows: None
                    )
                elif name == "xxhash":
                    as_xxhash()
                start = time.perf_counter()
                search_all()
                search[name].append(queries / (time.perf_counter() - start))
                collection_store.CollectionStore.verify_rows = unverified  # type: ignore[method-assign]
                as_compiled()
        qps = {name: statistics.median(values) for name, values in search.items()}
        results["hnsw_single_query_qps"] = qps

        rows = np.arange(n, dtype=np.int64)
        raw = store.vectors.rows.view(np.uint8)
        import xxhash

        digest = xxhash.xxh3_64_intdigest
        memory = store.vectors.rows[:n].reshape(-1).view(np.uint8).data
        row_bytes = store.vectors.row_bytes

        def python_loop() -> None:
            for row in range(n):
                digest(memory[row * row_bytes : (row + 1) * row_bytes])

        checksums = {
            "compiled": _per_call(lambda: kernels.row_checksums(raw, rows), 1, rounds),
            "xxhash": _per_call(python_loop, 1, rounds),
        }
        results["checkpoint_checksums_ms"] = {k: v * 1e3 for k, v in checksums.items()}

    print_table("verify_rows, 10 rows of 128-d (us per call)", [
        {"path": name, "us": value * 1e6, "vs xxhash": verify_rows["xxhash"] / value}
        for name, value in verify_rows.items()
    ])  # fmt: skip
    print_table(f"HNSW single queries, {n:,} x 128, ef=64, k=10 (QPS, median of {rounds})", [
        {"verification": name, "QPS": value, "vs off": value / qps["off"]}
        for name, value in qps.items()
    ])  # fmt: skip
    print_table(f"checksums of {n:,} new rows at a checkpoint (ms)", [
        {"path": name, "ms": value * 1e3, "vs xxhash": checksums["xxhash"] / value}
        for name, value in checksums.items()
    ])  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "verified_reads.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
