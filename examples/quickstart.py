"""Quick start: create a collection, add vectors with metadata, search, reopen, search again.

Run:  python examples/quickstart.py [DIRECTORY]   (default: a fresh temporary directory)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import vectordb


def main(path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((1000, 64)).astype(np.float32)
    metadata = [{"lang": "en" if i % 3 else "de", "year": 2000 + i % 25} for i in range(1000)]

    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=64, metric="cosine", exist_ok=True)
        ids = docs.add(vectors, ids=[f"doc-{i}" for i in range(1000)], metadata=metadata)
        docs.update(["doc-0"], metadata=[{"lang": "en", "year": 2024, "pinned": True}])
        docs.delete(["doc-999"])
        hits = docs.search(vectors[42], k=3)
        print(f"stored {len(docs)} records in {path}")
        for hit in hits:
            print(f"  {hit.id:>8}  score={hit.score:.4f}  {hit.metadata}")
        assert hits[0].id == ids[42]

    # everything acknowledged is on disk: reopen and search again
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        again = docs.search(vectors[42], k=3)
        assert [h.id for h in again] == [h.id for h in hits]
        print(f"reopened: {len(docs)} records, same top-3: {[h.id for h in again]}")
        print(f"get('doc-0') -> {docs.get('doc-0').metadata}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as directory:
            main(Path(directory) / "quickstart.vdb")
