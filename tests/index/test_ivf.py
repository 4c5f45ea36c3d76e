"""IVF collections: exactness at nprobe = nlist, recall, freshness, deletes, persistence,
fallback, retraining, and the knobs' checks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from internals import index_of

import vectordb
from tests.index.data import clustered, recall_at_10

METRICS = ["cosine", "euclidean", "dot"]


def _ids(n: int, prefix: str = "v") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@pytest.mark.parametrize("metric", METRICS)
def test_nprobe_equal_to_nlist_returns_exactly_the_brute_force_top_k(
    tmp_path: Path, rng: np.random.Generator, metric: str
) -> None:
    data = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((40, 16)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection(
            "c", dim=16, metric=metric, index="ivf", ivf={"nlist": 20}
        )
        collection.add(data, ids=_ids(3000))
        assert collection.wait_indexed(timeout=120)
        info = collection.stats().index_info
        assert info is not None and info["nlist"] == 20 and info["pending"] == 0
        truth = collection.search_batch(queries, k=10, exact=True)
        for mode in ("auto", "numpy", "numba"):
            got = collection.search_batch(queries, k=10, nprobe=20, mode=mode)
            assert got == truth, mode
        for query, expected in zip(queries[:10], truth[:10], strict=True):
            assert collection.search(query, k=10, nprobe=20) == expected
        # and fewer cells find fewer of them, but still k hits
        few = collection.search_batch(queries, k=10, nprobe=1)
        assert all(len(hits) == 10 for hits in few)


@pytest.mark.parametrize("metric", METRICS)
def test_recall_with_default_parameters_on_20k_clustered(
    tmp_path: Path, rng: np.random.Generator, metric: str
) -> None:
    points = clustered(rng, 20_100, 32)
    data, queries = points[:20_000], points[20_000:]
    with vectordb.open(tmp_path / "db", config={"durability": "normal"}) as db:
        collection = db.create_collection("c", dim=32, metric=metric, index="ivf")
        collection.add(data, ids=_ids(20_000))
        assert collection.wait_indexed(timeout=300)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 20_000 and info["nlist"] > 100
        assert recall_at_10(collection, queries) >= 0.95


def test_write_is_searchable_before_the_indexer_reaches_it(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.standard_normal((2000, 8)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection(
            "c", dim=8, metric="euclidean", index="ivf", ivf={"nlist": 8}
        )
        collection.add(data, ids=_ids(2000))
        assert collection.wait_indexed(timeout=60)
        index = index_of(collection)
        assert index is not None
        index.stop()  # freeze the indexer
        fresh = (rng.standard_normal((50, 8)) + 30).astype(np.float32)
        collection.add(fresh, ids=_ids(50, "new"))
        info = collection.stats().index_info
        assert info is not None and info["pending"] == 50
        for i in (0, 25, 49):
            assert collection.search(fresh[i], k=1)[0].id == f"new{i}"
        collection.delete(["new3"])
        assert "new3" not in {h.id for h in collection.search(fresh[3], k=5)}
        index.start()
        assert collection.wait_indexed(timeout=60)
        assert collection.search(fresh[25], k=1)[0].id == "new25"


def test_few_rows_are_answered_exactly_until_the_index_can_train(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.standard_normal((300, 8)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=8, index="ivf")  # trains after 1024 rows
        collection.add(data, ids=_ids(300))
        assert collection.wait_indexed(timeout=10)  # nothing it can do: not an endless wait
        info = collection.stats().index_info
        assert info is not None and info["pending"] == 300 and info["indexed"] == 0
        assert collection.search_batch(data[:5], k=7) == collection.search_batch(
            data[:5], k=7, exact=True
        )
        collection.add(rng.standard_normal((1000, 8)).astype(np.float32), ids=_ids(1000, "x"))
        assert collection.wait_indexed(timeout=60)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 1300 and info["nlist"] >= 1


def test_deleted_ids_are_never_returned(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.standard_normal((3000, 8)).astype(np.float32)
    ids = _ids(3000)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection(
            "c", dim=8, metric="euclidean", index="ivf", ivf={"nlist": 16}
        )
        collection.add(data, ids=ids)
        assert collection.wait_indexed(timeout=60)
        gone = set(ids[::3])
        collection.delete(sorted(gone))
        for phase in ("before the indexer removed them", "after"):
            for i in range(0, 3000, 50):
                hits = collection.search(data[i], k=10, include=())
                assert len(hits) == 10, phase
                assert not ({h.id for h in hits} & gone), phase
            collection.wait_indexed(timeout=60)
        survivors = set(ids) - gone
        everything = collection.search(data[0], k=5000, include=(), nprobe=16)
        assert {h.id for h in everything} == survivors


def test_index_survives_close_and_reopen(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "db"
    data = rng.standard_normal((2500, 12)).astype(np.float32)
    queries = rng.standard_normal((20, 12)).astype(np.float32)
    with vectordb.open(path) as db:
        collection = db.create_collection("c", dim=12, index="ivf", ivf={"nlist": 10})
        collection.add(data, ids=_ids(2500))
        assert collection.wait_indexed(timeout=60)
        collection.delete(["v7"])
        before = collection.search_batch(queries, k=5)
    assert list((path / "collections" / "c" / "index").glob("ivf-*.bin"))
    with vectordb.open(path) as db:
        collection = db.get_collection("c")
        info = collection.stats().index_info
        assert info is not None and info["fallback"] is None and info["pending"] == 0
        assert info["indexed"] == 2499
        assert collection.search_batch(queries, k=5) == before
        assert collection.search(data[7], k=1)[0].id != "v7"


def test_damaged_index_file_falls_back_to_exact_and_rebuilds(
    tmp_path: Path, rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db"
    data = rng.standard_normal((1500, 8)).astype(np.float32)
    with vectordb.open(path) as db:
        collection = db.create_collection("c", dim=8, index="ivf", ivf={"nlist": 8})
        collection.add(data, ids=_ids(1500))
        assert collection.wait_indexed(timeout=60)
    (saved,) = (path / "collections" / "c" / "index").glob("ivf-*.bin")
    raw = bytearray(saved.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    saved.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="vectordb"), vectordb.open(path) as db:
        collection = db.get_collection("c")
        assert any("checksum" in record.getMessage() for record in caplog.records)
        info = collection.stats().index_info
        assert info is not None and info["fallback"] is not None
        for i in (0, 700, 1499):
            assert collection.search(data[i], k=1)[0].id == f"v{i}"
        assert collection.wait_indexed(timeout=60)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 1500


def test_index_retrains_when_the_data_outgrows_its_training(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    with vectordb.open(tmp_path / "db", config={"durability": "normal"}) as db:
        collection = db.create_collection(
            "c", dim=8, index="ivf", ivf={"train_after": 200, "retrain_growth": 4}
        )
        collection.add(rng.standard_normal((250, 8)).astype(np.float32), ids=_ids(250))
        assert collection.wait_indexed(timeout=60)
        first = collection.stats().index_info
        assert first is not None and first["trained_on"] == 250
        more = rng.standard_normal((1500, 8)).astype(np.float32)
        collection.add(more, ids=_ids(1500, "m"))
        assert collection.wait_indexed(timeout=60)
        # the indexer rebuilds once it is idle and sees the growth
        index = index_of(collection)
        assert index is not None
        deadline = 60.0
        import time

        start = time.monotonic()
        while index.stats()["trained_on"] < 1750 and time.monotonic() - start < deadline:
            time.sleep(0.05)
        assert collection.wait_indexed(timeout=60)
        info = collection.stats().index_info
        assert info is not None and info["trained_on"] == 1750
        assert info["nlist"] > first["nlist"] and info["trainings"] >= 2
        assert info["indexed"] == 1750
        for i in (0, 700, 1499):
            assert collection.search(more[i], k=1, nprobe=info["nlist"])[0].id == f"m{i}"


def test_rebuild_index_keeps_answering_during_concurrent_writes(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.standard_normal((4000, 8)).astype(np.float32)
    ids = _ids(4000)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection(
            "c", dim=8, metric="euclidean", index="ivf", ivf={"nlist": 16, "nprobe": 16}
        )
        collection.add(data, ids=ids)
        assert collection.wait_indexed(timeout=60)
        collection.delete(ids[:3000])
        failures: list[str] = []
        extra = (rng.standard_normal((200, 8)) + 20).astype(np.float32)

        def write_during_rebuild() -> None:
            for i in range(0, 200, 20):
                collection.add(extra[i : i + 20], ids=[f"x{j}" for j in range(i, i + 20)])
                hit = collection.search(extra[i], k=1, include=())[0]
                if hit.id != f"x{i}":
                    failures.append(f"x{i} not found during rebuild: {hit}")

        writer = threading.Thread(target=write_during_rebuild)
        writer.start()
        collection.rebuild_index()
        writer.join()
        assert not failures, failures
        assert collection.wait_indexed(timeout=60)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 1200 and info["pending"] == 0
        for i in (3000, 3500, 3999):
            assert collection.search(data[i], k=1)[0].id == ids[i]


def test_search_knobs_are_checked(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        ivf = db.create_collection("ivf", dim=4, index="ivf")
        flat = db.create_collection("flat", dim=4)
        hnsw = db.create_collection("hnsw", dim=4, index="hnsw")
        for collection in (ivf, flat, hnsw):
            collection.add([[1, 2, 3, 4]], ids=["x"])
        with pytest.raises(vectordb.InvalidArgumentError, match="nprobe must be"):
            ivf.search([1, 2, 3, 4], nprobe=0)
        with pytest.raises(vectordb.InvalidArgumentError, match="nprobe applies to IVF"):
            flat.search([1, 2, 3, 4], nprobe=4)
        with pytest.raises(vectordb.InvalidArgumentError, match="nprobe applies to IVF"):
            hnsw.search_batch([[1, 2, 3, 4]], nprobe=4)
        with pytest.raises(vectordb.InvalidArgumentError, match="ef applies to HNSW"):
            ivf.search([1, 2, 3, 4], ef=10)
        with pytest.raises(vectordb.InvalidConfigError, match="unknown ivf config"):
            db.create_collection("bad", dim=4, index="ivf", ivf={"n_list": 4})
        with pytest.raises(vectordb.InvalidConfigError, match="retrain_growth"):
            db.create_collection("bad", dim=4, index="ivf", ivf={"retrain_growth": 1.0})
        assert ivf.search([1, 2, 3, 4], nprobe=100)[0].id == "x"
        config = {c.name: c.config for c in db.list_collections()}
        assert config["ivf"]["ivf"]["nlist"] is None and "ivf" not in config["flat"]


@pytest.mark.parametrize("threads", ["single", 1, 2, "auto"])
def test_thread_settings_give_the_same_answers(
    tmp_path: Path, rng: np.random.Generator, threads: object
) -> None:
    data = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((80, 16)).astype(np.float32)  # big enough for the pools
    with vectordb.open(tmp_path / "db", config={"threads": threads}) as db:
        answers = {}
        for name, settings in {
            "flat": {},
            "ivf": {"index": "ivf", "ivf": {"nlist": 8, "nprobe": 8}},
            "int8": {"quantization": "int8", "index": "ivf", "ivf": {"nlist": 8, "nprobe": 8}},
            "hnsw": {"index": "hnsw"},
        }.items():
            collection = db.create_collection(name, dim=16, metric="euclidean", **settings)
            collection.add(data, ids=_ids(3000))
            assert collection.wait_indexed(timeout=60)
            answers[name] = [[h.id for h in hits] for hits in collection.search_batch(queries, k=5)]
        exact = [
            [h.id for h in hits]
            for hits in db.get_collection("flat").search_batch(queries, k=5, exact=True)
        ]
        assert answers["flat"] == answers["ivf"] == exact
        assert sum(len(set(a) & set(b)) for a, b in zip(answers["int8"], exact)) >= 0.98 * 400
        assert sum(len(set(a) & set(b)) for a, b in zip(answers["hnsw"], exact)) >= 0.95 * 400


def test_thread_setting_is_checked(tmp_path: Path) -> None:
    for bad in ("many", 0, -2, 1.5, True):
        with pytest.raises(vectordb.InvalidConfigError, match="threads must be"):
            vectordb.open(tmp_path / "db", config={"threads": bad})
    assert vectordb.DatabaseConfig(threads="single").thread_count == 1
    assert vectordb.DatabaseConfig(threads=3).thread_count == 3
    assert 1 <= vectordb.DatabaseConfig().thread_count <= 8
