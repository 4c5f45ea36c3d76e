"""Filtered search: vectordb's planner against pure pre-filtering, pure post-filtering, the
numpy mask + subset scan a user could write in three lines, raw hnswlib with a Python
``filter=`` callback and Chroma's ``where=``, in the same run.

Usage:
    python benchmarks/filtered.py            # 100k x 128 clustered, HNSW, ~6 min on 2 cores
    python benchmarks/filtered.py --quick    # 20k x 32
    python benchmarks/filtered.py --chroma-python /path/to/venv/bin/python   # Chroma too

Metadata: ``cat`` (categorical, 1000 values), ``score`` (uniform in [0, 1)) and ``group``
(the nearest of 100 anchor rows); filters of 0.1 %, 1 %, 10 %, 50 % and 90 % selectivity on
``cat`` / ``score``, plus one that excludes each query's own neighbourhood (``group`` not the
query's: 99 % of rows allowed, none of the nearest). For each: single-query QPS and
recall@10 (against exact search over the matching subset) of

- ``planner``: ``collection.search(q, where=...)``;
- ``pre-filter``: ``search(q, where=..., exact=True)`` (always the exact subset scan);
- ``post-filter``: the graph asked for 10 x k hits, filtered afterwards, no fallback (what a
  user gets from an unfiltered ANN and a list comprehension);
- ``numpy mask + scan``: a boolean mask over a metadata array, then ``argpartition`` over the
  masked vectors (the baseline the targets are stated against);
- ``hnswlib filter=``: a raw hnswlib graph (same M, ef_construction, ef) searched with
  ``knn_query(q, k, filter=allowed.__getitem__)``, a Python call per visited node;
- ``Chroma where=``: ``chromadb.PersistentClient`` (cosine), run by ``--chroma-python`` (or
  this Python if it has chromadb) through ``chroma_runner.py``.

JSON to ``benchmarks/results/filtered.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ann import clustered
from support import machine, print_table

import vectordb

K = 10
EF = 64


def _timed(function: Any, queries: np.ndarray) -> tuple[float, list[Any]]:
    """QPS of ``function(i, query)`` over the queries, and its results."""
    started = time.perf_counter()
    results = [function(i, query) for i, query in enumerate(queries)]
    return len(queries) / (time.perf_counter() - started), results


def _recall(found: list[set[str]], truth: list[set[str]]) -> float:
    return float(np.mean([len(f & t) / max(len(t), 1) for f, t in zip(found, truth)]))


def _chroma(
    python: str, work: Path, data: np.ndarray, queries: np.ndarray, metadata: list[Any],
    filters: list[tuple[str, list[dict[str, Any]], Any]],
) -> dict[str, Any] | None:  # fmt: skip
    """Run ``chroma_runner.py`` with ``python``; per filter label: QPS and ids per query.
    A per-query filter (the excluded neighbourhood) is skipped: Chroma takes one at a time."""
    folder = work / "chroma-run"
    folder.mkdir()
    np.save(folder / "data.npy", data)
    np.save(folder / "queries.npy", queries)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    shared = [(label, w[0]) for label, w, _ in filters if len(set(map(repr, w))) == 1]
    (folder / "filters.json").write_text(json.dumps(shared))
    runner = Path(__file__).with_name("chroma_runner.py")
    done = subprocess.run([python, str(runner), str(folder)], check=False)
    if done.returncode != 0:
        print(f"chroma_runner.py failed ({done.returncode}); Chroma not measured", flush=True)
        return None
    result: dict[str, Any] = json.loads((folder / "chroma.json").read_text())
    return result


def _measure(
    docs: vectordb.Collection, raw: Any, unit: np.ndarray, queries: np.ndarray, label: str,
    wheres: list[dict[str, Any]], masks: list[np.ndarray], callback_queries: int,
    unfiltered_qps: float,
) -> dict[str, Any]:  # fmt: skip
    """One row of the table: every method on one filter (``wheres[i]`` / ``masks[i]``: the
    filter of query ``i``)."""
    truth = [
        {h.id for h in docs.search(q, k=K, where=w, exact=True, include=())}
        for q, w in zip(queries, wheres)
    ]
    plan = docs.explain(wheres[0])

    def planner(i: int, q: np.ndarray) -> set[str]:
        return {h.id for h in docs.search(q, k=K, where=wheres[i], include=())}

    def pre_filter(i: int, q: np.ndarray) -> set[str]:
        return {h.id for h in docs.search(q, k=K, where=wheres[i], exact=True, include=())}

    shared = masks[0] is masks[-1]
    allowed_ids = [
        set(np.flatnonzero(m).astype(str).tolist()) for m in masks[: 1 if shared else None]
    ]
    allowed_lists = [m.tolist() for m in masks[: 1 if shared else None]]

    def post_filter(i: int, q: np.ndarray) -> set[str]:
        allowed = allowed_ids[0 if shared else i]
        hits = docs.search(q, k=10 * K, include=())
        return set([h.id for h in hits if h.id in allowed][:K])

    def numpy_scan(i: int, q: np.ndarray) -> set[str]:
        chosen = np.flatnonzero(masks[i])
        scores = unit[chosen] @ (q / np.linalg.norm(q))
        top = chosen[np.argpartition(-scores, min(K, len(chosen)) - 1)[:K]]
        return set(top.astype(str).tolist())

    def callback(i: int, q: np.ndarray) -> set[str]:
        allowed = allowed_lists[0 if shared else i]
        try:
            labels, _ = raw.knn_query(q, k=K, filter=allowed.__getitem__)
        except RuntimeError:  # hnswlib found fewer than k
            return set()
        return set(labels[0].astype(str).tolist())

    planner_qps, planner_found = _timed(planner, queries)
    pre_qps, _ = _timed(pre_filter, queries)
    post_qps, post_found = _timed(post_filter, queries)
    numpy_qps, _ = _timed(numpy_scan, queries)
    callback_qps, callback_found = _timed(callback, queries[:callback_queries])
    return {
        "selectivity": label,
        "plan": plan["plan"],
        "planner QPS": planner_qps,
        "planner recall": _recall(planner_found, truth),
        "pre-filter QPS": pre_qps,
        "post-filter QPS": post_qps,
        "post-filter recall": _recall(post_found, truth),
        "numpy mask+scan QPS": numpy_qps,
        "hnswlib filter= QPS": callback_qps,
        "hnswlib filter= recall": _recall(callback_found, truth[:callback_queries]),
        "planner / numpy": planner_qps / numpy_qps,
        "planner / unfiltered": planner_qps / unfiltered_qps,
        "_truth": truth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    # hnswlib's filter= callback is slow on selective filters: fewer queries for it
    parser.add_argument("--callback-queries", type=int, default=50)
    parser.add_argument("--chroma-python", default=os.environ.get("VECTORDB_CHROMA_PYTHON"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "filtered.json"
    )
    args = parser.parse_args()
    n, dim, n_queries = (20_000, 32, 100) if args.quick else (args.n, args.dim, args.queries)
    chroma_python = args.chroma_python
    if chroma_python is None and importlib.util.find_spec("chromadb") is not None:
        chroma_python = sys.executable
    rng = np.random.default_rng(0)
    data = clustered(rng, n + n_queries, dim)
    data, queries = data[:n], data[n:]
    cat = np.arange(n) % 1000
    score = rng.random(n)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    unit_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    anchors = unit[rng.choice(n, 100, replace=False)]
    group = np.argmax(unit @ anchors.T, axis=1)
    query_group = np.argmax(unit_queries @ anchors.T, axis=1)

    def same(where: dict[str, Any], mask: np.ndarray) -> tuple[list[Any], list[Any]]:
        return [where] * n_queries, [mask] * n_queries

    filters: list[tuple[str, list[dict[str, Any]], list[np.ndarray]]] = [
        ("0.1%", *same({"cat": 7}, cat == 7)),
        ("1%", *same({"cat": {"$lt": 10}}, cat < 10)),
        ("10%", *same({"score": {"$lt": 0.1}}, score < 0.1)),
        ("50%", *same({"cat": {"$gte": 500}}, cat >= 500)),
        ("90%", *same({"score": {"$lt": 0.9}}, score < 0.9)),
        ("99%, own neighbourhood excluded",
         [{"group": {"$ne": int(g)}} for g in query_group],
         [group != g for g in query_group]),
    ]  # fmt: skip
    metadata = [{"cat": int(c), "score": float(s), "group": int(g)}
                for c, s, g in zip(cat, score, group)]  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="vectordb-filtered-"))
    rows: list[dict[str, Any]] = []
    chroma = None
    try:
        if chroma_python:
            chroma = _chroma(chroma_python, work, data, queries, metadata, filters)
        import hnswlib

        raw = hnswlib.Index(space="cosine", dim=dim)
        raw.init_index(max_elements=n, M=16, ef_construction=200, random_seed=100)
        raw.add_items(data, np.arange(n))
        raw.set_ef(EF)
        with vectordb.open(work / "db", config={"durability": "normal"}) as db:
            docs = db.create_collection("docs", dim=dim, index="hnsw")
            ids = [str(i) for i in range(n)]
            for first in range(0, n, 10_000):
                docs.add(data[first : first + 10_000], ids=ids[first : first + 10_000],
                         metadata=metadata[first : first + 10_000])  # fmt: skip
            docs.wait_indexed()
            docs.warmup()
            for where in ({"cat": 0}, {"score": {"$lt": 0.5}}, {"group": 0}):
                docs.count(where=where)  # builds the metadata columns once
            unfiltered_qps, _ = _timed(lambda i, q: docs.search(q, k=K, include=()), queries)
            for label, wheres, masks in filters:
                row = _measure(docs, raw, unit, queries, label, wheres, masks,
                               args.callback_queries, unfiltered_qps)  # fmt: skip
                if chroma is not None:
                    measured = chroma["filters"].get(label)
                    row["Chroma QPS"] = measured["qps"] if measured else "-"
                    row["Chroma recall"] = (
                        _recall([set(f) for f in measured["ids"]], row.pop("_truth"))
                        if measured
                        else "-"
                    )
                    row["planner / Chroma"] = (
                        row["planner QPS"] / measured["qps"] if measured else "-"
                    )
                row.pop("_truth", None)
                rows.append(row)
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
        "callback_queries": args.callback_queries,
        "unfiltered_hnsw_qps": unfiltered_qps,
        "filter_evaluation_ms": evaluate_ms,
        "chroma": None if chroma is None else {k: v for k, v in chroma.items() if k != "filters"},
        "rows": rows,
    }
    print(f"machine: {report['machine']}")
    print(f"data: {n} x {dim} clustered, {n_queries} queries, cosine, k={K}, HNSW M=16 ef={EF}")
    print(f"unfiltered HNSW: {unfiltered_qps:,.0f} QPS; evaluating a filter over {n} rows: "
          f"{evaluate_ms:.2f} ms")  # fmt: skip
    if chroma is None:
        print("Chroma: not measured (no --chroma-python and chromadb not importable here)")
    else:
        print(f"Chroma {chroma['chromadb']}: loaded {n} vectors in {chroma['load_s']:.1f} s")
    print_table("filtered search, single queries", rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
