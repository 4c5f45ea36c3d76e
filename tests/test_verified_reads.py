"""Every read that returns or ranks stored vectors verifies their checksums.

``get()`` always raised ``CorruptionError`` for a row whose bytes changed on disk, but
``search(..., include=("vector",))`` ranked by the damaged bytes and returned them. Each path
is checked with the compiled kernel and with the xxhash fallback used before it is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb.storage import collection_store
from vectordb.storage.vector_file import HEADER_BYTES

DIM = 16


@pytest.fixture(params=["compiled", "xxhash"])
def hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "compiled":
        collection_store.load_checksum_kernels()
    else:
        monkeypatch.setattr(collection_store, "_checksum_kernels", None)
    return str(request.param)


def _damage(path: Path, row: int) -> None:
    """Flip one bit of ``row`` in the vector file, as a bad disk block would."""
    with open(path / "collections" / "docs" / "vectors.bin", "r+b") as handle:
        handle.seek(HEADER_BYTES + row * DIM * 4 + 5)
        byte = handle.read(1)[0]
        handle.seek(-1, 1)
        handle.write(bytes([byte ^ 0x10]))


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf"])
def test_no_read_returns_or_ranks_a_damaged_vector(
    tmp_path: Path, hashing: str, index: str
) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((200, DIM)).astype(np.float32)
    path = tmp_path / "db"
    options = {"ivf": {"nlist": 4, "train_after": 50}} if index == "ivf" else {}
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=DIM, metric="euclidean", index=index, **options)
        docs.add(vectors, ids=[f"r{i}" for i in range(200)],
                 metadata=[{"i": i} for i in range(200)])  # fmt: skip
        docs.wait_indexed(timeout=60)
        db.checkpoint()  # rows get their checksums
        assert docs.search(vectors[7], k=3)[0].id == "r7"
        _damage(path, 7)
        match = "'r7' \\(row 7\\) fails its checksum"
        for include in (("vector",), ("metadata",), ()):
            with pytest.raises(vectordb.CorruptionError, match=match):
                docs.search(vectors[7], k=3, include=include)
            with pytest.raises(vectordb.CorruptionError, match=match):
                docs.search_batch(vectors[5:9], k=3, include=include)
        with pytest.raises(vectordb.CorruptionError, match=match):
            docs.search(vectors[7], k=3, exact=True)
        with pytest.raises(vectordb.CorruptionError, match=match):
            docs.search(vectors[7], k=3, where={"i": {"$lt": 50}})
        with pytest.raises(vectordb.CorruptionError, match=match):
            docs.get_many(["r1", "r7"])
        with pytest.raises(vectordb.CorruptionError, match=match):
            docs.find({"i": 7})
        with pytest.raises(vectordb.CorruptionError, match=match):
            list(docs.scroll(batch_size=50))
        with pytest.raises(vectordb.CorruptionError, match=match):
            docs.export(tmp_path / "out.jsonl")
        assert not (tmp_path / "out.jsonl").exists()
        # reads that never reach the damaged row go on
        far = docs.search(vectors[100], k=1, include=("vector",))[0]
        assert far.id == "r100" and np.array_equal(far.vector, vectors[100])
        assert docs.get("r8") is not None
        problems = db.check()
        assert [p for p in problems if "row 7" in p.message]
