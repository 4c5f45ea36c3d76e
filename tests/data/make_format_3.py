"""Writes tests/data/format-3/: a database in on-disk format 3, for the migration tests.

Run with the vectordb of the last commit before format 4 (see README.md here):
``python tests/data/make_format_3.py <output directory>``. It exits without closing the
database (as a killed process would), so records after the last checkpoint stay in the log
and the tests replay format-3 log records too. The same records as ``make_format_1.py``, plus a
collection ``texts`` whose records hold documents (format 3's addition), some in the
checkpoint and some only in the log.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import vectordb


def records(seed: int, n: int, dim: int) -> tuple[np.ndarray, list[str], list[dict[str, object]]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"s{seed}-{i}" for i in range(n)]
    metadata: list[dict[str, object]] = [
        {"i": i, "lang": ["en", "de", "fr"][i % 3], "tags": {"even": i % 2 == 0}} for i in range(n)
    ]
    return vectors, ids, metadata


def main(path: str) -> None:
    db = vectordb.open(path, config={"checkpoint_records": 1_000_000})
    flat = db.create_collection("flat", dim=8, metric="cosine")
    graph = db.create_collection("graph", dim=8, metric="euclidean", index="hnsw")
    quantized = db.create_collection(
        "quantized", dim=8, metric="dot", index="ivf", quantization="int8",
        ivf={"nlist": 2, "train_after": 16},
    )  # fmt: skip
    for seed, collection in enumerate((flat, graph, quantized)):
        vectors, ids, metadata = records(seed, 24, 8)
        collection.add(vectors, ids=ids, metadata=metadata, idempotency_key=f"load-{seed}")
    texts = db.create_collection("texts", dim=4)
    texts.add(np.eye(4, dtype=np.float32), ids=["t0", "t1", "t2", "t3"],
              documents=["mkfs.ext4 makes a file system", "resize a partition", None,
                         "tar --dry-run"],
              metadata=[{"n": 0}, None, {"n": 2}, None])  # fmt: skip
    flat.create_index("lang")
    flat.delete(["s0-1", "s0-2"])
    graph.update(["s1-3"], metadata=[{"note": "updated"}])
    db.checkpoint()  # the state above is in the checkpoint files
    # ... and this only in the log
    vectors, ids, metadata = records(10, 6, 8)
    flat.add(vectors, ids=ids, metadata=metadata)
    flat.delete(["s0-5"])
    graph.upsert(records(11, 2, 8)[0], ids=["s1-0", "new-1"])
    with db.transaction():
        quantized.delete(["s2-0"])
        flat.update(["s0-0"], metadata=[{"i": 0, "lang": "xx"}])
    texts.update(["t1"], documents=["resize an ext4 partition with resize2fs"])
    texts.update(["t3"], documents=[""])  # removes t3's document
    texts.add([[1, 1, 0, 0]], ids=["t4"], documents=["only in the log"])
    db.create_collection("empty", dim=3)
    os._exit(0)  # no close: no checkpoint


if __name__ == "__main__":
    main(sys.argv[1])
