from __future__ import annotations

from pathlib import Path

import numpy as np

import vectordb


def test_add_search_reopen(db_path: Path, rng: np.random.Generator) -> None:
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    with vectordb.open(db_path) as db:
        docs = db.create_collection("docs", dim=8)
        ids = docs.add(vectors, metadata=[{"i": i} for i in range(50)])
        assert docs.search(vectors[7], k=1)[0].id == ids[7]
    with vectordb.open(db_path) as db:
        docs = db.get_collection("docs")
        assert len(docs) == 50
        record = docs.get(ids[7])
        assert record is not None
        assert record.metadata == {"i": 7}
        np.testing.assert_array_equal(record.vector, vectors[7])
