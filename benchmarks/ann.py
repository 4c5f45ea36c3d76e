"""Approximate search benchmark: vectordb's HNSW, IVF, flat and quantized indexes against raw
hnswlib and numpy brute force, measured in the same run on the same data.

Usage:
    python benchmarks/ann.py                  # 100k x 128 clustered, ~10 min on 2 cores
    python benchmarks/ann.py --quick          # 10k x 32, a smoke test of the script
    python benchmarks/ann.py --n 50000 --dim 64
    python benchmarks/ann.py --only compressed   # only the IVF / quantization table
    python benchmarks/ann.py --vectors emb.npy   # your own (n, dim) float32 embeddings; the
                                                 # last --queries rows are the queries

For IVF and each quantization (flat and IVF): build time (``add()`` plus ``wait_indexed()``,
training included), single-query and batch QPS, recall@10 after exact re-scoring and the
memory of the scanned codes, next to vectordb's float32 flat scan and numpy brute force.

For HNSW: build time (vectordb: ``add()`` plus ``wait_indexed()``; hnswlib: ``add_items``
with the same M, ef_construction and threads), single-query QPS and recall@10 at several ef,
batch QPS, and memory. Prints markdown tables, writes JSON to ``benchmarks/results/ann.json``
and, when matplotlib is installed (``pip install -e ".[bench]"``), a recall-vs-QPS plot
``benchmarks/results/ann.png``. Every time is a median of repeats.

The data: clusters that each span a random 16-dimensional subspace plus a little noise (real
embeddings have a low intrinsic dimension); queries are held-out points of the same
distribution. Ground truth is exact search in float64.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np
from support import machine, median_time, print_table

import vectordb
from vectordb.index import jit

K = 10
M = 16
EF_CONSTRUCTION = 200
EFS = (16, 32, 64, 128, 256)


def clustered(rng: np.random.Generator, n: int, dim: int, clusters: int = 100) -> np.ndarray:
    latent = 16
    centres = rng.standard_normal((clusters, dim)) * 2
    labels = rng.integers(0, clusters, n)
    bases = rng.standard_normal((clusters, latent, dim)) / np.sqrt(latent)
    points = centres[labels] + np.einsum(
        "nl,nld->nd", rng.standard_normal((n, latent)), bases[labels]
    )
    return (points + 0.05 * rng.standard_normal((n, dim))).astype(np.float32)


def ground_truth(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact top-k by cosine similarity, float64."""
    d = data.astype(np.float64)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.argsort(-(q @ d.T), axis=1)[:, :K]


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def numpy_brute_force(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    scores = queries @ unit.T
    part = np.argpartition(-scores, K - 1, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def build_raw_hnswlib(data: np.ndarray) -> tuple[Any, dict[str, Any]]:
    graph = hnswlib.Index(space="cosine", dim=data.shape[1])
    graph.init_index(max_elements=len(data), ef_construction=EF_CONSTRUCTION, M=M, random_seed=100)
    started = time.perf_counter()
    graph.add_items(data, np.arange(len(data)))
    build = time.perf_counter() - started
    per_element = data.shape[1] * 4 + 2 * M * 4 + 4 + 8 + 8
    summary = {
        "system": "raw hnswlib",
        "build_s": build,
        "memory_mb": len(data) * per_element / 2**20,
    }
    return graph, summary


def build_vectordb_hnsw(
    db: vectordb.Database, data: np.ndarray, queries: np.ndarray
) -> tuple[vectordb.Collection, dict[str, Any]]:
    collection = db.create_collection(
        "bench",
        dim=data.shape[1],
        metric="cosine",
        index="hnsw",
        hnsw={"M": M, "ef_construction": EF_CONSTRUCTION},
    )
    ids = [str(i) for i in range(len(data))]
    started = time.perf_counter()
    for first in range(0, len(data), 10_000):
        collection.add(data[first : first + 10_000], ids=ids[first : first + 10_000])
    added = time.perf_counter() - started
    # a search while the graph is still being built: exact over the not-yet-indexed rows
    assert len(collection.search(queries[0], k=K, include=())) == K
    collection.wait_indexed()
    build = time.perf_counter() - started
    summary = {
        "system": "vectordb hnsw",
        "build_s": build,
        "add_returned_s": added,
        "add_vectors_per_s": len(data) / added,
        "memory_mb": collection.stats().memory_bytes / 2**20,
    }
    return collection, summary


def compare_search(
    graph: Any,
    collection: vectordb.Collection,
    queries: np.ndarray,
    truth: np.ndarray,
    repeats: int,
) -> list[dict[str, Any]]:
    """For each ef, time raw hnswlib and vectordb alternately (so drift on a shared machine
    hits both alike) and keep the medians."""
    points = []
    for ef in EFS:
        graph.set_ef(ef)
        raw_found = [graph.knn_query(q, k=K, num_threads=1)[0][0].tolist() for q in queries]
        ours_found = [
            [int(h.id) for h in collection.search(q, k=K, ef=ef, include=())] for q in queries
        ]
        times: dict[str, list[float]] = {"raw1": [], "ours1": [], "rawb": [], "oursb": []}
        for _ in range(repeats):
            times["raw1"].append(
                median_time(lambda: [graph.knn_query(q, k=K, num_threads=1) for q in queries], 1)
            )
            times["ours1"].append(
                median_time(
                    lambda ef=ef: [collection.search(q, k=K, ef=ef, include=()) for q in queries],
                    1,
                )
            )
            times["rawb"].append(median_time(lambda: graph.knn_query(queries, k=K), 1))
            times["oursb"].append(
                median_time(
                    lambda ef=ef: collection.search_batch(queries, k=K, ef=ef, include=()), 1
                )
            )
        median = {key: float(np.median(value)) for key, value in times.items()}
        n = len(queries)
        for system, found, single, batch in (
            ("raw hnswlib", raw_found, median["raw1"], median["rawb"]),
            ("vectordb hnsw", ours_found, median["ours1"], median["oursb"]),
        ):
            points.append(
                {
                    "system": system,
                    "ef": ef,
                    "recall@10": recall(found, truth),
                    "single_qps": n / single,
                    "batch_qps": n / batch,
                }
            )
    return points


def bench_exact(
    workdir: Path, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, repeats: int
) -> list[dict[str, Any]]:
    rows = []
    found = numpy_brute_force(data, queries)
    elapsed = median_time(lambda: numpy_brute_force(data, queries), repeats)
    rows.append(
        {
            "system": "numpy brute force (batch)",
            "recall@10": recall(found.tolist(), truth),
            "batch_qps": len(queries) / elapsed,
        }
    )
    with vectordb.open(workdir / "flat", config={"durability": "off"}) as db:
        collection = db.create_collection("bench", dim=data.shape[1], metric="cosine")
        collection.add(data, ids=[str(i) for i in range(len(data))])
        vectordb_flat = collection.search_batch(queries, k=K, include=(), mode="numba")
        elapsed = median_time(
            lambda: collection.search_batch(queries, k=K, include=(), mode="numba"), repeats
        )
        rows.append(
            {
                "system": "vectordb flat (batch)",
                "recall@10": recall([[int(h.id) for h in hits] for hits in vectordb_flat], truth),
                "batch_qps": len(queries) / elapsed,
            }
        )
    return rows


COMPRESSED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("flat float32 (exact)", {}, {}),
    ("flat float16", {"quantization": "float16"}, {}),
    ("flat int8", {"quantization": "int8"}, {}),
    ("flat int4", {"quantization": "int4"}, {}),
    ("flat binary", {"quantization": "binary"}, {}),
    ("flat pq", {"quantization": "pq"}, {}),
    ("ivf", {"index": "ivf"}, {}),
    ("ivf nprobe=2x", {"index": "ivf"}, {"nprobe_factor": 2}),
    ("ivf int8", {"index": "ivf", "quantization": "int8"}, {}),
    ("ivf pq", {"index": "ivf", "quantization": "pq"}, {}),
]


def bench_compressed(
    workdir: Path, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, repeats: int
) -> list[dict[str, Any]]:
    """One collection per configuration; single-query QPS over the first 200 queries."""
    rows = []
    singles = queries[:200]
    found = numpy_brute_force(data, queries)
    single_numpy = median_time(
        lambda: [numpy_brute_force(data, q[None, :]) for q in singles], repeats
    )
    batch_numpy = median_time(lambda: numpy_brute_force(data, queries), repeats)
    float32_bytes = data.nbytes
    rows.append(
        {
            "index": "numpy brute force",
            "build_s": 0.0,
            "recall@10": recall(found.tolist(), truth),
            "single_qps": len(singles) / single_numpy,
            "batch_qps": len(queries) / batch_numpy,
            "vector_mb": float32_bytes / 2**20,
            "x smaller": 1.0,
        }
    )
    ids = [str(i) for i in range(len(data))]
    for position, (name, settings, extra) in enumerate(COMPRESSED):
        with vectordb.open(workdir / f"c{position}", config={"durability": "normal"}) as db:
            collection = db.create_collection(
                "bench", dim=data.shape[1], metric="cosine", **settings
            )
            started = time.perf_counter()
            for first in range(0, len(data), 10_000):
                collection.add(data[first : first + 10_000], ids=ids[first : first + 10_000])
            collection.wait_indexed()
            build = time.perf_counter() - started
            info = collection.stats().index_info or {}
            knobs: dict[str, Any] = {}
            if "nprobe_factor" in extra:
                knobs["nprobe"] = int(info["nprobe"]) * int(extra["nprobe_factor"])
            search = dict(include=(), **knobs)
            collection.search_batch(queries[:50], k=K, **search)  # kernels loaded, pages in
            got = collection.search_batch(queries, k=K, **search)
            single = median_time(
                lambda c=collection, s=search: [c.search(q, k=K, **s) for q in singles], repeats
            )
            batch = median_time(
                lambda c=collection, s=search: c.search_batch(queries, k=K, **s), repeats
            )
            codes = info.get("vector_memory_bytes", float32_bytes)
            label = name
            if info.get("nlist"):
                label += f" (nlist {info['nlist']}, nprobe {knobs.get('nprobe', info['nprobe'])})"
            rows.append(
                {
                    "index": label,
                    "build_s": build,
                    "recall@10": recall([[int(h.id) for h in hits] for hits in got], truth),
                    "single_qps": len(singles) / single,
                    "batch_qps": len(queries) / batch,
                    "vector_mb": codes / 2**20,
                    "x smaller": float32_bytes / codes if codes else 0.0,
                }
            )
            print(rows[-1], flush=True)
    base = rows[1]  # vectordb flat float32
    for row in rows:
        row["single vs flat"] = row["single_qps"] / base["single_qps"]
        row["batch vs flat"] = row["batch_qps"] / base["batch_qps"]
    return rows


def plot(points: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(6, 4))
    for system in sorted({p["system"] for p in points}):
        mine = [p for p in points if p["system"] == system]
        axis.plot(
            [p["recall@10"] for p in mine], [p["single_qps"] for p in mine], "o-", label=system
        )
        for p in mine:
            axis.annotate(f"ef={p['ef']}", (p["recall@10"], p["single_qps"]), fontsize=7)
    axis.set_xlabel("recall@10")
    axis.set_ylabel("single-query QPS")
    axis.set_yscale("log")
    axis.grid(True, alpha=0.3)
    axis.legend()
    axis.set_title("HNSW, recall vs QPS (same run, same data)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k x 32 (smoke test)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ann.json")
    parser.add_argument(
        "--only", choices=["hnsw", "compressed"], help="run one part (default: both)"
    )
    parser.add_argument("--vectors", type=Path, help="a .npy file of real embeddings to use")
    args = parser.parse_args()
    n, dim, n_queries, repeats = args.n, args.dim, args.queries, 5
    if args.quick:
        n, dim, n_queries, repeats = 10_000, 32, 100, 2
    rng = np.random.default_rng(0)
    if args.vectors is not None:
        points_all = np.ascontiguousarray(np.load(args.vectors), np.float32)
        n, dim = len(points_all) - n_queries, points_all.shape[1]
    else:
        points_all = clustered(rng, n + n_queries, dim)
    data, queries = points_all[:n], points_all[n:]
    truth = ground_truth(data, queries)
    # load the numba kernels first (as ingest.py does): their one-time warm-up at the first
    # open of a process holds the GIL for ~0.5 s and would land inside the add() timing
    jit.load_kernels()
    workdir = Path(tempfile.mkdtemp(prefix="vectordb-ann-"))
    report: dict[str, Any] = {"machine": machine(), "n": n, "dim": dim, "queries": n_queries}
    print(f"machine: {report['machine']}")
    source = args.vectors.name if args.vectors is not None else "clustered"
    report["data"] = source
    print(f"data: {n} x {dim} {source}, {n_queries} held-out queries, cosine, k={K}")
    try:
        if args.only != "hnsw":
            compressed = bench_compressed(workdir, data, queries, truth, max(3, repeats - 2))
            report["compressed"] = compressed
            print_table("IVF and quantized indexes vs flat float32 and numpy", compressed)
        if args.only == "compressed":
            out = args.out.with_name("ann_compressed.json")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2))
            print(f"\nwrote {out}")
            return
        graph, raw_summary = build_raw_hnswlib(data)
        with vectordb.open(workdir / "hnsw", config={"durability": "normal"}) as db:
            collection, ours_summary = build_vectordb_hnsw(db, data, queries)
            points = compare_search(graph, collection, queries, truth, repeats)
        exact_rows = bench_exact(workdir, data, queries, truth, repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    raw_points = [p for p in points if p["system"] == "raw hnswlib"]
    ours_points = [p for p in points if p["system"] == "vectordb hnsw"]
    ratios = []
    for ours, raw in zip(ours_points, raw_points):
        ratios.append(
            {
                "ef": ours["ef"],
                "recall ours": ours["recall@10"],
                "recall hnswlib": raw["recall@10"],
                "single QPS ours": ours["single_qps"],
                "single QPS hnswlib": raw["single_qps"],
                "single ratio": ours["single_qps"] / raw["single_qps"],
                "us/query added": 1e6 / ours["single_qps"] - 1e6 / raw["single_qps"],
                "batch ratio": ours["batch_qps"] / raw["batch_qps"],
            }
        )
    build = [
        {**raw_summary, "ratio_vs_hnswlib": 1.0},
        {**ours_summary, "ratio_vs_hnswlib": ours_summary["build_s"] / raw_summary["build_s"]},
    ]
    report.update(
        {
            "M": M,
            "ef_construction": EF_CONSTRUCTION,
            "build": build,
            "points": raw_points + ours_points,
            "ratios": ratios,
            "exact": exact_rows,
        }
    )
    if "compressed" in report:
        print_table("IVF and quantized indexes vs flat float32 and numpy", report["compressed"])
    print_table(f"build (M={M}, ef_construction={EF_CONSTRUCTION}) and memory", build)
    print_table("single-query and batch search, vectordb hnsw vs raw hnswlib", ratios)
    print_table("exact baselines (batch)", exact_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    png = args.out.with_suffix(".png")
    print(f"\nwrote {args.out}" + (f" and {png}" if plot(report["points"], png) else ""))


if __name__ == "__main__":
    main()
