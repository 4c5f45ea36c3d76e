"""Text search on one corpus: embedding throughput, add-with-embedding throughput, vector /
keyword / hybrid queries per second, and retrieval quality (recall@10, nDCG@10) per fusion.

The corpus is the labelled man-page set of ``tests/retrieval`` (the pages listed in
``man1_pages.txt``: each page's NAME line is a query, its paragraphs the relevant passages),
embedded with ``LocalEmbeddings`` (all-MiniLM-L6-v2 in numpy, no torch). The fusion's
default is chosen on the development split; the held-out split shows whether hybrid beats
both of its inputs (``tests/retrieval/test_labelled_retrieval.py`` asserts it).

    python benchmarks/text.py               # ~1 min on 2 cores
    python benchmarks/text.py --repeats 1   # a smoke test

Writes ``benchmarks/results/text.json`` and prints the tables of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from support import machine, print_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import vectordb  # noqa: E402
from tests.retrieval.man_corpus import load_corpus, mean_metrics, split  # noqa: E402
from vectordb.config import Metric  # noqa: E402
from vectordb.embeddings import LocalEmbeddings  # noqa: E402
from vectordb.search.fusion import DEFAULT_VECTOR_WEIGHT, HYBRID_DEPTH, fuse  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "text.json"
TORCH_BASELINE = 57.0  # man-page paragraphs/s, sentence-transformers on torch, 2 cores, batch 64
FUSIONS = [("convex", w / 10) for w in range(1, 10)] + [("rrf", 0.5)]


def _qps(run: Any, queries: list[Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for query in queries:
            run(query)
        times.append(time.perf_counter() - started)
    return len(queries) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    corpus = load_corpus()
    texts = [p.text for p in corpus.passages]
    queries = [q.text for q in corpus.queries]
    embedder = LocalEmbeddings()
    embedder.embed(texts[:64])  # load the model and the kernels
    started = time.perf_counter()
    embedder.embed(texts)
    embed_rate = len(texts) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as directory, vectordb.open(directory) as db:
        docs = db.create_collection("man", embedding=LocalEmbeddings())
        ids = [p.id for p in corpus.passages]
        metadata = [{"page": p.page} for p in corpus.passages]
        started = time.perf_counter()
        docs.add(documents=texts, ids=ids, metadata=metadata)
        add_rate = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        docs.upsert(documents=texts, ids=ids, metadata=metadata)  # every vector from the cache
        cached_add_rate = len(texts) / (time.perf_counter() - started)
        vectors = LocalEmbeddings().embed(queries)
        docs.search(queries[0], query_type="keyword")  # builds the keyword index
        docs.search_batch(queries, k=1, query_type="vector")  # query vectors into the cache
        qps = {
            "vector (a vector)": _qps(lambda v: docs.search(v, k=10), list(vectors), args.repeats),
            "vector (a text, cached embedding)": _qps(
                lambda q: docs.search(q, k=10, query_type="vector"), queries, args.repeats),
            "keyword": _qps(
                lambda q: docs.search(q, k=10, query_type="keyword"), queries, args.repeats),
            "hybrid (cached embedding)": _qps(
                lambda q: docs.search(q, k=10, query_type="hybrid"), queries, args.repeats),
        }  # fmt: skip
        found = {
            q.page: (list(docs.search(q.text, k=HYBRID_DEPTH, query_type="vector", include=())),
                     list(docs.search(q.text, k=HYBRID_DEPTH, query_type="keyword", include=())))
            for q in corpus.queries
        }  # fmt: skip

    dev, held_out = split(corpus)
    quality = []
    for name, pages in (("dev", dev), ("held-out", held_out)):
        pages = [p for p in pages if p in found]
        rows = {
            "vector": mean_metrics({p: [h.id for h in found[p][0]] for p in pages}, corpus, pages),
            "keyword": mean_metrics({p: [h.id for h in found[p][1]] for p in pages}, corpus, pages),
        }
        for fusion, weight in FUSIONS:
            label = f"hybrid {fusion}" + (f" w={weight:.1f}" if fusion == "convex" else " (k=60)")
            fused = {p: [f.hit.id for f in fuse(*found[p], 10, metric=Metric.COSINE,
                                               fusion=fusion, vector_weight=weight)]
                     for p in pages}  # fmt: skip
            rows[label] = mean_metrics(fused, corpus, pages)
        for label, values in rows.items():
            quality.append({"split": name, "queries": len(pages), "retrieval": label,
                            "recall@10": values["recall"], "nDCG@10": values["ndcg"]})  # fmt: skip

    speed = [
        {"what": "LocalEmbeddings.embed (texts/s)", "value": embed_rate},
        {"what": "sentence-transformers on torch (texts/s, quoted)", "value": TORCH_BASELINE},
        {"what": "add(documents=) with embedding (texts/s)", "value": add_rate},
        {"what": "upsert of the same texts, cache hits (texts/s)", "value": cached_add_rate},
        *({"what": f"{name} (queries/s)", "value": value} for name, value in qps.items()),
    ]
    print(f"corpus: {len(texts)} passages, {len(queries)} queries "
          f"(dev {len(dev)}, held-out {len(held_out)}); default vector_weight "
          f"{DEFAULT_VECTOR_WEIGHT}")  # fmt: skip
    print_table("Throughput", speed)
    print_table("Retrieval quality", quality)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(
        {"machine": machine(), "passages": len(texts), "queries": len(queries),
         "speed": speed, "quality": quality}, indent=2) + "\n")  # fmt: skip
    print(f"\nwritten {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
