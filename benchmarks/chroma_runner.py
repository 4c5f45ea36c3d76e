"""Chroma's side of ``filtered.py``, run by the Python that has chromadb installed (it may
be another virtual environment: ``filtered.py --chroma-python PATH``).

Reads ``data.npy``, ``queries.npy``, ``metadata.json`` and ``filters.json`` from the folder
given, loads the vectors into a ``chromadb.PersistentClient`` collection (cosine) there, and
writes ``chroma.json``: per filter, single-query QPS and the ids found for each query (k=10,
``where=``), plus the load time. Not imported by anything; it only needs chromadb + numpy.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    import chromadb
    import numpy as np

    folder = Path(sys.argv[1])
    data = np.load(folder / "data.npy")
    queries = np.load(folder / "queries.npy")
    metadata = json.loads((folder / "metadata.json").read_text())
    filters = json.loads((folder / "filters.json").read_text())
    client = chromadb.PersistentClient(path=str(folder / "chroma"))
    collection = client.create_collection("bench", configuration={"hnsw": {"space": "cosine"}})
    batch = client.get_max_batch_size()
    started = time.perf_counter()
    for first in range(0, len(data), batch):
        stop = min(first + batch, len(data))
        collection.add(ids=[str(i) for i in range(first, stop)], embeddings=data[first:stop],
                       metadatas=metadata[first:stop])  # fmt: skip
    load_s = time.perf_counter() - started
    out: dict[str, object] = {"chromadb": chromadb.__version__, "load_s": load_s, "filters": {}}
    results: dict[str, object] = {}
    for label, where in filters:
        collection.query(query_embeddings=queries[:5], n_results=10, where=where, include=[])
        found = []
        started = time.perf_counter()
        for query in queries:
            hits = collection.query(query_embeddings=query[None, :], n_results=10, where=where,
                                    include=[])  # fmt: skip
            found.append(hits["ids"][0])
        results[label] = {"qps": len(queries) / (time.perf_counter() - started), "ids": found}
        print(label, f"{results[label]['qps']:.0f} QPS", flush=True)  # type: ignore[index]
    out["filters"] = results
    (folder / "chroma.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
