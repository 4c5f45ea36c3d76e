"""An HNSW collection under a writer thread, a searching thread and the background indexer."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

import vectordb


def test_searches_during_writes_see_every_acknowledged_write_and_no_delete(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    dim = 16
    with vectordb.open(tmp_path / "db", config={"durability": "normal"}) as db:
        collection = db.create_collection("c", dim=dim, metric="euclidean", index="hnsw")
        collection.add(rng.standard_normal((3000, dim)), ids=[f"base{i}" for i in range(3000)])
        acknowledged: list[tuple[str, np.ndarray]] = []  # (id, vector), in the order added
        deleted: set[str] = set()  # deletes that have returned
        lock = threading.Lock()
        stop = threading.Event()
        failures: list[str] = []

        def write() -> None:
            try:
                for round_ in range(60):
                    # far from everything else, so each is its own nearest neighbour
                    vectors = (rng.standard_normal((20, dim)) + 50 + round_ * 10).astype(np.float32)
                    ids = [f"r{round_}-{i}" for i in range(20)]
                    collection.add(vectors, ids=ids)
                    with lock:
                        acknowledged.extend(zip(ids, vectors))
                    if round_ % 3 == 2:
                        victims = [f"r{round_ - 2}-{i}" for i in range(0, 20, 2)]
                        collection.delete(victims)
                        with lock:
                            deleted.update(victims)
            except Exception as error:  # pragma: no cover - reported below
                failures.append(f"writer: {error!r}")
            finally:
                stop.set()

        def search() -> None:
            while not stop.is_set():
                with lock:
                    if not acknowledged:
                        continue
                    vector_id, vector = acknowledged[-1]
                    gone = set(deleted)
                hits = collection.search(vector, k=10, include=())
                returned = {hit.id for hit in hits}
                if vector_id not in gone and hits[0].id != vector_id:
                    failures.append(f"{vector_id} not found first: {hits[:3]}")
                if returned & gone:
                    failures.append(f"deleted ids returned: {sorted(returned & gone)[:3]}")

        threads = [threading.Thread(target=write), threading.Thread(target=search)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not failures, failures[:5]
        assert collection.wait_indexed(timeout=120)
        expected = 3000 + 60 * 20 - 20 * 10
        assert len(collection) == expected
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == expected and info["pending"] == 0
        for vector_id, vector in acknowledged[-40:]:
            hit = collection.search(vector, k=1, include=())[0]
            assert (hit.id == vector_id) != (vector_id in deleted)
